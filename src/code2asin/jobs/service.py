"""Job actions: move a job through its lifecycle, validate or reject a row by hand, delete a job.

Services take a SQLAlchemy ``Session`` (the caller's unit of work owns the commit); they never import
FastAPI, Celery or Jinja. Actions (``start_job`` ... ``delete_job``) go through ``transition`` so each is a
timeline event with its actor; row actions (``validate_item``, ``reject_item``) are conversion-log events
and remembered decisions (``jobs.decisions``). They raise ``NotFoundError``, ``LifecycleError`` (illegal
transition) or ``InvalidValueError``. The caller commits, then dispatches the job when the action says so
(``ActionResult.dispatch``). Creating a job is ``jobs.creation``; reading it is ``jobs.queries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from code2asin import barcodes
from code2asin.db import Database
from code2asin.errors import ErrorType, InvalidValueError, LifecycleError, NotFoundError
from code2asin.jobs.decisions import ACCEPTED, REJECTED, code_key, remember
from code2asin.jobs.lifecycle import JobAction, target_status
from code2asin.jobs.models import (
    ChunkStatus,
    ConversionLog,
    ItemStatus,
    Job,
    JobChunk,
    JobEvent,
    JobItem,
    JobStatus,
    utcnow,
)
from code2asin.jobs.rows import RESULT_FIELDS
from code2asin.jobs.stats import job_counters


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


def resume_job(
    session: Session,
    job_id: str,
    actor: str | None = None,
    *,
    max_calls: int | None = None,
    max_keepa_tokens: int | None = None,
) -> ActionResult:
    """paused -> processing; a new ``max_calls`` / ``max_keepa_tokens`` replaces the job's cap (0: none)."""
    job = get_job(session, job_id)
    asked = (("max_calls", max_calls), ("max_keepa_tokens", max_keepa_tokens))
    caps = {k: v for k, v in asked if v is not None}
    job = transition(session, job, JobAction.RESUME, actor=actor, detail=caps or None)
    if caps:
        job.options = {**(job.options or {}), **{k: v or None for k, v in caps.items()}}
    job.error_message = None  # a paused job's message is the reason it paused
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


def _editable_job(session: Session, job_id: str, verb: str) -> Job:
    job = get_job(session, job_id)
    if job.status == JobStatus.PROCESSING:
        raise LifecycleError(f"Cannot {verb} a row of job {job.id} while it is processing: pause it first.")
    return job


def _find_item(
    session: Session, job: Job, row_no: int | None, item_id: int | None, marketplace: str | None
) -> JobItem:
    """The row named by ``item_id``, or by ``row_no`` and ``marketplace`` (implied on a single-market job)."""
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
    return item


def _remember(
    session: Session, job: Job, item: JobItem, asin: str, decision: str, actor: str | None, *, title: bool
) -> None:
    """Remember ``decision`` on ``asin`` for the row's code (``title``: the row's Amazon title is ASIN's)."""
    remember(
        session,
        supplier_code=job.supplier_code,
        code_key=code_key(item.gtin, item.input_code),
        asin=asin,
        decision=decision,
        actor=actor,
        job_id=job.id,
        row_no=item.row_no,
        input_code=item.input_code,
        supplier_title=item.supplier_title,
        amazon_title=item.amazon_title if title else None,
    )


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
    ``row_no`` needs its ``marketplace``. The ASIN is remembered ``accepted`` for the job's supplier and the
    row's code, and a different ASIN the row had before ``rejected`` (``jobs.decisions``). Raises
    ``InvalidValueError`` on a malformed ASIN or a missing or foreign marketplace, ``NotFoundError`` on an
    unknown row, ``LifecycleError`` while the job is processing.
    """
    job = _editable_job(session, job_id, "validate")
    normalised = barcodes.normalise_asin(asin)
    if normalised is None:
        raise InvalidValueError(
            f"ASIN {asin!r} is not valid: an ASIN has 10 characters, B0 followed by 8 letters or digits, "
            "or an ISBN-10 for books."
        )
    item = _find_item(session, job, row_no, item_id, marketplace)
    previous = item.asin
    if previous and previous != normalised:
        _remember(session, job, item, previous, REJECTED, actor, title=True)
    _remember(session, job, item, normalised, ACCEPTED, actor, title=previous == normalised)
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
        message=manual_log_message(actor),
    )
    session.flush()
    refresh_counters(session, job)
    return item


def manual_log_message(actor: str | None) -> str:
    """The conversion-log line of a hand validation."""
    return f"Validated by hand by {actor or 'an unknown actor'}."


#: what a rejected match said about the product; cleared with the ASIN (they describe that ASIN)
_AMAZON_FIELDS = (*(column for column in RESULT_FIELDS if column != "asin"), "stored_images")


def reject_item(
    session: Session,
    job_id: str,
    actor: str | None,
    *,
    row_no: int | None = None,
    item_id: int | None = None,
    marketplace: str | None = None,
) -> JobItem:
    """Say a row's ASIN is not its product: the row becomes ``not_found`` with the reason, logged, and the
    ASIN is remembered ``rejected`` for the job's supplier and the row's code (``jobs.decisions``).

    The ASIN, match type, confidence, review flags and the Amazon data of that ASIN are cleared; the
    candidates stay. The row is named as in ``validate_item``. Raises ``InvalidValueError`` when the row has
    no ASIN (or on a missing or foreign marketplace), ``NotFoundError`` on an unknown row,
    ``LifecycleError`` while the job is processing.
    """
    job = _editable_job(session, job_id, "reject")
    item = _find_item(session, job, row_no, item_id, marketplace)
    previous = item.asin
    if not previous:
        raise InvalidValueError(f"Row {item.row_no} of job {job.id} has no ASIN to reject.")
    _remember(session, job, item, previous, REJECTED, actor, title=True)
    message = rejected_message(actor, previous)
    item.status = ItemStatus.NOT_FOUND
    item.asin = None
    item.match_type = None
    item.match_confidence = None
    item.review_flags = None
    item.error_type = None
    item.error_message = message
    item.next_attempt_at = None
    item.field_sources = None
    for name in _AMAZON_FIELDS:
        setattr(item, name, None)
    log_event(
        session,
        job.id,
        row_no=item.row_no,
        marketplace=item.marketplace,
        input_code=item.input_code,
        code_type=item.code_type,
        previous_asin=previous,
        new_asin=None,
        change_reason="rejected",
        actor=actor,
        level="info",
        message=message,
    )
    session.flush()
    refresh_counters(session, job)
    return item


def rejected_message(actor: str | None, asin: str) -> str:
    """The reason on a rejected row (and its log line); the web UI translates it (``web.reasons``)."""
    return f"Rejected by {actor or 'an unknown actor'}: {asin} is not this product."
