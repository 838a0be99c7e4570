"""The scheduler: cron slots, one catch-up run after an outage, paused trackers, bad expressions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.pricing.conftest import MONDAY, direct_job, priced_products

from code2asin.db import Database
from code2asin.errors import InvalidValueError
from code2asin.jobs.models import Job
from code2asin.pricing import alerts, service
from code2asin.pricing.models import Tracker
from code2asin.pricing.schedule import next_slot
from code2asin.pricing.scheduler import run_due_trackers


def _tracker(db: Database, tmp_path: Path, **spec: Any) -> str:
    rows = [(e, a, "5") for e, a, _ in priced_products(3)]
    source = direct_job(db, tmp_path, rows)
    with db.unit_of_work() as session:
        tracker, _ = service.create_tracker(
            session,
            service.TrackerSpec(source_job_id=source, **spec),
            "tester",
            now=MONDAY,
        )
        return tracker.id


def _runs(db: Database) -> int:
    with db.unit_of_work() as session:
        return session.scalar(select(func.count(Job.id)).where(Job.mode == "reprice")) or 0


def test_a_scheduler_outage_over_three_slots_runs_exactly_one_catch_up(
    any_db: Database, tmp_path: Path
) -> None:
    tracker_id = _tracker(any_db, tmp_path)
    back = datetime(2026, 2, 4, 15, 0, tzinfo=UTC)  # slots of Jan 12, 19, 26 and Feb 2 were missed
    sent: list[str] = []
    assert len(run_due_trackers(any_db, sent.append, back)) == 1
    assert run_due_trackers(any_db, sent.append, back + timedelta(minutes=5)) == []
    assert _runs(any_db) == 1 and len(sent) == 1
    with any_db.unit_of_work() as session:
        tracker = session.get(Tracker, tracker_id)
        assert tracker is not None and tracker.next_run_at is not None
        assert tracker.next_run_at.replace(tzinfo=UTC) == datetime(2026, 2, 9, 6, 0, tzinfo=UTC)


def test_a_paused_tracker_does_not_run_and_resumes_at_the_next_slot_from_now(
    sqlite_db: Database, tmp_path: Path
) -> None:
    tracker_id = _tracker(sqlite_db, tmp_path, schedule="0 */6 * * *")
    with sqlite_db.unit_of_work() as session:
        service.pause_tracker(session, service.get_tracker(session, tracker_id))
    later = MONDAY + timedelta(days=3)
    assert run_due_trackers(sqlite_db, None, later) == []
    with sqlite_db.unit_of_work() as session:
        tracker = service.resume_tracker(session, service.get_tracker(session, tracker_id), now=later)
        assert tracker.next_run_at == next_slot("0 */6 * * *", later)


def test_a_run_is_skipped_while_the_previous_run_is_still_going(sqlite_db: Database, tmp_path: Path) -> None:
    _tracker(sqlite_db, tmp_path, schedule="0 * * * *")
    assert len(run_due_trackers(sqlite_db, None, MONDAY + timedelta(hours=1))) == 1  # not run by anyone
    assert run_due_trackers(sqlite_db, None, MONDAY + timedelta(hours=2)) == []
    assert _runs(sqlite_db) == 1


def test_an_invalid_cron_expression_or_threshold_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="cron"):
        _tracker(sqlite_db, tmp_path, schedule="every monday")
    with sqlite_db.unit_of_work() as session, pytest.raises(InvalidValueError, match="threshold"):
        service.create_tracker(session, service.TrackerSpec(supplier_code="S", threshold_percent=-1), None)  # type: ignore[arg-type]


def test_alert_rules_never_compare_prices_in_different_currencies() -> None:
    from decimal import Decimal as D

    before = alerts.Seen(D("10"), "EUR", True, D("12"), "EUR")
    assert [
        a.kind for a in alerts.detect(before, alerts.Seen(D("20"), "GBP", True, D("12"), "EUR"), D("10"))
    ] == []
    kinds = [
        a.kind for a in alerts.detect(before, alerts.Seen(D("13"), "EUR", True, D("12"), "EUR"), D("10"))
    ]
    assert kinds == ["price_move", "crossed_supplier_price"]
    assert alerts.detect(None, before, D("10")) == []
