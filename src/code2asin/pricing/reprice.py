"""Re-pricing runs: the ``reprice`` branch of the chunk runner, observations, and the price columns.

A ``reprice`` job's items carry known ASINs. ``reprice_chunk`` asks only the plan's cheapest price stage
(SP-API ``getCompetitivePricing`` by 20 when the plan has SP-API, else Creators ``getItems`` by 10; Keepa
only when nothing else serves prices) through the runner's in-run retries, with the same pause/cancel
checks between calls. The lookup cache is not read: a re-pricing wants today's price.

Each observed row gets one ``PriceObservation`` for (run, GTIN, marketplace), inserted with ON CONFLICT
DO NOTHING before the chunk commits, with its alerts and webhook deliveries in the same transaction
(all unique), so a chunk that runs twice writes nothing twice. A transient failure keeps the row pending
on the 1/5/15/60/240 minute schedule like a conversion row; an ASIN Amazon no longer knows ends
``not_found``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from code2asin.errors import RETRY_BACKOFF_MINUTES, ErrorType, ProviderError
from code2asin.jobs.meter import Cost
from code2asin.jobs.models import ItemStatus, Job, JobItem
from code2asin.pricing import alerts as alert_rules
from code2asin.pricing.models import PriceAlert, PriceObservation, Tracker, WebhookDelivery
from code2asin.providers.base import Candidate, EnrichProvider
from code2asin.providers.marketplaces import get_marketplace

if TYPE_CHECKING:
    from code2asin.db import Database
    from code2asin.providers.stages import Plan

MAX_ATTEMPTS = len(RETRY_BACKOFF_MINUTES)
OUT_OF_STOCK = "OUT_OF_STOCK"


def price_stage(plan: Plan) -> EnrichProvider:
    """The plan's stage that prices the most ASINs per call (Keepa only when it is the only one)."""
    from code2asin.providers.spapi import SpapiClient, SpapiPricing

    stages: list[EnrichProvider] = list(plan.enrich)
    identify = plan.identify
    if isinstance(identify, SpapiClient):
        if not any(s.name == "spapi" for s in stages):
            stages.append(SpapiPricing(identify))
    elif isinstance(identify, EnrichProvider):
        stages.append(identify)
    if not stages:
        raise ProviderError(f"Plan {plan.name!r} has no stage that returns prices.", ErrorType.INVALID_DATA)
    preferred = [s for s in stages if s.name != "keepa"] or stages
    return max(preferred, key=lambda s: s.enrich_batch_size)


class ChunkContext(Protocol):
    """What re-pricing needs of the chunk runner that calls it (``jobs.runner.ChunkRunner``)."""

    db: Database
    worker_id: str
    clock: Callable[[], datetime]

    def with_retries(
        self, call: Callable[[], dict[str, Any]], keys: list[str], wrap: Callable[[ProviderError], Any]
    ) -> dict[str, Any]: ...


def reprice_chunk(
    runner: ChunkContext, plan: Plan, keep_going: Callable[[Cost], bool], items: list[JobItem], job_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Price the chunk's ASINs with ``plan``; returns the runner's (row updates, log rows, stopped)."""
    stage = price_stage(plan)
    asins = sorted({a for a in (i.asin or i.input_asin for i in items) if a})
    answers: dict[str, Candidate | ProviderError] = {}
    size = max(1, stage.enrich_batch_size)
    for start in range(0, len(asins), size):
        batch = asins[start : start + size]
        if not keep_going(Cost(1, len(batch) if stage.name == "keepa" else 0)):
            return [], [], True  # paused, cancelled or capped: nothing written, the chunk is given back
        answers.update(runner.with_retries(partial(stage.enrich, batch), batch, lambda e: e))
    now = runner.clock()
    updates: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    observed: list[tuple[JobItem, Candidate]] = []
    for item in items:
        asin = item.asin or item.input_asin or ""
        answer = answers.get(asin) or ProviderError(
            "The provider gave no answer for this ASIN.", ErrorType.UNKNOWN
        )
        values, log = _row(item, answer, now, runner.worker_id, stage.name)
        updates.append(values)
        logs.append(log)
        if isinstance(answer, Candidate):
            observed.append((item, answer))
    if observed:
        record_observations(runner, job_id, observed, now, stage.name)
    return updates, logs, False


def _row(
    item: JobItem, answer: Candidate | ProviderError, now: datetime, actor: str, source: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    values: dict[str, Any] = {
        "id": item.id,
        "attempts": item.attempts + 1,
        "next_attempt_at": None,
        "error_type": None,
        "error_message": None,
        "amazon_price": None,
        "amazon_currency": None,
    }
    log: dict[str, Any] = {
        "job_id": item.job_id,
        "row_no": item.row_no,
        "input_code": item.input_code,
        "code_type": item.code_type,
        "previous_asin": item.asin,
        "new_asin": item.asin,
        "processing_time_ms": None,
        "api_response": {"source": source},
        "timestamp": now,
        "level": "info",
        "change_reason": "reprice",
        "confidence_score": None,
        "error_type": None,
        "message": None,
        "actor": actor,
    }
    if isinstance(answer, Candidate):
        values.update(status=ItemStatus.MATCHED, amazon_price=answer.price, amazon_currency=answer.currency)
        log["message"] = (
            f"Price {answer.price} {answer.currency}"
            if answer.price is not None
            else "No offer (out of stock)"
        )
        return values, log
    retryable = answer.error_type is not ErrorType.INVALID_DATA and item.attempts + 1 < MAX_ATTEMPTS
    values["error_type"] = answer.error_type.value
    if retryable:
        delay = timedelta(minutes=RETRY_BACKOFF_MINUTES[item.attempts])
        if answer.retry_after:
            delay = max(delay, timedelta(seconds=answer.retry_after))
        values.update(status=ItemStatus.PENDING, next_attempt_at=now + delay)
        values["error_message"] = f"{answer} (attempt {item.attempts + 1} of {MAX_ATTEMPTS})"
    elif answer.error_type is ErrorType.INVALID_DATA:
        values.update(status=ItemStatus.NOT_FOUND, error_message=str(answer))
    else:
        values.update(
            status=ItemStatus.FAILED, error_message=f"{answer} (gave up after {item.attempts + 1} attempts)"
        )
    log.update(
        level="warning" if retryable else "error",
        error_type=answer.error_type.value,
        message=values["error_message"],
    )
    return values, log


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def record_observations(
    runner: ChunkContext, job_id: str, observed: list[tuple[JobItem, Candidate]], now: datetime, source: str
) -> None:
    """Insert the chunk's observations, their alerts and webhook deliveries (each at most once)."""
    with runner.db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        tracker = session.get(Tracker, (job.options or {}).get("tracker_id"))
        if tracker is None:
            return  # the tracker was deleted while its run was going: the run still ends, unrecorded
        supplier_currency = tracker.supplier_currency or get_marketplace(job.marketplace).currency
        rows = [
            {
                "tracker_id": tracker.id,
                "job_id": job_id,
                "supplier_code": job.supplier_code,
                "gtin": item.gtin,
                "marketplace": job.marketplace,
                "asin": item.asin or item.input_asin,
                "price": candidate.price,
                "currency": candidate.currency,
                "buy_box": candidate.buy_box,
                "availability": candidate.availability
                or (None if candidate.price is not None else OUT_OF_STOCK),
                "in_stock": candidate.price is not None,
                "supplier_price": item.supplier_price,
                "supplier_currency": supplier_currency if item.supplier_price is not None else None,
                "source": source,
                "observed_at": now,
            }
            for item, candidate in observed
        ]
        insert = _insert(session)
        session.execute(
            insert(PriceObservation)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["job_id", "gtin", "marketplace"])
        )
        gtins = [r["gtin"] for r in rows]
        current = {
            o.gtin: o
            for o in session.scalars(
                select(PriceObservation).where(
                    PriceObservation.job_id == job_id,
                    PriceObservation.marketplace == job.marketplace,
                    PriceObservation.gtin.in_(gtins),
                )
            )
        }
        previous = _previous(session, tracker.id, job_id, job.marketplace, current.values())
        drafts: list[dict[str, Any]] = []
        for gtin, obs in current.items():
            before = previous.get(gtin)
            for draft in alert_rules.detect(
                _seen(before) if before else None, _seen(obs), Decimal(tracker.threshold_percent)
            ):
                drafts.append(
                    {
                        "tracker_id": tracker.id,
                        "observation_id": obs.id,
                        "previous_observation_id": before.id if before else None,
                        "job_id": job_id,
                        "supplier_code": obs.supplier_code,
                        "gtin": gtin,
                        "asin": obs.asin,
                        "marketplace": obs.marketplace,
                        "kind": draft.kind.value,
                        "previous_price": before.price if before else None,
                        "price": obs.price,
                        "currency": obs.currency,
                        "change_percent": draft.change_percent,
                        "supplier_price": obs.supplier_price,
                        "message": draft.message,
                        "created_at": now,
                    }
                )
        if drafts:
            session.execute(
                insert(PriceAlert)
                .values(drafts)
                .on_conflict_do_nothing(index_elements=["tracker_id", "gtin", "observation_id", "kind"])
            )
        if tracker.webhook_url:
            _owe_deliveries(session, tracker, [o.id for o in current.values()], now)


def _seen(obs: PriceObservation) -> alert_rules.Seen:
    return alert_rules.Seen(obs.price, obs.currency, obs.in_stock, obs.supplier_price, obs.supplier_currency)


def _previous(
    session: Session, tracker_id: str, job_id: str, marketplace: str, current: Iterable[PriceObservation]
) -> dict[str, PriceObservation]:
    """Each GTIN's newest observation in the tracker before the current one (another run)."""
    found: dict[str, PriceObservation] = {}
    by_gtin = {o.gtin: o for o in current}
    if not by_gtin:
        return found
    rows = session.scalars(
        select(PriceObservation)
        .where(
            PriceObservation.tracker_id == tracker_id,
            PriceObservation.marketplace == marketplace,
            PriceObservation.gtin.in_(list(by_gtin)),
            PriceObservation.job_id != job_id,
        )
        .order_by(PriceObservation.observed_at.desc(), PriceObservation.id.desc())
    )
    for obs in rows:
        mine = by_gtin[obs.gtin]
        if obs.gtin not in found and (obs.observed_at, obs.id) < (mine.observed_at, mine.id):
            found[obs.gtin] = obs
    return found


def _owe_deliveries(session: Session, tracker: Tracker, observation_ids: list[int], now: datetime) -> None:
    alert_ids = list(
        session.scalars(
            select(PriceAlert.id)
            .outerjoin(WebhookDelivery, WebhookDelivery.alert_id == PriceAlert.id)
            .where(PriceAlert.observation_id.in_(observation_ids), WebhookDelivery.id.is_(None))
        )
    )
    if alert_ids:
        session.execute(
            _insert(session)(WebhookDelivery)
            .values(
                [
                    {
                        "alert_id": alert_id,
                        "tracker_id": tracker.id,
                        "url": tracker.webhook_url,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "attempt_log": [],
                        "created_at": now,
                    }
                    for alert_id in alert_ids
                ]
            )
            .on_conflict_do_nothing(index_elements=["alert_id"])
        )


# -- price columns for results and exports ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceColumns:
    """What a results row or an export shows of a product's prices."""

    latest_price: Decimal | None
    latest_currency: str | None
    previous_price: Decimal | None
    change_percent: Decimal | None
    in_stock: bool | None
    observed_at: datetime | None
    supplier_price: Decimal | None
    price_difference_percent: Decimal | None
    #: set when the Amazon and supplier currencies differ (then nothing is compared)
    currency_mismatch: str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def price_columns(latest: PriceObservation | None, previous: PriceObservation | None) -> PriceColumns:
    """Latest and previous price, change %, and (Amazon - supplier) / supplier x 100 when comparable."""
    if latest is None:
        return PriceColumns(None, None, None, None, None, None, None, None, None)
    same = previous is not None and previous.currency == latest.currency
    change = alert_rules.change_percent(previous.price, latest.price) if previous and same else None
    difference: Decimal | None = None
    mismatch: str | None = None
    supplier = latest.supplier_price
    if supplier and latest.price is not None:
        if latest.supplier_currency and latest.currency and latest.supplier_currency != latest.currency:
            mismatch = f"Amazon price in {latest.currency}, supplier price in {latest.supplier_currency}"
        else:
            difference = ((latest.price - supplier) / supplier * 100).quantize(Decimal("0.01"))
    return PriceColumns(
        latest.price,
        latest.currency,
        previous.price if previous else None,
        change,
        latest.in_stock,
        latest.observed_at,
        supplier,
        difference,
        mismatch,
    )


def _latest_two(
    session: Session, where: list[Any]
) -> dict[str, tuple[PriceObservation, PriceObservation | None]]:
    ranked = (
        select(
            PriceObservation.id,
            func.row_number()
            .over(
                partition_by=(PriceObservation.gtin, PriceObservation.marketplace),
                order_by=(PriceObservation.observed_at.desc(), PriceObservation.id.desc()),
            )
            .label("rank"),
        )
        .where(*where)
        .subquery()
    )
    rows = session.scalars(
        select(PriceObservation)
        .join(ranked, ranked.c.id == PriceObservation.id)
        .where(ranked.c.rank <= 2)
        .order_by(PriceObservation.gtin, ranked.c.rank)
    )
    out: dict[str, tuple[PriceObservation, PriceObservation | None]] = {}
    for obs in rows:
        if obs.gtin in out:
            out[obs.gtin] = (out[obs.gtin][0], obs)
        else:
            out[obs.gtin] = (obs, None)
    return out


def tracker_price_columns(session: Session, tracker_id: str) -> dict[str, PriceColumns]:
    """GTIN -> price columns from the tracker's newest two observations of each product."""
    pairs = _latest_two(session, [PriceObservation.tracker_id == tracker_id])
    return {gtin: price_columns(*pair) for gtin, pair in pairs.items()}


def run_price_columns(session: Session, job_id: str) -> dict[int, PriceColumns]:
    """Row number -> price columns of a ``reprice`` job (its observation and the one before it)."""
    observations = {
        o.gtin: o for o in session.scalars(select(PriceObservation).where(PriceObservation.job_id == job_id))
    }
    if not observations:
        return {}
    first = next(iter(observations.values()))
    previous = _previous(session, first.tracker_id, job_id, first.marketplace, observations.values())
    rows = session.execute(select(JobItem.row_no, JobItem.gtin).where(JobItem.job_id == job_id))
    return {
        row_no: price_columns(observations[gtin], previous.get(gtin))
        for row_no, gtin in rows
        if gtin in observations
    }


def latest_price_columns(session: Session, supplier_code: str, marketplace: str) -> dict[str, PriceColumns]:
    """GTIN -> price columns from the newest observations of a supplier's products, any tracker.

    For a conversion job's export: look each row's ``gtin`` up in the answer.
    """
    pairs = _latest_two(
        session,
        [PriceObservation.supplier_code == supplier_code, PriceObservation.marketplace == marketplace],
    )
    return {gtin: price_columns(*pair) for gtin, pair in pairs.items()}


def price_history(session: Session, tracker_id: str, gtin: str, limit: int = 500) -> list[PriceObservation]:
    """A product's observations in a tracker, oldest first (for the chart)."""
    rows = session.scalars(
        select(PriceObservation)
        .where(PriceObservation.tracker_id == tracker_id, PriceObservation.gtin == gtin)
        .order_by(PriceObservation.observed_at.desc(), PriceObservation.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))
