"""The single price-tracking scheduler: start the runs of due trackers, once per due time.

``run_due_trackers(db, dispatch, now)`` is called by the sweeps (the embedded dispatcher's sweeper thread,
beat's sweeper thread, ``jobs.tasks.start_sweeper``). A tracker is due when ``next_run_at <= now``. Its run is
claimed with a conditional UPDATE on the ``next_run_at`` it was read with, so two sweepers never start
the same run, and the new ``next_run_at`` is the schedule's next slot **after now**: when the scheduler
was down for three slots, it runs once on its return, not three times.

A tracker whose previous run is still pending, processing or paused skips the slot (logged): running
two re-pricings of one catalogue at once would spend twice the quota for the same prices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update

from code2asin.db import Database, rowcount
from code2asin.errors import LifecycleError
from code2asin.pricing.models import Tracker, TrackerStatus
from code2asin.pricing.schedule import next_slot

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = "scheduler"


class _Dispatches(Protocol):
    def dispatch(self, job_id: str) -> None: ...


DispatchTarget = _Dispatches | Callable[[str], None] | None


def _aware(value: datetime, like: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=like.tzinfo)


def _send(target: DispatchTarget, job_id: str) -> None:
    if target is None:
        return  # the sweep that called us sends every processing job's due chunks itself
    if callable(target):
        target(job_id)
    else:
        target.dispatch(job_id)


def run_due_trackers(db: Database, dispatch: DispatchTarget, now: datetime) -> list[str]:
    """Start one run per due active tracker; returns the started job ids (dispatched after commit).

    ``dispatch`` is a dispatcher, a ``job_id -> None`` callable, or None when the caller's sweep sends
    the chunks of processing jobs anyway (Celery beat's ``sweep_jobs``).
    """
    from code2asin.pricing.service import start_run

    with db.unit_of_work() as session:
        due = session.execute(
            select(Tracker.id, Tracker.next_run_at).where(
                Tracker.status == TrackerStatus.ACTIVE,
                Tracker.next_run_at.is_not(None),
                Tracker.next_run_at <= now,
            )
        ).all()
    started: list[str] = []
    for tracker_id, slot in due:
        assert slot is not None  # selected on next_run_at IS NOT NULL
        job_id: str | None = None
        with db.unit_of_work() as session:
            tracker = session.get(Tracker, tracker_id)
            if tracker is None:
                continue
            claimed = session.execute(
                update(Tracker)
                .where(Tracker.id == tracker_id, Tracker.next_run_at == slot)
                .values(next_run_at=next_slot(tracker.schedule, now))
                .execution_options(synchronize_session=False)
            )
            if not rowcount(claimed):
                continue  # another sweeper took this slot
            try:
                result = start_run(session, tracker, SCHEDULER_ACTOR, now=now, slot=_aware(slot, now))
            except LifecycleError as exc:
                log.warning("pricing.run.skipped", extra={"tracker_id": tracker_id, "reason": str(exc)})
                continue
            job_id = result.job_id if result.dispatch else None
            started.append(result.job_id)
        if job_id is not None:
            _send(dispatch, job_id)
        log.info("pricing.run.started", extra={"tracker_id": tracker_id, "job_id": started[-1]})
    return started


def sweep_pricing(db: Database, dispatch: DispatchTarget, now: datetime) -> tuple[list[str], int]:
    """What a sweep does for price tracking: start due runs, then send due webhook deliveries.

    Returns the started job ids and the number of deliveries attempted.
    """
    from code2asin.pricing.webhooks import deliver_due

    started = run_due_trackers(db, dispatch, now)
    return started, deliver_due(db, now=now)
