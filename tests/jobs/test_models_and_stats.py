from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from code2asin.db import Database
from code2asin.jobs import queries, service
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import Job, JobEvent, JobItem
from code2asin.jobs.stats import job_statistics


def _job(db: Database) -> str:
    with db.unit_of_work() as session:
        job = Job(supplier_code="SUP001", source_filename="f.csv")
        session.add(job)
        session.flush()
        return job.id


def test_migrations_build_every_table(any_db: Database) -> None:
    tables = set(inspect(any_db.engine).get_table_names())
    assert {
        "jobs",
        "job_items",
        "conversion_logs",
        "job_events",
        "job_chunks",
        "lookup_cache",
        "match_decisions",
        "alembic_version",
    } <= tables


def test_an_item_is_unique_per_job_and_row(any_db: Database) -> None:
    job_id = _job(any_db)
    with any_db.unit_of_work() as session:
        session.add(JobItem(job_id=job_id, row_no=1, marketplace="FR", input_code="1"))
    with pytest.raises(IntegrityError), any_db.unit_of_work() as session:
        session.add(JobItem(job_id=job_id, row_no=1, marketplace="FR", input_code="1"))


def test_statistics_tiles_add_up_from_the_items(any_db: Database) -> None:
    job_id = _job(any_db)
    rows = [
        dict(
            status="matched",
            asin="B000000001",
            match_type="exact",
            match_confidence=0.98,
            amazon_price=Decimal("5.99"),
            stored_images=["products/ab/x/1.jpg"],
        ),
        dict(status="matched", asin="B000000002", match_type="partial", match_confidence=0.8),
        dict(status="matched", asin="B000000003", match_type="fuzzy", match_confidence=0.6),
        dict(status="not_found"),
        dict(status="invalid", error_type="invalid_data"),
        dict(status="failed", error_type="network"),
        dict(status="pending"),
    ]
    with any_db.unit_of_work() as session:
        for n, values in enumerate(rows, start=1):
            session.add(JobItem(job_id=job_id, row_no=n, marketplace="FR", input_code=str(n), **values))
    with any_db.unit_of_work() as session:
        stats = job_statistics(session, job_id)
    assert stats.total == 7
    assert stats.matched + stats.not_found + stats.invalid + stats.failed + stats.pending == stats.total
    assert (stats.with_asin, stats.with_price, stats.with_images) == (3, 1, 1)
    assert (stats.exact_matches, stats.partial_matches, stats.fuzzy_matches) == (1, 1, 1)
    assert stats.avg_confidence == pytest.approx((0.98 + 0.8 + 0.6) / 3, abs=1e-4)
    assert {t.label: t.text for t in stats.tiles()}["Avg Confidence"] == "79.3%"


def test_transitions_are_recorded_as_timeline_events_with_actor(any_db: Database) -> None:
    job_id = _job(any_db)
    with any_db.unit_of_work() as session:
        job = service.get_job(session, job_id)
        for action in (JobAction.START, JobAction.PAUSE, JobAction.RESUME, JobAction.CANCEL, JobAction.RETRY):
            service.transition(session, job, action, actor="alice")
    with any_db.unit_of_work() as session:
        events = queries.job_timeline(session, job_id)
        assert [(e.event, e.from_status, e.to_status) for e in events] == [
            ("start", "pending", "processing"),
            ("pause", "processing", "paused"),
            ("resume", "paused", "processing"),
            ("cancel", "processing", "cancelled"),
            ("retry", "cancelled", "pending"),
        ]
        assert {e.actor for e in events} == {"alice"}
        assert session.scalar(select(func.count(JobEvent.id))) == 5
