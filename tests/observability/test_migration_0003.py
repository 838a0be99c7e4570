"""Migration 0003 goes up, down and up again on SQLite and PostgreSQL without losing rows."""

from __future__ import annotations

from sqlalchemy import func, inspect, select

from code2asin.db import Database
from code2asin.db import migrate as migrate_engine
from code2asin.jobs.models import Job, JobItem

NEW_INDEXES = {
    "job_items": {
        "ix_job_items_job_match_row",
        "ix_job_items_job_status_row",
        "ix_job_items_job_updated",
        "ix_job_items_errors_updated",
    },
    "jobs": {"ix_jobs_supplier_created"},
    "conversion_logs": {"ix_conversion_logs_job_level_id"},
}


def migrate(db: Database, direction: str, revision: str) -> None:
    migrate_engine(db.engine, direction, revision)


def schema(db: Database) -> tuple[dict[str, set[str]], set[str]]:
    inspector = inspect(db.engine)
    indexes = {t: {str(i["name"]) for i in inspector.get_indexes(t)} for t in NEW_INDEXES}
    return indexes, {c["name"] for c in inspector.get_columns("jobs")}


def test_migration_0003_upgrades_downgrades_and_upgrades_again_keeping_every_row(any_db: Database) -> None:
    with any_db.unit_of_work() as session:
        job = Job(supplier_code="S1", source_filename="in.csv")
        session.add(job)
        session.flush()
        session.add_all(
            JobItem(job_id=job.id, row_no=n, marketplace="FR", input_code=str(n)) for n in range(1, 4)
        )
    indexes, columns = schema(any_db)
    assert all(NEW_INDEXES[t] <= indexes[t] for t in NEW_INDEXES) and "stats_snapshot" in columns

    migrate(any_db, "downgrade", "0002")
    indexes, columns = schema(any_db)
    assert all(not NEW_INDEXES[t] & indexes[t] for t in NEW_INDEXES) and "stats_snapshot" not in columns
    with any_db.unit_of_work() as session:  # SQLite: no table rebuild, so no cascade deleted the items
        assert session.scalar(select(func.count(JobItem.id))) == 3

    migrate(any_db, "upgrade", "head")
    indexes, columns = schema(any_db)
    assert all(NEW_INDEXES[t] <= indexes[t] for t in NEW_INDEXES) and "stats_snapshot" in columns
