"""Job services: create a job from an input table, move it through its lifecycle, read its results.

Services take a SQLAlchemy ``Session`` (the caller's unit of work owns the commit) or a ``Database`` when
they must commit in steps (creating a 200,000-row job is written in batches so memory stays bounded).
They never import FastAPI, Celery or Jinja.

Actions (``start_job`` ... ``validate_item``) go through ``transition`` so each is a timeline event with its
actor; they raise ``NotFoundError``, ``LifecycleError`` (illegal transition) or ``InvalidValueError``. The
caller commits, then dispatches the job when the action says so (``ActionResult.dispatch``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from code2asin import barcodes
from code2asin.db import Database
from code2asin.errors import Code2AsinError, ErrorType, IngestError, LifecycleError, NotFoundError
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
from code2asin.jobs.stats import job_counters
from code2asin.match_review import price_difference_percent

CHUNK_SIZE = 100
INSERT_BATCH = 5000


class InvalidValueError(Code2AsinError):
    """A value given by the caller is not acceptable (an ASIN, an option, a permission name)."""


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
    #: a job on several marketplaces lists them all here (``marketplace`` is then the first)
    marketplaces: Sequence[str] = ()

    def marketplace_list(self) -> list[str]:
        """The job's marketplaces in order, without repeats (``marketplace`` alone when none listed)."""
        return list(dict.fromkeys(m.upper() for m in (self.marketplaces or [self.marketplace])))


ProgressCallback = Callable[[int], None]


def _item_from_row(job_id: str, row: InputRow, mode: JobMode) -> dict[str, Any]:
    parsed = barcodes.parse_code(row.code_value)
    item: dict[str, Any] = {
        "job_id": job_id,
        "row_no": row.row_no,
        "marketplace": None,  # set per marketplace by ``create_job``
        "chunk_no": (row.row_no - 1) // CHUNK_SIZE,
        "field_sources": None,
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
        "input_values": list(row.cells),
        "error_type": None,
        "error_message": parsed.message,
        "review_flags": None,
        "duplicate_of": None,
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


def _mark_duplicate(item: dict[str, Any], first_rows: dict[str, int]) -> None:
    """Set ``duplicate_of`` on a row whose code an earlier row of the file already had."""
    if item["gtin"] is not None:
        first = first_rows.setdefault(item["gtin"], item["row_no"])
        item["duplicate_of"] = first if first != item["row_no"] else None


def _checked_marketplaces(table: InputTable, new: NewJob) -> list[str]:
    """The new job's marketplaces, once its mode and file are known to fit (else a one-sentence error)."""
    marketplaces = new.marketplace_list()
    if new.mode is JobMode.DIRECT and len(marketplaces) > 1:
        raise InvalidValueError(
            "Direct mode imports the ASINs of one marketplace: choose one marketplace, not "
            f"{', '.join(marketplaces)}."
        )
    if new.mode is JobMode.DIRECT and table.columns.asin is None:
        raise IngestError(
            f"Direct mode needs an ASIN column next to the codes, and {table.path.name} has none: "
            f"the headers "
            f"are {', '.join(repr(h) for h in table.headers)}."
        )
    return marketplaces


def _insert_job(db: Database, table: InputTable, new: NewJob, marketplaces: list[str]) -> str:
    """The job's own row and its "created" event; returns its id."""
    with db.unit_of_work() as session:
        job = Job(
            supplier_code=new.supplier_code,
            status=JobStatus.PENDING,
            mode=new.mode,
            marketplace=marketplaces[0],
            marketplaces=marketplaces if len(marketplaces) > 1 else None,
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
    return job_id


def create_job(
    db: Database, table: InputTable, new: NewJob, on_progress: ProgressCallback | None = None
) -> str:
    """Create a job and one item per input data row; returns the job id.

    Rows are parsed and written in batches of ``INSERT_BATCH``. In direct mode each row's result is final
    at once (conflicting pairs for one code are flagged on every row involved). In Amazon mode valid rows
    wait in ``pending`` and are grouped in chunks of ``CHUNK_SIZE`` rows.

    A job on several marketplaces gets one item per row and marketplace; chunk ``n * M + k`` holds rows
    ``n*100+1 .. (n+1)*100`` on the ``k``-th of its ``M`` marketplaces, so the marketplaces of a row are
    looked up side by side and the first rows are complete early.
    """
    marketplaces = _checked_marketplaces(table, new)
    job_id = _insert_job(db, table, new, marketplaces)

    total = ended = matched = 0
    pending_chunks: set[int] = set()
    asins_by_gtin: dict[str, set[str]] = {}
    batch: list[dict[str, Any]] = []
    table_items = JobItem.table()
    per_row = len(marketplaces)
    first_rows: dict[str, int] = {}  # a code's first row: its repeats say which row they repeat
    try:
        for row in table.rows():
            item = _item_from_row(job_id, row, new.mode)
            _mark_duplicate(item, first_rows)
            if item["status"] == ItemStatus.PENDING:
                pending_chunks.update(item["chunk_no"] * per_row + k for k in range(per_row))
            else:
                ended += per_row
                matched += per_row * (item["status"] == ItemStatus.MATCHED)
                if new.mode is JobMode.DIRECT and item["asin"]:
                    asins_by_gtin.setdefault(item["gtin"], set()).add(item["asin"])
            for k, marketplace in enumerate(marketplaces):
                one = item if k == per_row - 1 else dict(item)
                one["marketplace"] = marketplace
                one["chunk_no"] = item["chunk_no"] * per_row + k
                batch.append(one)
            total += per_row
            if len(batch) >= INSERT_BATCH:
                with db.unit_of_work() as session:
                    session.execute(table_items.insert(), batch)
                batch = []
                if on_progress:
                    on_progress(total)
        if batch:
            with db.unit_of_work() as session:
                session.execute(table_items.insert(), batch)
        if not total:
            raise IngestError(
                f"{new.source_filename} has a header row but no data row: there is nothing to convert."
            )
    except Exception:
        with db.unit_of_work() as session:
            session.execute(Job.table().delete().where(Job.table().c.id == job_id))
        raise
    if on_progress:
        on_progress(total)

    with db.unit_of_work() as session:
        conflicts = {g: a for g, a in asins_by_gtin.items() if len(a) > 1}
        if conflicts:
            matched -= _flag_direct_conflicts(session, job_id, conflicts)
        insert_chunks(session, job_id, pending_chunks, marketplaces)
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                total_codes=total,
                processed_codes=ended,
                successful_conversions=matched,
                failed_conversions=ended - matched,
            )
        )
    return job_id


def insert_chunks(
    session: Session, job_id: str, chunk_numbers: Iterable[int], marketplaces: Sequence[str]
) -> None:
    """Create the pending chunks ``chunk_numbers`` of a job on ``marketplaces`` (see ``create_job``):
    chunk ``c`` holds rows ``n*100+1 .. (n+1)*100`` on marketplace ``k`` where ``c = n * M + k``."""
    per_row = len(marketplaces)
    rows = [
        {
            "job_id": job_id,
            "chunk_no": c,
            "marketplace": marketplaces[c % per_row],
            "first_row": (c // per_row) * CHUNK_SIZE + 1,
            "last_row": (c // per_row + 1) * CHUNK_SIZE,
            "status": ChunkStatus.PENDING,
            "attempts": 0,
        }
        for c in sorted(set(chunk_numbers))
    ]
    if rows:
        session.execute(JobChunk.table().insert(), rows)


def _flag_direct_conflicts(session: Session, job_id: str, conflicts: dict[str, set[str]]) -> int:
    """Turn every row of a conflicting (code, ASIN) pair into ``invalid``; returns how many rows."""
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
    return len(updates)


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
    for name, value in job_counters(session, job.id).items():
        setattr(job, name, value)


def log_event(session: Session, job_id: str, **values: Any) -> None:
    session.add(ConversionLog(job_id=job_id, **values))


def _candidate_text(candidate: dict[str, Any]) -> str:
    kind = candidate.get("match_type") or "no match"
    score = candidate.get("score")
    reasons = "; ".join(candidate.get("reasons") or [])
    head = f"{kind} {score:.2f}" if isinstance(score, int | float) else kind
    return f"{candidate.get('asin')} ({head}{'; ' + reasons if reasons else ''})".replace("|", "/")


_EXPORT_COLUMNS = (
    JobItem.row_no,
    JobItem.marketplace,
    JobItem.input_code,
    JobItem.code_type,
    JobItem.gtin,
    JobItem.product_ean,
    JobItem.status,
    JobItem.asin,
    JobItem.match_type,
    JobItem.match_confidence,
    JobItem.amazon_title,
    JobItem.amazon_brand,
    JobItem.amazon_price,
    JobItem.amazon_currency,
    JobItem.amazon_rating,
    JobItem.amazon_review_count,
    JobItem.amazon_sales_rank,
    JobItem.amazon_images,
    JobItem.stored_images,
    JobItem.detail_page_url,
    JobItem.candidates,
    JobItem.supplier_price,
    JobItem.error_type,
    JobItem.error_message,
    JobItem.input_values,
)


def export_rows(session: Session, job_id: str) -> Iterator[dict[str, Any]]:
    """The job's result rows in input order, shaped for ``export.write_results`` (streamed)."""
    stmt = (
        select(*_EXPORT_COLUMNS)
        .where(JobItem.job_id == job_id)
        .order_by(JobItem.row_no, JobItem.marketplace)
        .execution_options(yield_per=5000)
    )
    for r in session.execute(stmt):
        yield {
            "row": r.row_no,
            "marketplace": r.marketplace,
            "input_code": r.input_code,
            "code_type": r.code_type,
            "gtin": r.gtin,
            "product_ean": r.product_ean,
            "status": r.status,
            "asin": r.asin,
            "match_type": r.match_type,
            "match_confidence": r.match_confidence,
            "amazon_title": r.amazon_title,
            "amazon_brand": r.amazon_brand,
            "amazon_price": r.amazon_price,
            "amazon_currency": r.amazon_currency,
            "amazon_rating": r.amazon_rating,
            "amazon_review_count": r.amazon_review_count,
            "amazon_sales_rank": r.amazon_sales_rank,
            "amazon_images": format_list(r.amazon_images),
            "stored_images": format_list(r.stored_images),
            "detail_page_url": r.detail_page_url,
            "candidate_asins": format_list(_candidate_text(c) for c in r.candidates or ()),
            "supplier_price": r.supplier_price,
            "price_difference_percent": price_difference_percent(r.amazon_price, r.supplier_price),
            "error_type": r.error_type,
            "error_message": r.error_message,
            "input_values": r.input_values,
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


# -- actions -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The job after an action; ``dispatch`` says whether its chunks must be run once committed."""

    job: Job
    dispatch: bool = False


def _has_open_chunks(session: Session, job_id: str) -> bool:
    return bool(
        session.scalar(
            select(func.count(JobChunk.id)).where(
                JobChunk.job_id == job_id, JobChunk.status != ChunkStatus.DONE
            )
        )
    )


def _run_or_complete(session: Session, job: Job, actor: str | None) -> ActionResult:
    # a job with nothing to look up (direct mode, or every row final) completes at once: no worker needed
    if _has_open_chunks(session, job.id):
        return ActionResult(job, dispatch=True)
    refresh_counters(session, job)
    transition(session, job, JobAction.COMPLETE, actor=actor)
    return ActionResult(job)


def start_job(session: Session, job_id: str, actor: str | None = None) -> ActionResult:
    """pending -> processing (or straight on to completed when nothing is left to look up)."""
    job = transition(session, get_job(session, job_id), JobAction.START, actor=actor)
    return _run_or_complete(session, job, actor)


def pause_job(session: Session, job_id: str, actor: str | None = None) -> ActionResult:
    """processing -> paused; workers see it between provider calls and give their rows back."""
    return ActionResult(transition(session, get_job(session, job_id), JobAction.PAUSE, actor=actor))


def resume_job(session: Session, job_id: str, actor: str | None = None) -> ActionResult:
    """paused -> processing."""
    job = transition(session, get_job(session, job_id), JobAction.RESUME, actor=actor)
    return _run_or_complete(session, job, actor)


def cancel_job(session: Session, job_id: str, actor: str | None = None) -> ActionResult:
    """pending/processing/paused -> cancelled; finished rows keep their results."""
    job = transition(session, get_job(session, job_id), JobAction.CANCEL, actor=actor)
    refresh_counters(session, job)
    return ActionResult(job)


def retry_job(
    session: Session, job_id: str, actor: str | None = None, *, reset_retry_counter: bool = False
) -> ActionResult:
    """failed/cancelled -> pending, counting the retry (or resetting the counter to 0).

    Rows that ended ``failed`` with a retryable error (not ``invalid_data``) go back to ``pending`` with
    their attempts reset, and their chunks with them. Raises ``LifecycleError`` when ``retry_count`` has
    reached ``max_retries`` and the counter is not reset.
    """
    job = get_job(session, job_id)
    if not reset_retry_counter and job.retry_count >= job.max_retries:
        raise LifecycleError(
            f"Cannot retry job {job.id}: it was retried {job.retry_count} times, the limit is "
            f"{job.max_retries}; retry with reset_retry_counter=true to start the count again."
        )
    transition(
        session, job, JobAction.RETRY, actor=actor, detail={"reset_retry_counter": reset_retry_counter}
    )
    job.retry_count = 0 if reset_retry_counter else job.retry_count + 1
    retryable = (JobItem.job_id == job.id) & (JobItem.status == ItemStatus.FAILED)
    retryable &= JobItem.error_type.is_distinct_from(ErrorType.INVALID_DATA)
    chunk_nos = select(JobItem.chunk_no).where(retryable).distinct().scalar_subquery()
    session.execute(
        update(JobChunk)
        .where(JobChunk.job_id == job.id, JobChunk.chunk_no.in_(chunk_nos))
        .values(
            status=ChunkStatus.PENDING,
            attempts=0,
            next_attempt_at=None,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(JobItem)
        .where(retryable)
        .values(
            status=ItemStatus.PENDING, attempts=0, next_attempt_at=None, error_type=None, error_message=None
        )
        .execution_options(synchronize_session=False)
    )
    refresh_counters(session, job)
    return ActionResult(job)


def delete_job(session: Session, job_id: str, actor: str | None = None) -> str | None:
    """Delete a job that is not processing, with its rows, logs and timeline (database cascade).

    Returns the key of the stored source file so the caller removes it once the deletion is committed
    (``delete_job_and_source`` does both).
    """
    job = transition(session, get_job(session, job_id), JobAction.DELETE, actor=actor)
    source_key = job.source_key
    session.execute(Job.table().delete().where(Job.table().c.id == job.id))
    session.expunge(job)
    return source_key


class _Deletable(Protocol):
    def delete(self, key: str) -> None: ...


def delete_job_and_source(db: Database, storage: _Deletable, job_id: str, actor: str | None = None) -> None:
    """``delete_job`` in its own unit of work, then remove the stored source file."""
    with db.unit_of_work() as session:
        source_key = delete_job(session, job_id, actor)
    if source_key:
        storage.delete(source_key)


def validate_item(
    session: Session,
    job_id: str,
    asin: str,
    actor: str | None,
    *,
    row_no: int | None = None,
    item_id: int | None = None,
    marketplace: str | None = None,
) -> JobItem:
    """Set a row's ASIN by hand: match_type ``manual``, confidence 1.0, status matched, logged.

    The row is named by ``row_no`` (1-based input row) or ``item_id``; on a job with several marketplaces a
    ``row_no`` needs its ``marketplace``. Raises ``InvalidValueError`` on a malformed ASIN or a missing or
    foreign marketplace, ``NotFoundError`` on an unknown row, ``LifecycleError`` while the job is processing.
    """
    job = get_job(session, job_id)
    if job.status == JobStatus.PROCESSING:
        raise LifecycleError(f"Cannot validate a row of job {job.id} while it is processing: pause it first.")
    normalised = barcodes.normalise_asin(asin)
    if normalised is None:
        raise InvalidValueError(
            f"ASIN {asin!r} is not valid: an ASIN has 10 characters, B0 followed by 8 letters or digits, "
            "or an ISBN-10 for books."
        )
    where = [JobItem.job_id == job.id]
    where.append(JobItem.row_no == row_no if item_id is None else JobItem.id == item_id)
    marketplaces = job.marketplace_list
    if item_id is None:
        chosen = (marketplace or (marketplaces[0] if len(marketplaces) == 1 else "")).upper()
        if chosen not in marketplaces:
            raise InvalidValueError(
                f"Job {job.id} runs on {', '.join(marketplaces)}: say which marketplace row {row_no}'s ASIN "
                "belongs to."
                if not chosen
                else f"Job {job.id} runs on {', '.join(marketplaces)}, not {chosen}."
            )
        where.append(JobItem.marketplace == chosen)
    item = session.scalar(select(JobItem).where(*where))
    if item is None:
        raise NotFoundError(f"Job {job.id} has no row {row_no if item_id is None else item_id}.")
    previous = item.asin
    item.asin = normalised
    item.match_type = "manual"
    item.match_confidence = 1.0
    item.status = ItemStatus.MATCHED
    item.field_sources = {"asin": f"manual:{actor or 'unknown'}"}
    item.error_type = None
    item.error_message = None
    item.review_flags = None
    item.next_attempt_at = None
    log_event(
        session,
        job.id,
        row_no=item.row_no,
        marketplace=item.marketplace,
        input_code=item.input_code,
        code_type=item.code_type,
        previous_asin=previous,
        new_asin=normalised,
        change_reason="manual",
        confidence_score=1.0,
        actor=actor,
        level="info",
        message=f"Validated by hand by {actor or 'an unknown actor'}.",
    )
    session.flush()
    refresh_counters(session, job)
    return item
