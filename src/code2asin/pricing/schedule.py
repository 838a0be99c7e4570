"""Tracker schedules: 5-field cron expressions in UTC, checked and stepped (pure)."""

from __future__ import annotations

from datetime import datetime

from cronsim import CronSim, CronSimError

from code2asin.errors import InvalidValueError


def validate_schedule(expression: str) -> None:
    """Raise ``InvalidValueError`` unless ``expression`` is a 5-field cron expression."""
    try:
        CronSim(expression, datetime(2026, 1, 1))
    except (CronSimError, ValueError) as exc:
        raise InvalidValueError(f"Schedule {expression!r} is not a valid cron expression: {exc}") from exc


def next_slot(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` matching the cron ``expression`` (UTC)."""
    return next(CronSim(expression, after))
