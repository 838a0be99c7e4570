"""Migration 0006 (review flags, duplicate rows) adds nullable columns and keeps every row both ways."""

from __future__ import annotations

from sqlalchemy import inspect, text

from code2asin.db import Database, migrate


def _columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("job_items")}


def test_0006_adds_review_flags_and_duplicate_of_and_downgrades_without_loss(any_db: Database) -> None:
    migrate(any_db.engine, "downgrade", "0005")
    assert not {"review_flags", "duplicate_of"} & _columns(any_db)
    with any_db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO jobs (id, supplier_code, status, mode, marketplace, provider_plan, options, "
                "source_filename, source_info, total_codes, processed_codes, successful_conversions, "
                "failed_conversions, retry_count, max_retries, created_at, updated_at) VALUES "
                "('j1', 'S1', 'completed', 'amazon', 'FR', 'sandbox', '{}', 'in.csv', '{}', 1, 1, 1, 0, 0, "
                "5, '2026-11-01 10:00:00+00', '2026-11-01 10:00:00+00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO job_items (job_id, row_no, marketplace, chunk_no, input_code, status, attempts, "
                "input_values, updated_at) VALUES ('j1', 1, 'FR', 0, '3017620422003', 'matched', 1, '[]', "
                "'2026-11-01 10:00:00+00')"
            )
        )
    migrate(any_db.engine, "upgrade", "head")
    assert {"review_flags", "duplicate_of"} <= _columns(any_db)
    indexes = {i["name"] for i in inspect(any_db.engine).get_indexes("job_items")}
    assert "ix_job_items_job_review" in indexes
    with any_db.engine.begin() as connection:
        row = connection.execute(text("SELECT review_flags, duplicate_of FROM job_items")).one()
        assert tuple(row) == (None, None)
        connection.execute(text("UPDATE job_items SET review_flags = 'title,price', duplicate_of = 1"))
    migrate(any_db.engine, "downgrade", "0005")
    with any_db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM job_items")).scalar_one() == 1
    migrate(any_db.engine, "upgrade", "head")
