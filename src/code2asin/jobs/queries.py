"""The read side of jobs: the job list, a job's details, timeline and duration, and the global and error
statistics, shaped like the seed's examples.

Every function is a handful of aggregate or paginated queries (never one query per row), so a page stays
fast on a job of 1,000,000 rows. ``suppliers`` scopes the caller: None sees every supplier, otherwise a
job of another supplier is reported missing (``NotFoundError``), as if it did not exist. Error statistics
count the *items* (a row once, in the class of its latest error, when it was updated within the period
and still carries an error), not the conversion logs, so ``stats/errors`` agrees with the tiles.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from code2asin.errors import ERROR_DESCRIPTIONS, RETRY_BACKOFF_MINUTES, ErrorType, NotFoundError
from code2asin.jobs.estimate import estimate_now
from code2asin.jobs.lifecycle import allowed_actions
from code2asin.jobs.models import Job, JobEvent, JobItem, JobStatus, utcnow
from code2asin.jobs.progress import live_progress
from code2asin.jobs.stats_snapshot import (
    job_availability,
    job_grid,
    statistics_by_marketplace,
    statistics_from_grid,
)

TIMELINE_LIMIT = 200


def _offset(page: int, per_page: int) -> int:
    return (max(page, 1) - 1) * per_page


def _supplier_filter(suppliers: frozenset[str] | None) -> list[ColumnElement[bool]]:
    return [] if suppliers is None else [Job.supplier_code.in_(sorted(suppliers))]


def visible_job(session: Session, job_id: str, suppliers: frozenset[str] | None) -> Job:
    """The job, or ``NotFoundError`` when it does not exist or belongs to a supplier the caller cannot see."""
    job = session.get(Job, job_id)
    if job is None or (suppliers is not None and job.supplier_code not in suppliers):
        raise NotFoundError(f"Job {job_id} does not exist.")
    return job


def list_jobs(
    session: Session,
    *,
    page: int = 1,
    per_page: int = 20,
    status: JobStatus | None = None,
    suppliers: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The seed's job list: ``items`` (newest first), ``total``, ``page``, ``per_page``."""
    where = _supplier_filter(suppliers)
    if status is not None:
        where.append(Job.status == status)
    total = session.scalar(select(func.count(Job.id)).where(*where)) or 0
    jobs = session.scalars(
        select(Job)
        .where(*where)
        .order_by(Job.created_at.desc(), Job.id)
        .offset(_offset(page, per_page))
        .limit(per_page)
    )
    items = [
        {
            "id": job.id,
            "supplier_code": job.supplier_code,
            "status": job.status,
            "total_codes": job.total_codes,
            "successful_conversions": job.successful_conversions,
            "failed_conversions": job.failed_conversions,
            "created_at": job.created_at,
            "completed_at": job.completed_at,
        }
        for job in jobs
    ]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def job_details(session: Session, job_id: str, suppliers: frozenset[str] | None = None) -> dict[str, Any]:
    """Everything the details page shows: counters, the 8 tiles' numbers, timeline, options, actions."""
    job = visible_job(session, job_id, suppliers)
    grid = job_grid(session, job)
    stats = statistics_from_grid(grid)
    marketplaces = job.marketplace_list
    events = session.scalars(
        select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id.desc()).limit(TIMELINE_LIMIT)
    )
    timeline = [
        {
            "at": e.at,
            "event": e.event,
            "actor": e.actor,
            "from_status": e.from_status,
            "to_status": e.to_status,
            "detail": e.detail,
        }
        for e in reversed(list(events))
    ]
    progress = round(job.processed_codes / job.total_codes * 100, 1) if job.total_codes else 0.0
    live = live_progress(session, job)
    processing = processing_seconds(session, job)
    return {
        "id": job.id,
        "supplier_code": job.supplier_code,
        "status": job.status,
        "mode": job.mode,
        "marketplace": job.marketplace,
        "marketplaces": marketplaces,
        "provider_plan": job.provider_plan,
        "plan_stages": plan_stages(job.provider_plan),
        "options": job.options or {},
        "source_filename": job.source_filename,
        "source_info": job.source_info or {},
        "total_codes": job.total_codes,
        "processed_codes": job.processed_codes,
        "successful_conversions": job.successful_conversions,
        "failed_conversions": job.failed_conversions,
        "progress_percent": progress,
        "retry_count": job.retry_count,
        "max_retries": job.max_retries,
        "error_message": job.error_message,
        "created_by": job.created_by,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "duration_seconds": processing,
        "looked_up_codes": live.looked_up,
        "enriched_codes": live.enriched,
        "provider_calls": job.provider_calls,
        "keepa_tokens": job.keepa_tokens,
        "estimate": estimate_now(job, live, processing),
        "elapsed_seconds": duration_seconds(job),
        "statistics": stats.as_dict(),
        "statistics_by_marketplace": {
            m: st.as_dict() for m, st in statistics_by_marketplace(grid, marketplaces).items()
        },
        "availability": job_availability(session, job),
        "timeline": timeline,
        "allowed_actions": [a.value for a in allowed_actions(job.status)],
    }


def plan_stages(plan: str) -> list[dict[str, str]]:
    """What each provider of ``plan`` does, for the Configuration tab (``[{"provider", "role"}]``)."""
    from code2asin.providers.plan import describe_plan

    return describe_plan(plan)


def job_timeline(session: Session, job_id: str) -> list[JobEvent]:
    return list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def duration_seconds(job: Job) -> float | None:
    """Wall time from the first start to the end (or now), pauses included."""
    if job.started_at is None:
        return None
    end = _aware(job.completed_at or utcnow())
    return (end - _aware(job.started_at)).total_seconds()


def processing_seconds(session: Session, job: Job, now: datetime | None = None) -> float | None:
    """The time the job spent processing: each span from a transition into ``processing`` to the next one
    out of it (pause, cancel, completion, failure), the open span counting up to ``now``. Paused and
    waiting-for-retry time is not in it. One query over the job's transitions."""
    if job.started_at is None:
        return None
    rows = session.execute(
        select(JobEvent.at, JobEvent.from_status, JobEvent.to_status)
        .where(
            JobEvent.job_id == job.id,
            (JobEvent.to_status == JobStatus.PROCESSING) | (JobEvent.from_status == JobStatus.PROCESSING),
        )
        .order_by(JobEvent.id)
    ).all()
    if not rows:
        return duration_seconds(job)
    total = 0.0
    since: datetime | None = None
    for at, before, after in rows:
        if after == JobStatus.PROCESSING and since is None:
            since = _aware(at)
        elif before == JobStatus.PROCESSING and after != JobStatus.PROCESSING and since is not None:
            total += (_aware(at) - since).total_seconds()
            since = None
    if since is not None:
        end = _aware(job.completed_at) if job.completed_at else _aware(now or utcnow())
        total += max(0.0, (end - since).total_seconds())
    return total


#: ``jobs.mode`` of a price-tracking run (``pricing.models.REPRICE_MODE``; jobs does not import pricing)
PRICE_RUN_MODE = "reprice"


def global_statistics(session: Session, *, suppliers: frozenset[str] | None = None) -> dict[str, Any]:
    """Totals over every visible conversion job, from the jobs' counters (one grouped query); the price
    tracking runs (which re-price known ASINs and would inflate the job count and the success rate) are
    counted apart in ``price_tracking``."""
    rows = session.execute(
        select(
            Job.mode,
            Job.status,
            func.count(Job.id),
            func.coalesce(func.sum(Job.total_codes), 0),
            func.coalesce(func.sum(Job.processed_codes), 0),
            func.coalesce(func.sum(Job.successful_conversions), 0),
            func.coalesce(func.sum(Job.failed_conversions), 0),
        )
        .where(*_supplier_filter(suppliers))
        .group_by(Job.mode, Job.status)
    ).all()
    by_status: dict[bool, dict[str, int]] = {k: {s.value: 0 for s in JobStatus} for k in (False, True)}
    sums: dict[bool, list[int]] = {False: [0, 0, 0, 0], True: [0, 0, 0, 0]}
    for mode, status, count, *values in rows:
        kind = mode == PRICE_RUN_MODE
        by_status[kind][status] += int(count)
        sums[kind] = [a + int(b) for a, b in zip(sums[kind], values, strict=True)]
    total_codes, processed, successful, failed = sums[False]
    run_codes, run_processed, run_priced, _ = sums[True]
    return {
        "total_jobs": sum(by_status[False].values()),
        "jobs_by_status": by_status[False],
        "total_codes": total_codes,
        "processed_codes": processed,
        "successful_conversions": successful,
        "failed_conversions": failed,
        "success_rate": round(successful / processed * 100, 2) if processed else 0.0,
        "price_tracking": {
            "runs": sum(by_status[True].values()),
            "runs_by_status": by_status[True],
            "total_codes": run_codes,
            "processed_codes": run_processed,
            "priced": run_priced,
        },
    }


def error_statistics(
    session: Session,
    *,
    days: int = 7,
    suppliers: frozenset[str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The seed's ``stats/errors``: rows whose latest error falls in the last ``days`` days, by class."""
    since = (now or utcnow()) - timedelta(days=days)
    stmt = (
        # count(*), not count(id): the partial index (updated_at, error_type) then answers alone
        select(JobItem.error_type, func.count())
        .where(JobItem.error_type.is_not(None), JobItem.updated_at >= since)
        .group_by(JobItem.error_type)
    )
    if suppliers is not None:
        stmt = stmt.join(Job, Job.id == JobItem.job_id).where(*_supplier_filter(suppliers))
    counts = {error_type.value: 0 for error_type in ErrorType}
    for error_type, count in session.execute(stmt).all():
        key = error_type if error_type in counts else ErrorType.UNKNOWN.value
        counts[key] += int(count)
    total = sum(counts.values())
    return {
        "period_days": days,
        "total_errors": total,
        "error_breakdown": {
            error_type.value: {
                "count": counts[error_type.value],
                "percentage": round(counts[error_type.value] / total * 100, 1) if total else 0.0,
                "description": ERROR_DESCRIPTIONS[error_type],
            }
            for error_type in ErrorType
        },
        "retry_backoff_schedule": list(RETRY_BACKOFF_MINUTES),
    }
