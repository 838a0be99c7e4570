"""Migration 0005 (marketplaces per job) keeps every row and every child row, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, inspect, select, text

from code2asin.db import Database, migrate
from code2asin.jobs.models import Job, JobChunk, JobItem
from code2asin.products.models import ImageTask


def _columns(db: Database, table: str) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns(table)}


def _seed_at_0004(db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO jobs (id, supplier_code, status, mode, marketplace, provider_plan, options, "
                "source_filename, source_info, total_codes, processed_codes, successful_conversions, "
                "failed_conversions, retry_count, max_retries, created_at, updated_at) VALUES "
                "('j-de', 'S1', 'completed', 'amazon', 'DE', 'sandbox', '{}', 'in.csv', '{}', 2, 2, 1, 1, 0, "
                "5, '2026-11-01 10:00:00+00', '2026-11-01 10:00:00+00')"
            )
        )
        for row in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO job_items (job_id, row_no, chunk_no, input_code, status, attempts, "
                    "input_values, updated_at) VALUES ('j-de', :row, 0, '3017620422003', 'matched', 1, '[]', "
                    "'2026-11-01 10:00:00+00')"
                ),
                {"row": row},
            )
        connection.execute(
            text(
                "INSERT INTO job_chunks (job_id, chunk_no, first_row, last_row, status, attempts, "
                "updated_at) VALUES ('j-de', 0, 1, 100, 'done', 1, '2026-11-01 10:00:00+00')"
            )
        )
        item_id = connection.execute(text("SELECT min(id) FROM job_items")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO image_tasks (job_id, item_id, status, attempts, updated_at) VALUES "
                "('j-de', :item, 'pending', 0, '2026-11-01 10:00:00+00')"
            ),
            {"item": item_id},
        )


def test_0005_fills_the_marketplace_of_existing_rows_and_keeps_their_children(any_db: Database) -> None:
    migrate(any_db.engine, "downgrade", "0004")
    assert "marketplace" not in _columns(any_db, "job_items")
    _seed_at_0004(any_db)

    migrate(any_db.engine, "upgrade", "head")
    assert {"marketplace", "field_sources"} <= _columns(any_db, "job_items")
    assert "marketplaces" in _columns(any_db, "jobs")
    with any_db.unit_of_work() as session:
        assert set(session.scalars(select(JobItem.marketplace))) == {"DE"}
        assert session.scalar(select(JobChunk.marketplace)) == "DE"
        # the table rebuild on SQLite must not cascade-delete the image tasks of the rebuilt items
        assert session.scalar(select(func.count(ImageTask.id))) == 1
        job = session.get(Job, "j-de")
        assert job is not None and job.marketplace_list == ["DE"]

    migrate(any_db.engine, "downgrade", "0004")
    with any_db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM job_items")).scalar_one() == 2
        assert connection.execute(text("SELECT count(*) FROM image_tasks")).scalar_one() == 1
    migrate(any_db.engine, "upgrade", "head")
    with any_db.unit_of_work() as session:
        assert session.scalar(select(func.count(JobItem.id))) == 2
