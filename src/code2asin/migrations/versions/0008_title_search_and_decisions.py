"""the supplier's brand, and the match decisions people make (remembered per supplier and code)

* ``job_items.supplier_brand``: the brand column of the supplier's file, for the title search fallback.
* ``match_decisions``: a person's accept or reject of an ASIN for one supplier's code; later jobs of that
  supplier apply an accepted ASIN as ``manual`` and never propose a rejected one again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_items", sa.Column("supplier_brand", sa.String(length=500), nullable=True))
    op.create_table(
        "match_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("supplier_code", sa.String(length=100), nullable=False),
        sa.Column("code_key", sa.String(length=40), nullable=False),
        sa.Column("asin", sa.String(length=10), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("row_no", sa.Integer(), nullable=True),
        sa.Column("input_code", sa.Text(), nullable=True),
        sa.Column("supplier_title", sa.Text(), nullable=True),
        sa.Column("amazon_title", sa.Text(), nullable=True),
        sa.UniqueConstraint("supplier_code", "code_key", "asin", name="uq_match_decisions_code_asin"),
    )
    op.create_index("ix_match_decisions_supplier_code", "match_decisions", ["supplier_code", "code_key"])


def downgrade() -> None:
    op.drop_index("ix_match_decisions_supplier_code", table_name="match_decisions")
    op.drop_table("match_decisions")
    with op.batch_alter_table("job_items", schema=None) as batch_op:
        batch_op.drop_column("supplier_brand")
