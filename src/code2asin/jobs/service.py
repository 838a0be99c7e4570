"""Job services: create a job from an input table, move it through its lifecycle, read its results.

Services take a SQLAlchemy ``Session`` (the caller's unit of work owns the commit) or a ``Database`` when
they must commit in steps (creating a 200,000-row job is written in batches so memory stays bounded).
They never import FastAPI, Celery or Jinja.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from code2asin import barcodes
from code2asin.db import Database
from code2asin.errors import ErrorType, IngestError, NotFoundError
from code2asin.export import format_list
from code2asin.ingest import InputRow, InputTable
from code2asin.jobs.lifecycle import JobAction, target_status
from code2asin.jobs.models import (
    ChunkStatus,
    ConversionLog,
    ItemStatus,
    Job,
    JobChunk,
    JobEvent,
    JobItem,
    JobMode,
    JobStatus,
    utcnow,
)

CHUNK_SIZE = 100
INSERT_BATCH = 5000


@dataclass(frozen=True, slots=True)
class JobOptions:
    """Per-job options (the seed's import options plus marketplace, plan and threshold)."""

    download_images: bool = False
    max_images_per_product: int = 10
    image_mode: str = "replace"
    confidence_threshold: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class NewJob:
    supplier_code: str
    mode: JobMode
    marketplace: str
    provider_plan: str
    source_filename: str
    options: JobOptions = field(default_factory=JobOptions)
    source_key: str | None = None
    actor: str | None = None


ProgressCallback = Callable[[int], None]


def _item_from_row(job_id: str, row: InputRow, mode: JobMode) -> dict[str, Any]:
    parsed = barcodes.parse_code(row.code_value)
    item: dict[str, Any] = {
        "job_id": job_id,
        "row_no": row.row_no,
        "chunk_no": (row.row_no - 1) // CHUNK_SIZE,
        "input_code": parsed.raw,
        "code_type": parsed.code_type.value if parsed.code_type else None,
        "gtin": parsed.gtin,
        "product_ean": parsed.product_ean,
        "status": ItemStatus.PENDING,
        "asin": None,
        "match_type": None,
        "match_confidence": None,
        "supplier_title": row.title,
        "supplier_price": row.price,
        "supplier_sku": row.sku,
        "input_asin": row.asin,
        "input_values": list(row.values),
        "error_type": None,
        "error_message": parsed.message,
        "attempts": 0,
    }
    if not parsed.valid:
        item["status"] = ItemStatus.INVALID
        item["error_type"] = ErrorType.INVALID_DATA
        return item
    if mode is JobMode.DIRECT:
        asin = barcodes.normalise_asin(row.asin) if row.asin else None
        if asin is None:
            item["status"] = ItemStatus.INVALID
            item["error_type"] = ErrorType.INVALID_DATA
            shown = (row.asin or "").strip()
            item["error_message"] = (
                "No ASIN on this row: direct mode needs an ASIN next to each code."
                if not shown
                else f"ASIN {shown!r} is not valid: an ASIN has 10 characters, B0 followed by 8 letters or "
                f"digits, or an ISBN-10 for books."
            )
        else:
            item["status"] = ItemStatus.MATCHED
            item["asin"] = asin
            item["match_type"] = "manual"
            item["match_confidence"] = 1.0
    return item


def create_job(
    db: Database, table: InputTable, new: NewJob, on_progress: ProgressCallback | None = None
) -> str:
    """Create a job and one item per input data row; returns the job id.

    Rows are parsed and written in batches of ``INSERT_BATCH``. In direct mode each row's result is final
    at once (conflicting pairs for one code are flagged on every row involved). In Amazon mode valid rows
    wait in ``pending`` and are grouped in chunks of ``CHUNK_SIZE`` rows.
    """
    if new.mode is JobMode.DIRECT and table.columns.asin is None:
        raise IngestError(
            f"Direct mode needs an ASIN column next to the codes, and {table.path.name} has none: "
            f"the headers "
            f"are {', '.join(repr(h) for h in table.headers)}."
        )
    with db.unit_of_work() as session:
        job = Job(
            supplier_code=new.supplier_code,
            status=JobStatus.PENDING,
            mode=new.mode,
            marketplace=new.marketplace,
            provider_plan=new.provider_plan if new.mode is JobMode.AMAZON else "direct",
            options=new.options.as_dict(),
            source_filename=new.source_filename,
            source_key=new.source_key,
            source_info=table_info(table),
            created_by=new.actor,
        )
        session.add(job)
        session.flush()
        job_id = job.id
        session.add(JobEvent(job_id=job_id, event="created", actor=new.actor, to_status=JobStatus.PENDING))

    total = 0
    pending_chunks: set[int] = set()
    asins_by_gtin: dict[str, set[str]] = {}
    batch: list[dict[str, Any]] = []
    table_items = JobItem.table()
    try:
        for row in table.rows():
            item = _item_from_row(job_id, row, new.mode)
            if item["status"] == ItemStatus.PENDING:
                pending_chunks.add(item["chunk_no"])
            elif new.mode is JobMode.DIRECT and item["asin"]:
                asins_by_gtin.setdefault(item["gtin"], set()).add(item["asin"])
            batch.append(item)
            total += 1
            if len(batch) >= INSERT_BATCH:
                with db.unit_of_work() as session:
                    session.execute(table_items.insert(), batch)
                batch = []
                if on_progress:
                    on_progress(total)
        if batch:
            with db.unit_of_work() as session:
                session.execute(table_items.insert(), batch)
    except Exception:
        with db.unit_of_work() as session:
            session.execute(Job.table().delete().where(Job.table().c.id == job_id))
        raise
    if on_progress:
        on_progress(total)

    with db.unit_of_work() as session:
        conflicts = {g: a for g, a in asins_by_gtin.items() if len(a) > 1}
        if conflicts:
            _flag_direct_conflicts(session, job_id, conflicts)
        if pending_chunks:
            session.execute(
                JobChunk.table().insert(),
                [
                    {
                        "job_id": job_id,
                        "chunk_no": n,
                        "first_row": n * CHUNK_SIZE + 1,
                        "last_row": (n + 1) * CHUNK_SIZE,
                        "status": ChunkStatus.PENDING,
                        "attempts": 0,
                    }
                    for n in sorted(pending_chunks)
                ],
            )
        session.execute(update(Job).where(Job.id == job_id).values(total_codes=total))
    return job_id


def _flag_direct_conflicts(session: Session, job_id: str, conflicts: dict[str, set[str]]) -> None:
    rows = session.execute(
        select(JobItem.id, JobItem.gtin, JobItem.row_no, JobItem.asin)
        .where(
            JobItem.job_id == job_id, JobItem.gtin.in_(list(conflicts)), JobItem.status == ItemStatus.MATCHED
        )
        .order_by(JobItem.row_no)
    ).all()
    by_gtin: dict[str | None, list[tuple[int, str | None]]] = {}
    for _id, gtin, row_no, asin in rows:
        by_gtin.setdefault(gtin, []).append((row_no, asin))
    updates = []
    for item_id, gtin, _row_no, _asin in rows:
        pairs = "; ".join(f"row {r}: {a}" for r, a in by_gtin[gtin])
        updates.append(
            {
                "id": item_id,
                "status": ItemStatus.INVALID,
                "asin": None,
                "match_type": None,
                "match_confidence": None,
                "error_type": ErrorType.INVALID_DATA,
                "error_message": f"Conflicting ASINs for this code ({pairs}): keep one pair and import "
                "again.",
            }
        )
    session.execute(update(JobItem), updates)


def table_info(table: InputTable) -> dict[str, Any]:
    columns = table.columns
    return {
        "format": table.file_format,
        "sheet": table.sheet_name,
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "header_row": table.header_row,
        "headers": list(table.headers),
        "columns": {
            "code": columns.code,
            "title": columns.title,
            "price": columns.price,
            "sku": columns.sku,
            "asin": columns.asin,
        },
    }


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"Job {job_id} does not exist.")
    return job


def transition(
    session: Session,
    job: Job,
    action: JobAction,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Job:
    """Apply ``action`` to ``job`` (raises ``LifecycleError`` when illegal) and record a timeline event."""
    before = job.status
    after = target_status(action, before)
    now = utcnow()
    if after is not None:
        job.status = after
        if action is JobAction.START and job.started_at is None:
            job.started_at = now
        if after in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
            job.completed_at = now
        if action is JobAction.RETRY:
            job.completed_at = None
            job.error_message = None
    session.add(
        JobEvent(
            job_id=job.id, event=action.value, actor=actor, from_status=before, to_status=after, detail=detail
        )
    )
    return job


def refresh_counters(session: Session, job: Job) -> None:
    """Recompute the job's counters from its items (so they always add up)."""
    counts = dict(
        session.execute(
            select(JobItem.status, func.count()).where(JobItem.job_id == job.id).group_by(JobItem.status)
        ).all()
    )
    job.total_codes = sum(counts.values())
    job.processed_codes = job.total_codes - counts.get(ItemStatus.PENDING, 0)
    job.successful_conversions = counts.get(ItemStatus.MATCHED, 0)
    job.failed_conversions = job.processed_codes - job.successful_conversions


def log_event(session: Session, job_id: str, **values: Any) -> None:
    session.add(ConversionLog(job_id=job_id, **values))


def _candidate_text(candidate: dict[str, Any]) -> str:
    kind = candidate.get("match_type") or "no match"
    score = candidate.get("score")
    reasons = "; ".join(candidate.get("reasons") or [])
    head = f"{kind} {score:.2f}" if isinstance(score, int | float) else kind
    return f"{candidate.get('asin')} ({head}{'; ' + reasons if reasons else ''})".replace("|", "/")


def export_rows(session: Session, job_id: str) -> Iterator[dict[str, Any]]:
    """The job's result rows in input order, shaped for ``export.write_results`` (streamed)."""
    stmt = (
        select(JobItem)
        .where(JobItem.job_id == job_id)
        .order_by(JobItem.row_no)
        .execution_options(yield_per=2000)
    )
    for item in session.scalars(stmt):
        diff = None
        if item.amazon_price is not None and item.supplier_price:
            diff = round(float((item.amazon_price - item.supplier_price) / item.supplier_price * 100), 2)
        yield {
            "row": item.row_no,
            "input_code": item.input_code,
            "code_type": item.code_type,
            "gtin": item.gtin,
            "product_ean": item.product_ean,
            "status": item.status,
            "asin": item.asin,
            "match_type": item.match_type,
            "match_confidence": item.match_confidence,
            "amazon_title": item.amazon_title,
            "amazon_brand": item.amazon_brand,
            "amazon_price": item.amazon_price,
            "amazon_currency": item.amazon_currency,
            "amazon_rating": item.amazon_rating,
            "amazon_review_count": item.amazon_review_count,
            "amazon_sales_rank": item.amazon_sales_rank,
            "amazon_images": format_list(item.amazon_images),
            "stored_images": format_list(item.stored_images),
            "detail_page_url": item.detail_page_url,
            "candidate_asins": format_list(_candidate_text(c) for c in item.candidates or ()),
            "supplier_price": item.supplier_price,
            "price_difference_percent": diff,
            "error_type": item.error_type,
            "error_message": item.error_message,
            "input_values": item.input_values,
        }


def job_timeline(session: Session, job_id: str) -> list[JobEvent]:
    return list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))


def duration_seconds(job: Job) -> float | None:
    if job.started_at is None:
        return None
    end: datetime = job.completed_at or utcnow()
    start = job.started_at
    if start.tzinfo is None:
        start = start.replace(tzinfo=end.tzinfo)
    if end.tzinfo is None:
        end = end.replace(tzinfo=start.tzinfo)
    return (end - start).total_seconds()
