"""Price alerts: what changed between two observations of a product, stored once per event.

``detect`` is pure. Events, each compared with the product's previous observation in the same tracker:

* ``price_move``: the price moved by more than the tracker's threshold (percent of the previous price);
* ``crossed_supplier_price``: the price went from below the supplier price to at or above it, or back;
* ``out_of_stock`` / ``back_in_stock``: the offer disappeared / came back.

Prices in different currencies are never compared (no move, no crossing). A product's first observation
raises nothing. Alerts are unique on (tracker, GTIN, observation, kind), so re-running a chunk or a run
never raises an event twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from code2asin.errors import NotFoundError
from code2asin.pricing.models import AlertKind, PriceAlert


@dataclass(frozen=True, slots=True)
class Seen:
    """What ``detect`` needs of one observation."""

    price: Decimal | None
    currency: str | None
    in_stock: bool
    supplier_price: Decimal | None = None
    supplier_currency: str | None = None


@dataclass(frozen=True, slots=True)
class AlertDraft:
    kind: AlertKind
    change_percent: Decimal | None
    message: str


def change_percent(previous: Decimal | None, current: Decimal | None) -> Decimal | None:
    """(current - previous) / previous x 100, 2 decimals; None when either is unknown or previous is 0."""
    if previous is None or current is None or previous == 0:
        return None
    return ((current - previous) / previous * 100).quantize(Decimal("0.01"))


def detect(previous: Seen | None, current: Seen, threshold_percent: Decimal) -> list[AlertDraft]:
    """The events between ``previous`` and ``current`` (none for a first observation)."""
    if previous is None:
        return []
    drafts: list[AlertDraft] = []
    if previous.in_stock and not current.in_stock:
        drafts.append(AlertDraft(AlertKind.OUT_OF_STOCK, None, "The product is out of stock (no offer)."))
    if not previous.in_stock and current.in_stock:
        shown = f" at {current.price} {current.currency}" if current.price is not None else ""
        drafts.append(AlertDraft(AlertKind.BACK_IN_STOCK, None, f"The product is back in stock{shown}."))
    same_currency = previous.currency == current.currency
    moved = change_percent(previous.price, current.price) if same_currency else None
    if moved is not None and abs(moved) > threshold_percent:
        drafts.append(
            AlertDraft(
                AlertKind.PRICE_MOVE,
                moved,
                f"Price moved {moved:+}% ({previous.price} -> {current.price} {current.currency}), over "
                f"the {threshold_percent}% threshold.",
            )
        )
    supplier = current.supplier_price
    if (
        supplier is not None
        and previous.price is not None
        and current.price is not None
        and same_currency
        and current.currency == (current.supplier_currency or current.currency)
        and (previous.price < supplier) != (current.price < supplier)
    ):
        side = "at or above" if current.price >= supplier else "below"
        drafts.append(
            AlertDraft(
                AlertKind.CROSSED_SUPPLIER_PRICE,
                moved,
                f"The Amazon price went {side} the supplier price {supplier} ({previous.price} -> "
                f"{current.price} {current.currency}).",
            )
        )
    return drafts


def list_alerts(
    session: Session,
    *,
    suppliers: frozenset[str] | None = None,
    tracker_id: str | None = None,
    kind: str | None = None,
    acknowledged: bool | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[PriceAlert], int]:
    """Alerts, newest first, filtered by supplier scope, tracker, kind and acknowledgement."""
    where: list[Any] = []
    if suppliers is not None:
        where.append(PriceAlert.supplier_code.in_(sorted(suppliers)))
    if tracker_id:
        where.append(PriceAlert.tracker_id == tracker_id)
    if kind:
        where.append(PriceAlert.kind == kind)
    if acknowledged is not None:
        where.append(
            PriceAlert.acknowledged_at.is_not(None) if acknowledged else PriceAlert.acknowledged_at.is_(None)
        )
    total = session.scalar(select(func.count(PriceAlert.id)).where(*where)) or 0
    rows = session.scalars(
        select(PriceAlert)
        .where(*where)
        .order_by(PriceAlert.created_at.desc(), PriceAlert.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def acknowledge(
    session: Session, alert_id: int, actor: str | None, now: datetime, suppliers: frozenset[str] | None
) -> PriceAlert:
    """Mark an alert seen (idempotent: the first acknowledgement is kept); ``NotFoundError`` if invisible."""
    alert = session.get(PriceAlert, alert_id)
    if alert is None or (suppliers is not None and alert.supplier_code not in suppliers):
        raise NotFoundError(f"Alert {alert_id} does not exist.")
    if alert.acknowledged_at is None:
        session.execute(
            update(PriceAlert)
            .where(PriceAlert.id == alert_id, PriceAlert.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by=actor)
        )
        session.refresh(alert)
    return alert
