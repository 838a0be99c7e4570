"""Database models of price tracking (migration 0004).

* ``Tracker``: follows the matched products of a supplier (or of one job) on a marketplace, on a cron
  schedule, with an alert threshold and an optional signed webhook.
* ``PriceObservation``: one row per product (supplier, GTIN, marketplace) and run; never updated.
* ``PriceAlert``: one row per event, unique on (tracker, product, observation, kind).
* ``WebhookDelivery``: one delivery per alert, retried on the backoff schedule, with its attempt log.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from code2asin.jobs.models import Base, NullableJSON, Timestamp, new_id, utcnow

#: ``Job.mode`` of a re-pricing run (the column is a plain string; conversion modes are ``JobMode``)
REPRICE_MODE = "reprice"
#: every Monday at 06:00 UTC
DEFAULT_SCHEDULE = "0 6 * * 1"
DEFAULT_THRESHOLD_PERCENT = Decimal("10")

_BigId = BigInteger().with_variant(Integer, "sqlite")


class TrackerStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class AlertKind(StrEnum):
    PRICE_MOVE = "price_move"
    CROSSED_SUPPLIER_PRICE = "crossed_supplier_price"
    OUT_OF_STOCK = "out_of_stock"
    BACK_IN_STOCK = "back_in_stock"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Tracker(Base):
    __tablename__ = "price_trackers"
    __table_args__ = (Index("ix_price_trackers_status_next_run", "status", "next_run_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    supplier_code: Mapped[str] = mapped_column(String(100), index=True)
    marketplace: Mapped[str] = mapped_column(String(8), default="FR")
    #: follow the matched rows of this job only (None: every matched product of the supplier)
    source_job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    provider_plan: Mapped[str] = mapped_column(String(100), default="sandbox")
    schedule: Mapped[str] = mapped_column(String(100), default=DEFAULT_SCHEDULE)
    threshold_percent: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=DEFAULT_THRESHOLD_PERCENT)
    #: currency of the supplier prices of the input file (None: the marketplace's currency)
    supplier_currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=TrackerStatus.ACTIVE)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    #: HMAC key of the webhook signature; never returned by the API nor logged
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    next_run_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_run_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_job_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class PriceObservation(Base):
    __tablename__ = "price_observations"
    __table_args__ = (
        UniqueConstraint("job_id", "gtin", "marketplace", name="uq_price_observations_run_product"),
        Index("ix_price_observations_tracker_gtin_at", "tracker_id", "gtin", "observed_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    tracker_id: Mapped[str] = mapped_column(ForeignKey("price_trackers.id", ondelete="CASCADE"))
    #: the run (a ``reprice`` job); no foreign key: deleting a run's job keeps the history
    job_id: Mapped[str] = mapped_column(String(36))
    supplier_code: Mapped[str] = mapped_column(String(100))
    gtin: Mapped[str] = mapped_column(String(14))
    marketplace: Mapped[str] = mapped_column(String(8))
    asin: Mapped[str] = mapped_column(String(10))
    price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    buy_box: Mapped[bool | None] = mapped_column(Boolean)
    availability: Mapped[str | None] = mapped_column(String(40))
    in_stock: Mapped[bool] = mapped_column(Boolean, default=True)
    supplier_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    supplier_currency: Mapped[str | None] = mapped_column(String(3))
    source: Mapped[str | None] = mapped_column(String(40))
    observed_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class PriceAlert(Base):
    __tablename__ = "price_alerts"
    __table_args__ = (
        UniqueConstraint("tracker_id", "gtin", "observation_id", "kind", name="uq_price_alerts_event"),
        Index("ix_price_alerts_tracker_created", "tracker_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    tracker_id: Mapped[str] = mapped_column(ForeignKey("price_trackers.id", ondelete="CASCADE"))
    observation_id: Mapped[int] = mapped_column(ForeignKey("price_observations.id", ondelete="CASCADE"))
    previous_observation_id: Mapped[int | None] = mapped_column(_BigId)
    job_id: Mapped[str] = mapped_column(String(36))
    supplier_code: Mapped[str] = mapped_column(String(100), index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    asin: Mapped[str] = mapped_column(String(10))
    marketplace: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(30))
    previous_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    change_percent: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    supplier_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(Timestamp)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", name="uq_webhook_deliveries_alert"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("price_alerts.id", ondelete="CASCADE"))
    tracker_id: Mapped[str] = mapped_column(ForeignKey("price_trackers.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    #: a sender's claim: the delivery is being sent until then (a crashed sender's claim runs out)
    claimed_until: Mapped[datetime | None] = mapped_column(Timestamp)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: one entry per attempt: {"at", "status_code", "error", "duration_ms"}
    attempt_log: Mapped[list[Any]] = mapped_column(NullableJSON, default=list)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp)
