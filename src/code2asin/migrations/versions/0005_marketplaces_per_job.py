"""several marketplaces per job, and which provider supplied each field

* ``jobs.marketplaces`` (JSON, nullable): every marketplace of a several-marketplace job, in order; NULL
  means the job has just ``jobs.marketplace``.
* ``job_items.marketplace`` (not null, filled from the job): an input row has one item per marketplace,
  so items are unique on ``(job_id, row_no, marketplace)`` instead of ``(job_id, row_no)``.
* ``job_chunks.marketplace`` (not null, filled from the job): the marketplace a chunk is looked up on.
* ``conversion_logs.marketplace`` (nullable): the marketplace of a per-code log line.
* ``job_items.field_sources`` (JSON, nullable): ``{"amazon_title": "creators", "amazon_rating": "keepa"}``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-16 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: every existing item and chunk takes its job's marketplace
_FILL = (
    "UPDATE job_items SET marketplace = (SELECT jobs.marketplace FROM jobs WHERE jobs.id = job_items.job_id)",
    "UPDATE job_chunks SET marketplace = "
    "(SELECT jobs.marketplace FROM jobs WHERE jobs.id = job_chunks.job_id)",
)
#: a downgrade keeps each job's first marketplace only
_KEEP_FIRST = (
    "DELETE FROM job_items WHERE marketplace <> "
    "(SELECT jobs.marketplace FROM jobs WHERE jobs.id = job_items.job_id)",
    "DELETE FROM job_chunks WHERE marketplace <> "
    "(SELECT jobs.marketplace FROM jobs WHERE jobs.id = job_chunks.job_id)",
)


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marketplaces", sa.JSON(), nullable=True))
    with op.batch_alter_table("conversion_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marketplace", sa.String(length=8), nullable=True))

    for table in ("job_items", "job_chunks"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("marketplace", sa.String(length=8), nullable=True))
    for statement in _FILL:
        op.execute(statement)

    with op.batch_alter_table("job_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("field_sources", sa.JSON(), nullable=True))
        batch_op.alter_column("marketplace", existing_type=sa.String(length=8), nullable=False)
        batch_op.drop_constraint("uq_job_items_job_row", type_="unique")
        batch_op.create_unique_constraint(
            "uq_job_items_job_row_marketplace", ["job_id", "row_no", "marketplace"]
        )
    with op.batch_alter_table("job_chunks", schema=None) as batch_op:
        batch_op.alter_column("marketplace", existing_type=sa.String(length=8), nullable=False)


def downgrade() -> None:
    for statement in _KEEP_FIRST:
        op.execute(statement)
    with op.batch_alter_table("job_chunks", schema=None) as batch_op:
        batch_op.drop_column("marketplace")
    with op.batch_alter_table("job_items", schema=None) as batch_op:
        batch_op.drop_constraint("uq_job_items_job_row_marketplace", type_="unique")
        batch_op.create_unique_constraint("uq_job_items_job_row", ["job_id", "row_no"])
        batch_op.drop_column("field_sources")
        batch_op.drop_column("marketplace")
    # plain ALTER TABLE … DROP COLUMN (SQLite >= 3.35): no rebuild of ``jobs``
    op.drop_column("conversion_logs", "marketplace")
    op.drop_column("jobs", "marketplaces")
