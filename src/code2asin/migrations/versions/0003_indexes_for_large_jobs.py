"""indexes for 1,000,000-row jobs and the per-job statistics snapshot

* ``job_items (job_id, match_type, row_no)`` and ``(job_id, status, row_no)``: a filtered results page
  walks the index in input order; on PostgreSQL they INCLUDE ``id`` so the page's ids come from an
  index-only scan and only the page's rows are read from the table.
* ``job_items (job_id, updated_at)``: the newest change of a job's rows in one index probe, the
  fingerprint that says whether a job's statistics snapshot is still current.
* ``job_items (updated_at, error_type) WHERE error_type IS NOT NULL``: ``stats/errors?days=N`` reads only
  the rows that carry an error (a partial index on both dialects).
* ``jobs (supplier_code, created_at)``: the job list of a supplier-restricted token, newest first.
* ``conversion_logs (job_id, level, id)``: the logs page with a level filter.
* ``jobs.stats_snapshot`` (JSON, nullable): the statistics of a job whose rows no longer change, with
  the fingerprint they were computed at (see ``code2asin.jobs.stats_snapshot``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stats_snapshot", sa.JSON(), nullable=True))
        batch_op.create_index("ix_jobs_supplier_created", ["supplier_code", "created_at"], unique=False)

    with op.batch_alter_table("job_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_items_job_match_row",
            ["job_id", "match_type", "row_no"],
            unique=False,
            postgresql_include=["id"],
        )
        batch_op.create_index(
            "ix_job_items_job_status_row",
            ["job_id", "status", "row_no"],
            unique=False,
            postgresql_include=["id"],
        )
        batch_op.create_index("ix_job_items_job_updated", ["job_id", "updated_at"], unique=False)
        batch_op.create_index(
            "ix_job_items_errors_updated",
            ["updated_at", "error_type"],
            unique=False,
            postgresql_where=sa.text("error_type IS NOT NULL"),
            sqlite_where=sa.text("error_type IS NOT NULL"),
        )

    with op.batch_alter_table("conversion_logs", schema=None) as batch_op:
        batch_op.create_index("ix_conversion_logs_job_level_id", ["job_id", "level", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversion_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_logs_job_level_id")

    with op.batch_alter_table("job_items", schema=None) as batch_op:
        batch_op.drop_index("ix_job_items_errors_updated")
        batch_op.drop_index("ix_job_items_job_updated")
        batch_op.drop_index("ix_job_items_job_status_row")
        batch_op.drop_index("ix_job_items_job_match_row")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_supplier_created")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite >= 3.35 drops a plain column in place. Batch mode would rebuild ``jobs`` instead, and
        # dropping the old table with foreign keys on would cascade-delete every item, log and event.
        op.execute("ALTER TABLE jobs DROP COLUMN stats_snapshot")
    else:
        op.drop_column("jobs", "stats_snapshot")
