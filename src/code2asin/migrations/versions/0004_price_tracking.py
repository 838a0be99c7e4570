"""price tracking: trackers, price observations, alerts, webhook deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "price_trackers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("supplier_code", sa.String(length=100), nullable=False),
        sa.Column("marketplace", sa.String(length=8), nullable=False),
        sa.Column("source_job_id", sa.String(length=36), nullable=True),
        sa.Column("provider_plan", sa.String(length=100), nullable=False),
        sa.Column("schedule", sa.String(length=100), nullable=False),
        sa.Column("threshold_percent", sa.Numeric(6, 2), nullable=False),
        sa.Column("supplier_currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("next_run_at", _TS, nullable=True),
        sa.Column("last_run_at", _TS, nullable=True),
        sa.Column("last_job_id", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["source_job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("price_trackers", schema=None) as batch_op:
        batch_op.create_index("ix_price_trackers_supplier_code", ["supplier_code"], unique=False)
        batch_op.create_index("ix_price_trackers_status_next_run", ["status", "next_run_at"], unique=False)

    op.create_table(
        "price_observations",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("tracker_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("supplier_code", sa.String(length=100), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("marketplace", sa.String(length=8), nullable=False),
        sa.Column("asin", sa.String(length=10), nullable=False),
        sa.Column("price", sa.Numeric(14, 2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("buy_box", sa.Boolean(), nullable=True),
        sa.Column("availability", sa.String(length=40), nullable=True),
        sa.Column("in_stock", sa.Boolean(), nullable=False),
        sa.Column("supplier_price", sa.Numeric(14, 4), nullable=True),
        sa.Column("supplier_currency", sa.String(length=3), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.Column("observed_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["tracker_id"], ["price_trackers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "gtin", "marketplace", name="uq_price_observations_run_product"),
    )
    with op.batch_alter_table("price_observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_price_observations_tracker_gtin_at", ["tracker_id", "gtin", "observed_at"], unique=False
        )

    op.create_table(
        "price_alerts",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("tracker_id", sa.String(length=36), nullable=False),
        sa.Column("observation_id", _BIG_ID, nullable=False),
        sa.Column("previous_observation_id", _BIG_ID, nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("supplier_code", sa.String(length=100), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("asin", sa.String(length=10), nullable=False),
        sa.Column("marketplace", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("previous_price", sa.Numeric(14, 2), nullable=True),
        sa.Column("price", sa.Numeric(14, 2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("change_percent", sa.Numeric(10, 2), nullable=True),
        sa.Column("supplier_price", sa.Numeric(14, 4), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("acknowledged_at", _TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["tracker_id"], ["price_trackers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["observation_id"], ["price_observations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tracker_id", "gtin", "observation_id", "kind", name="uq_price_alerts_event"),
    )
    with op.batch_alter_table("price_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_price_alerts_supplier_code", ["supplier_code"], unique=False)
        batch_op.create_index("ix_price_alerts_tracker_created", ["tracker_id", "created_at"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("alert_id", _BIG_ID, nullable=False),
        sa.Column("tracker_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("claimed_until", _TS, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempt_log", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["price_alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tracker_id"], ["price_trackers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", name="uq_webhook_deliveries_alert"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_status_next", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("price_alerts")
    op.drop_table("price_observations")
    op.drop_table("price_trackers")
