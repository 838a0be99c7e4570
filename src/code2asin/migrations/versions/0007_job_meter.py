"""what a job has spent and how far its running chunks are

* ``jobs.provider_calls`` / ``jobs.keepa_tokens``: the provider calls and the Keepa tokens the job has
  spent (counted before each call), for the caps ``max_calls`` / ``max_keepa_tokens`` and the details page.
* ``jobs.estimate`` (nullable JSON): the duration and cost expected when the job was created.
* ``job_chunks.looked_up_rows`` / ``job_chunks.enriched_rows``: rows of a running chunk whose code has been
  looked up, and whose candidates have been enriched, before the chunk commits; reset when a run leases
  the chunk, so a released or taken-over chunk never counts twice.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    zero = sa.text("0")
    op.add_column("jobs", sa.Column("provider_calls", sa.Integer(), nullable=False, server_default=zero))
    op.add_column("jobs", sa.Column("keepa_tokens", sa.Integer(), nullable=False, server_default=zero))
    op.add_column("jobs", sa.Column("estimate", sa.JSON(), nullable=True))
    for column in ("looked_up_rows", "enriched_rows"):
        op.add_column("job_chunks", sa.Column(column, sa.Integer(), nullable=False, server_default=zero))


def downgrade() -> None:
    with op.batch_alter_table("job_chunks", schema=None) as batch_op:
        batch_op.drop_column("enriched_rows")
        batch_op.drop_column("looked_up_rows")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("estimate")
        batch_op.drop_column("keepa_tokens")
        batch_op.drop_column("provider_calls")
