"""rows a person should check, and which row a duplicate code repeats

* ``job_items.review_flags`` (nullable): what disagrees on a matched row, comma-separated among ``title``,
  ``price`` and ``supplier_asin`` (``match_review``); NULL when nothing does. A partial index on
  ``(job_id, row_no)`` keeps the "needs review" list of a large job on its index.
* ``job_items.duplicate_of`` (nullable): the first row of the file with the same code; the lookup is done
  once and every repeat says which row it repeats.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_FLAGGED = sa.text("review_flags IS NOT NULL")


def upgrade() -> None:
    op.add_column("job_items", sa.Column("review_flags", sa.String(length=60), nullable=True))
    op.add_column("job_items", sa.Column("duplicate_of", sa.Integer(), nullable=True))
    op.create_index(
        "ix_job_items_job_review",
        "job_items",
        ["job_id", "row_no"],
        postgresql_where=_FLAGGED,
        sqlite_where=_FLAGGED,
    )


def downgrade() -> None:
    op.drop_index("ix_job_items_job_review", table_name="job_items")
    with op.batch_alter_table("job_items", schema=None) as batch_op:
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("review_flags")
