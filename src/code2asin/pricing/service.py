"""Tracker services: create, list, update, pause/resume, delete trackers and start their re-pricing runs.

A tracker follows the matched products of a supplier (or of one job) on a marketplace. A run is a job of
mode ``reprice`` whose items carry the known ASINs: the chunk runner skips identification and asks only
the plan's price stage (``code2asin.pricing.reprice``). Services take the caller's ``Session`` and never
commit; the caller dispatches a started run once committed (``RunStarted.dispatch``).

Errors: ``NotFoundError`` (unknown or invisible tracker/job), ``LifecycleError`` (a run is still active,
pausing a paused tracker), ``InvalidValueError`` (bad cron expression, threshold, URL, plan).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from code2asin.errors import InvalidValueError, LifecycleError, NotFoundError
from code2asin.jobs import service as jobs
from code2asin.jobs.creation import CHUNK_SIZE, insert_chunks
from code2asin.jobs.models import ItemStatus, Job, JobEvent, JobItem, JobStatus, utcnow
from code2asin.pricing.models import (
    DEFAULT_SCHEDULE,
    DEFAULT_THRESHOLD_PERCENT,
    REPRICE_MODE,
    Tracker,
    TrackerStatus,
)
from code2asin.pricing.schedule import next_slot, validate_schedule

INSERT_BATCH = 5000
ACTIVE_JOB_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.PAUSED)


@dataclass(slots=True)
class TrackerSpec:
    """What a caller sets on a tracker (``None`` on update: leave as is)."""

    name: str | None = None
    supplier_code: str | None = None
    source_job_id: str | None = None
    marketplace: str | None = None
    provider_plan: str | None = None
    schedule: str | None = None
    threshold_percent: Decimal | None = None
    supplier_currency: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None


@dataclass(frozen=True, slots=True)
class RunStarted:
    job_id: str
    dispatch: bool


def _check(spec: TrackerSpec) -> None:
    if spec.schedule is not None:
        validate_schedule(spec.schedule)
    if spec.threshold_percent is not None and not Decimal("0") < spec.threshold_percent <= Decimal("1000"):
        raise InvalidValueError("threshold_percent must be above 0 and at most 1000.")
    if spec.webhook_url:
        from code2asin.pricing.webhooks import check_webhook_url

        check_webhook_url(spec.webhook_url)  # the SSRF guard: http(s), no userinfo, public or allowlisted
    if spec.supplier_currency is not None and (
        len(spec.supplier_currency) != 3 or not spec.supplier_currency.isalpha()
    ):
        raise InvalidValueError("supplier_currency must be a 3-letter ISO 4217 code such as EUR.")
    if spec.provider_plan is not None:
        from code2asin.providers.stages import parse_plan

        try:
            parse_plan(spec.provider_plan)
        except Exception as exc:
            raise InvalidValueError(str(exc)) from exc


def create_tracker(
    session: Session,
    spec: TrackerSpec,
    actor: str | None,
    *,
    now: datetime | None = None,
    suppliers: frozenset[str] | None = None,
) -> tuple[Tracker, str | None]:
    """A new active tracker, first run at the next slot of its schedule (weekly by default).

    With ``source_job_id`` the supplier and marketplace are the job's (on a several-marketplace job, the one
    asked, else its first). When a webhook URL comes without a secret one is generated; it is returned here
    once (second value) and never again.
    """
    _check(spec)
    supplier, marketplace, plan = spec.supplier_code, spec.marketplace, spec.provider_plan
    if spec.source_job_id:
        from code2asin.jobs.queries import visible_job

        job = visible_job(session, spec.source_job_id, suppliers)
        # a job on several marketplaces: the one asked for (one of the job's), else its first
        asked = (spec.marketplace or "").upper()
        if asked and asked not in job.marketplace_list:
            raise InvalidValueError(
                f"Job {job.id} ran on {', '.join(job.marketplace_list)}, not {asked}: choose one of those."
            )
        supplier, marketplace = job.supplier_code, asked or job.marketplace
        plan = plan or (job.provider_plan if job.provider_plan != "direct" else None)
    if not supplier:
        raise InvalidValueError("A tracker needs a supplier_code or a source_job_id.")
    if suppliers is not None and supplier not in suppliers:
        from code2asin.accounts.service import PermissionDeniedError

        raise PermissionDeniedError(f"This token may not create trackers for supplier {supplier}.")
    generated = None
    secret = spec.webhook_secret
    if spec.webhook_url and not secret:
        secret = generated = secrets.token_urlsafe(32)
    schedule = spec.schedule or DEFAULT_SCHEDULE
    tracker = Tracker(
        name=spec.name or f"{supplier} {marketplace or 'FR'}",
        supplier_code=supplier,
        marketplace=(marketplace or "FR").upper(),
        source_job_id=spec.source_job_id,
        provider_plan=plan or "sandbox",
        schedule=schedule,
        threshold_percent=spec.threshold_percent or DEFAULT_THRESHOLD_PERCENT,
        supplier_currency=spec.supplier_currency.upper() if spec.supplier_currency else None,
        status=TrackerStatus.ACTIVE,
        webhook_url=spec.webhook_url or None,
        webhook_secret=secret if spec.webhook_url else None,
        next_run_at=next_slot(schedule, now or utcnow()),
        created_by=actor,
    )
    session.add(tracker)
    session.flush()
    return tracker, generated


def get_tracker(session: Session, tracker_id: str, suppliers: frozenset[str] | None = None) -> Tracker:
    """The tracker, or ``NotFoundError`` when unknown or of a supplier the caller cannot see."""
    tracker = session.get(Tracker, tracker_id)
    if tracker is None or (suppliers is not None and tracker.supplier_code not in suppliers):
        raise NotFoundError(f"Tracker {tracker_id} does not exist.")
    return tracker


def list_trackers(
    session: Session,
    *,
    suppliers: frozenset[str] | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Tracker], int]:
    where: list[Any] = []
    if suppliers is not None:
        where.append(Tracker.supplier_code.in_(sorted(suppliers)))
    if status:
        where.append(Tracker.status == status)
    total = session.scalar(select(func.count(Tracker.id)).where(*where)) or 0
    rows = session.scalars(
        select(Tracker)
        .where(*where)
        .order_by(Tracker.created_at.desc(), Tracker.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def update_tracker(
    session: Session, tracker: Tracker, spec: TrackerSpec, *, now: datetime | None = None
) -> Tracker:
    """Change the given fields; a new schedule moves the next run to its next slot."""
    _check(spec)
    if spec.supplier_code or spec.source_job_id:
        raise InvalidValueError("A tracker's supplier and source job cannot change: create another tracker.")
    for name in ("name", "provider_plan", "threshold_percent"):
        value = getattr(spec, name)
        if value is not None:
            setattr(tracker, name, value)
    if spec.marketplace is not None:
        tracker.marketplace = spec.marketplace.upper()
    if spec.supplier_currency is not None:
        tracker.supplier_currency = spec.supplier_currency.upper() or None
    if spec.schedule is not None and spec.schedule != tracker.schedule:
        tracker.schedule = spec.schedule
        if tracker.status == TrackerStatus.ACTIVE:
            tracker.next_run_at = next_slot(spec.schedule, now or utcnow())
    if spec.webhook_url is not None:
        tracker.webhook_url = spec.webhook_url or None
        if not tracker.webhook_url:
            tracker.webhook_secret = None
    if spec.webhook_secret:
        tracker.webhook_secret = spec.webhook_secret
    return tracker


def pause_tracker(session: Session, tracker: Tracker) -> Tracker:
    if tracker.status == TrackerStatus.PAUSED:
        raise LifecycleError(f"Tracker {tracker.id} is already paused.")
    tracker.status = TrackerStatus.PAUSED
    tracker.next_run_at = None
    return tracker


def resume_tracker(session: Session, tracker: Tracker, *, now: datetime | None = None) -> Tracker:
    """Active again; the next run is the next slot from now (slots missed while paused do not run)."""
    if tracker.status == TrackerStatus.ACTIVE:
        raise LifecycleError(f"Tracker {tracker.id} is not paused.")
    tracker.status = TrackerStatus.ACTIVE
    tracker.next_run_at = next_slot(tracker.schedule, now or utcnow())
    return tracker


def delete_tracker(session: Session, tracker: Tracker) -> None:
    """Delete the tracker with its history, alerts and deliveries; its run jobs stay jobs."""
    if active_run(session, tracker) is not None:
        raise LifecycleError(f"Tracker {tracker.id} has a run in progress: cancel it first.")
    session.delete(tracker)


def active_run(session: Session, tracker: Tracker) -> str | None:
    if not tracker.last_job_id:
        return None
    status = session.scalar(select(Job.status).where(Job.id == tracker.last_job_id))
    return tracker.last_job_id if status in ACTIVE_JOB_STATUSES else None


def runs_of(session: Session, tracker: Tracker, limit: int = 50) -> list[Job]:
    """The tracker's runs (``reprice`` jobs), newest first."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.mode == REPRICE_MODE, Job.source_key == f"tracker:{tracker.id}")
            .order_by(Job.created_at.desc(), Job.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True, slots=True)
class TrackedProduct:
    gtin: str
    asin: str
    input_code: str
    code_type: str | None
    product_ean: str | None
    supplier_price: Decimal | None
    supplier_title: str | None


def tracked_products(session: Session, tracker: Tracker) -> list[TrackedProduct]:
    """The products a run looks at: matched rows of the source job, or of the supplier's newest jobs.

    One product per GTIN (the first row of the source job, or the newest job's row), with its supplier
    price from the input file's price column when there was one.
    """
    columns = (
        JobItem.gtin,
        JobItem.asin,
        JobItem.input_code,
        JobItem.code_type,
        JobItem.product_ean,
        JobItem.supplier_price,
        JobItem.supplier_title,
    )
    matched = (
        (JobItem.status == ItemStatus.MATCHED)
        & JobItem.asin.is_not(None)
        & JobItem.gtin.is_not(None)
        # a job on several marketplaces has one item per marketplace: the tracker's own
        & (JobItem.marketplace == tracker.marketplace)
    )
    if tracker.source_job_id:
        stmt = (
            select(*columns).where(JobItem.job_id == tracker.source_job_id, matched).order_by(JobItem.row_no)
        )
    else:
        stmt = (
            select(*columns)
            .join(Job, Job.id == JobItem.job_id)
            .where(
                Job.supplier_code == tracker.supplier_code,
                Job.mode != REPRICE_MODE,
                matched,
            )
            .order_by(Job.created_at.desc(), JobItem.row_no)
        )
    seen: dict[str, TrackedProduct] = {}
    for row in session.execute(stmt.execution_options(yield_per=5000)):
        if row.gtin not in seen:
            seen[row.gtin] = TrackedProduct(
                row.gtin,
                row.asin,
                row.input_code,
                row.code_type,
                row.product_ean,
                row.supplier_price,
                row.supplier_title,
            )
    return list(seen.values())


def product_titles(session: Session, tracker: Tracker, gtins: Sequence[str]) -> dict[str, str]:
    """A readable name for each of ``gtins`` (one page of the tracker's products): the Amazon title of the
    supplier's newest row with one on the tracker's marketplace, else the supplier file's title."""
    if not gtins:
        return {}
    rows = session.execute(
        select(JobItem.gtin, JobItem.amazon_title, JobItem.supplier_title)
        .join(Job, Job.id == JobItem.job_id)
        .where(
            Job.supplier_code == tracker.supplier_code,
            JobItem.gtin.in_(sorted(set(gtins))),
            JobItem.marketplace == tracker.marketplace,
            JobItem.amazon_title.is_not(None) | JobItem.supplier_title.is_not(None),
        )
        .order_by(Job.created_at.desc(), JobItem.id.desc())
    )
    titles: dict[str, str] = {}
    for gtin, amazon_title, supplier_title in rows:
        if gtin and gtin not in titles and (amazon_title or supplier_title):
            titles[gtin] = str(amazon_title or supplier_title)
    return titles


def start_run(
    session: Session,
    tracker: Tracker,
    actor: str | None,
    *,
    now: datetime | None = None,
    slot: datetime | None = None,
) -> RunStarted:
    """Create and start a ``reprice`` job over the tracker's products (one item per product).

    Raises ``LifecycleError`` while the tracker's previous run is still pending, processing or paused.
    The caller dispatches the job once committed when ``dispatch`` is true (a run with no product
    completes at once).
    """
    running = active_run(session, tracker)
    if running is not None:
        raise LifecycleError(f"Tracker {tracker.id} already has a run in progress (job {running}).")
    now = now or utcnow()
    products = tracked_products(session, tracker)
    job = Job(
        supplier_code=tracker.supplier_code,
        status=JobStatus.PENDING,
        mode=REPRICE_MODE,
        marketplace=tracker.marketplace,
        provider_plan=tracker.provider_plan,
        options={"tracker_id": tracker.id, "scheduled_for": (slot or now).isoformat()},
        source_filename=f"{tracker.name} (price tracking)",
        source_key=f"tracker:{tracker.id}",
        source_info={"tracker_id": tracker.id},
        total_codes=len(products),
        created_by=actor,
    )
    session.add(job)
    session.flush()
    session.add(JobEvent(job_id=job.id, event="created", actor=actor, to_status=JobStatus.PENDING))
    _insert_items(session, job.id, tracker.marketplace, products)
    tracker.last_job_id = job.id
    tracker.last_run_at = now
    result = jobs.start_job(session, job.id, actor)
    return RunStarted(job.id, result.dispatch)


def _insert_items(
    session: Session, job_id: str, marketplace: str, products: Sequence[TrackedProduct]
) -> None:
    table = JobItem.table()
    batch: list[dict[str, Any]] = []
    chunks: set[int] = set()
    for n, product in enumerate(products, start=1):
        chunk_no = (n - 1) // CHUNK_SIZE
        chunks.add(chunk_no)
        batch.append(
            {
                "job_id": job_id,
                "row_no": n,
                "marketplace": marketplace,
                "chunk_no": chunk_no,
                "input_code": product.input_code,
                "code_type": product.code_type,
                "gtin": product.gtin,
                "product_ean": product.product_ean,
                "status": ItemStatus.PENDING,
                "asin": product.asin,
                "input_asin": product.asin,
                "supplier_price": product.supplier_price,
                "supplier_title": product.supplier_title,
                "input_values": [],
                "attempts": 0,
            }
        )
        if len(batch) >= INSERT_BATCH:
            session.execute(table.insert(), batch)
            batch = []
    if batch:
        session.execute(table.insert(), batch)
    insert_chunks(session, job_id, chunks, [marketplace])
