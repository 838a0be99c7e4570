"""The read side of jobs: lists, details, results, logs and statistics, shaped like the seed's examples.

Every function is a handful of aggregate or paginated queries (never one query per row), so a page stays
fast on a job of 1,000,000 rows. ``suppliers`` scopes the caller: None sees every supplier, otherwise a
job of another supplier is reported missing (``NotFoundError``), as if it did not exist.

Statistics of a 1,000,000-row job: one grouped scan of its rows gives the tiles *and* the filtered
totals of the results page (``_grid``). A job whose rows no longer change keeps that grid in
``jobs.stats_snapshot`` with a fingerprint, the newest ``updated_at`` of its rows (one probe of the index
``(job_id, updated_at)``); a read uses the snapshot only while the fingerprint still matches, so a manual
validation, a retry or a stored image makes the next read recompute it. The tiles always add up because
they come from the same grid either way. The snapshot is written by ``store_stats_snapshot`` (call it
when a job ends or a row is validated) and, on PostgreSQL, filled by the first read of a job that is not
processing, in a short transaction of its own that gives up after 200 ms rather than wait on a lock.

Error statistics count the *items* (the rows' last error), not the conversion logs: a row counts once,
in the class of its latest error, when it was updated within the period and still carries an error
(failed, invalid, or pending a scheduled retry). That keeps ``stats/errors`` consistent with the tiles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ColumnElement, case, column, func, select, table, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from code2asin.errors import ERROR_DESCRIPTIONS, RETRY_BACKOFF_MINUTES, ErrorType, NotFoundError
from code2asin.jobs.lifecycle import allowed_actions
from code2asin.jobs.models import ConversionLog, ItemStatus, Job, JobEvent, JobItem, JobStatus, utcnow
from code2asin.jobs.service import InvalidValueError, duration_seconds
from code2asin.jobs.stats import JobStatistics
from code2asin.match_review import REVIEW_SUPPLIER_ASIN

TIMELINE_LIMIT = 200
UrlFor = Callable[[str], str | None]
SNAPSHOT_VERSION = 3
#: ``jobs.stats_snapshot`` (migration 0003), reached through Core so the read side owns it
_jobs_snapshot = table("jobs", column("id"), column("stats_snapshot", JSON(none_as_null=True)))

log = logging.getLogger(__name__)

# -- statistics: one grouped scan, cached while the rows do not change ------------------------------------

#: one grid row: marketplace, status, match_type, has_asin, has_images, has_price, rows, confidence sum,
#: confidences, needs review, supplier ASIN differs
GridRow = list[Any]


def _grid_query(job_id: str) -> Any:
    has_asin = (JobItem.status == ItemStatus.MATCHED) & JobItem.asin.is_not(None)
    flag_asin = case((has_asin, 1), else_=0)
    # stored_images is NULL unless at least one image was stored (never an empty list)
    flag_images = case((JobItem.stored_images.is_not(None), 1), else_=0)
    flag_price = case((JobItem.amazon_price.is_not(None), 1), else_=0)
    flag_review = case((JobItem.review_flags.is_not(None), 1), else_=0)
    flag_differs = case((JobItem.review_flags.contains(REVIEW_SUPPLIER_ASIN), 1), else_=0)
    return (
        select(
            JobItem.marketplace,
            JobItem.status,
            JobItem.match_type,
            flag_asin,
            flag_images,
            flag_price,
            func.count(),
            func.sum(JobItem.match_confidence),
            func.count(JobItem.match_confidence),
            func.max(JobItem.updated_at),
            flag_review,
            flag_differs,
        )
        .where(JobItem.job_id == job_id)
        .group_by(
            JobItem.marketplace,
            JobItem.status,
            JobItem.match_type,
            flag_asin,
            flag_images,
            flag_price,
            flag_review,
            flag_differs,
        )
    )


def _grid(session: Session, job_id: str) -> tuple[list[GridRow], str | None]:
    """The job's rows counted by (marketplace, status, match_type, has ASIN, has images, has price, needs
    review, supplier ASIN differs), and the fingerprint.

    One statement, so the fingerprint (newest ``updated_at``) and the counts come from one snapshot.
    """
    grid: list[GridRow] = []
    newest: Any = None
    result: list[Any] = list(session.execute(_grid_query(job_id)))
    for marketplace, status, match_type, a, i, p, rows, conf_sum, conf_count, changed, r, d in result:
        grid.append(
            [
                marketplace,
                status,
                match_type,
                int(a),
                int(i),
                int(p),
                int(rows),
                float(conf_sum or 0),
                int(conf_count),
                int(r),
                int(d),
            ]
        )
        if changed is not None and (newest is None or changed > newest):
            newest = changed
    return grid, None if newest is None else str(newest)


def _fingerprint(session: Session, job_id: str) -> str | None:
    newest = session.scalar(select(func.max(JobItem.updated_at)).where(JobItem.job_id == job_id))
    return None if newest is None else str(newest)


def statistics_from_grid(grid: list[GridRow], marketplace: str | None = None) -> JobStatistics:
    """The tiles from the grid (the same definitions as ``jobs.stats.job_statistics``), over every
    marketplace or over ``marketplace`` only."""
    counts = dict.fromkeys(("matched", "not_found", "invalid", "failed", "pending"), 0)
    total = with_asin = with_images = with_price = 0
    by_match = dict.fromkeys(("exact", "partial", "fuzzy", "manual"), 0)
    conf_sum = 0.0
    conf_count = 0
    needs_review = asin_differs = 0
    for row in grid:
        market, status, match_type, has_asin, has_images, has_price, rows, c_sum, c_count = row[:9]
        review, differs = row[9], row[10]
        if marketplace is not None and market != marketplace:
            continue
        total += rows
        if status in counts:
            counts[status] += rows
        if has_asin:
            with_asin += rows
            with_images += rows if has_images else 0
            with_price += rows if has_price else 0
            if match_type in by_match:
                by_match[match_type] += rows
            conf_sum += c_sum
            conf_count += c_count
            needs_review += rows if review else 0
            asin_differs += rows if differs else 0
    return JobStatistics(
        total=total,
        **counts,
        with_asin=with_asin,
        with_images=with_images,
        with_price=with_price,
        exact_matches=by_match["exact"],
        partial_matches=by_match["partial"],
        fuzzy_matches=by_match["fuzzy"],
        manual_matches=by_match["manual"],
        needs_review=needs_review,
        asin_differs=asin_differs,
        avg_confidence=round(conf_sum / conf_count, 4) if conf_count else None,
    )


def statistics_by_marketplace(grid: list[GridRow], marketplaces: list[str]) -> dict[str, JobStatistics]:
    """The tiles of each of ``marketplaces`` (in that order) from one grid."""
    return {m: statistics_from_grid(grid, m) for m in marketplaces}


def _filtered_total(
    grid: list[GridRow],
    match_type: str | None,
    status: str | None,
    marketplace: str | None = None,
    needs_review: bool | None = None,
) -> int:
    return sum(
        row[6]
        for row in grid
        if (match_type is None or row[2] == match_type)
        and (status is None or row[1] == status)
        and (marketplace is None or row[0] == marketplace)
        and (needs_review is None or bool(row[9] and row[3]) == needs_review)
    )


def store_stats_snapshot(session: Session, job_id: str) -> JobStatistics:
    """Compute the job's statistics grid (and, on several marketplaces, its "available on" summary) and
    keep them in ``jobs.stats_snapshot``; returns the tiles.

    Call it in the unit of work that ends a job or changes a finished job's rows (the caller commits).
    """
    grid, fingerprint = _grid(session, job_id)
    job = session.get(Job, job_id)
    availability = _availability(session, job) if job is not None else None
    _write_snapshot(session, job_id, _snapshot_value(grid, fingerprint, availability))
    return statistics_from_grid(grid)


def _snapshot_value(
    grid: list[GridRow], fingerprint: str | None, availability: dict[str, Any] | None
) -> dict[str, Any]:
    value: dict[str, Any] = {"version": SNAPSHOT_VERSION, "fingerprint": fingerprint, "grid": grid}
    if availability is not None:
        value["availability"] = availability
    return value


def _write_snapshot(session: Session, job_id: str, value: dict[str, Any]) -> None:
    session.execute(update(_jobs_snapshot).where(_jobs_snapshot.c.id == job_id).values(stats_snapshot=value))


def _fill_snapshot_aside(
    session: Session, job: Job, grid: list[GridRow], fingerprint: str | None
) -> None:
    """Keep a freshly computed snapshot for the next reads, in a short transaction of its own (PostgreSQL).

    A read session is never committed, and a GET must not wait on a writer: the write gives up after
    200 ms and a failure only means the next read computes the grid again.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    value = _snapshot_value(grid, fingerprint, _availability(session, job))
    job_id = job.id
    try:
        with Session(bind=bind.engine if hasattr(bind, "engine") else bind) as aside, aside.begin():
            aside.execute(text("SET LOCAL lock_timeout = '200ms'"))
            aside.execute(text("SET LOCAL statement_timeout = '2s'"))
            _write_snapshot(aside, job_id, value)
    except SQLAlchemyError as exc:
        log.info("job.stats.snapshot_skipped", extra={"job_id": job_id, "reason": type(exc).__name__})


def _current_snapshot(session: Session, job: Job) -> dict[str, Any] | None:
    """The job's stored snapshot while its rows have not changed since (never for a processing job)."""
    if job.status == JobStatus.PROCESSING:
        return None
    snapshot = session.scalar(select(_jobs_snapshot.c.stats_snapshot).where(_jobs_snapshot.c.id == job.id))
    if (
        isinstance(snapshot, dict)
        and snapshot.get("version") == SNAPSHOT_VERSION
        and snapshot.get("fingerprint") == _fingerprint(session, job.id)
    ):
        return snapshot
    return None


def job_grid(session: Session, job: Job) -> list[GridRow]:
    """The job's statistics grid: from its snapshot while the fingerprint matches, else computed live."""
    snapshot = _current_snapshot(session, job)
    if snapshot is not None:
        return list(snapshot.get("grid") or [])
    grid, fingerprint = _grid(session, job.id)
    if job.status != JobStatus.PROCESSING:
        _fill_snapshot_aside(session, job, grid, fingerprint)
    return grid


def job_availability(session: Session, job: Job) -> dict[str, Any] | None:
    """For a job on several marketplaces, the "available on" summary (from the snapshot while current);
    None for a one-marketplace job."""
    if len(job.marketplace_list) < 2:
        return None
    snapshot = _current_snapshot(session, job)
    if snapshot is not None and isinstance(snapshot.get("availability"), dict):
        return dict(snapshot["availability"])
    return _availability(session, job)


def _availability(session: Session, job: Job) -> dict[str, Any] | None:
    """The "available on" summary computed from the items; None for a one-marketplace job.

    ``rows``: input rows; ``on_every_marketplace`` / ``on_some_marketplaces`` / ``on_no_marketplace``: rows
    matched on all, some or none of the job's marketplaces; ``by_count``: rows per number of marketplaces
    (``{"0": .., "1": .., ...}``). One grouped query over the job's items.
    """
    marketplaces = job.marketplace_list
    if len(marketplaces) < 2:
        return None
    per_row = (
        select(
            JobItem.row_no,
            func.sum(case((JobItem.status == ItemStatus.MATCHED, 1), else_=0)).label("n"),
        )
        .where(JobItem.job_id == job.id)
        .group_by(JobItem.row_no)
        .subquery()
    )
    by_count: dict[int, int] = {}
    counted: list[tuple[Any, Any]] = [
        (n, found) for n, found in session.execute(select(per_row.c.n, func.count()).group_by(per_row.c.n))
    ]
    for n, rows_found in counted:
        by_count[int(n or 0)] = int(rows_found)
    rows = sum(by_count.values())
    every = by_count.get(len(marketplaces), 0)
    none = by_count.get(0, 0)
    return {
        "rows": rows,
        "marketplaces": marketplaces,
        "on_every_marketplace": every,
        "on_some_marketplaces": rows - every - none,
        "on_no_marketplace": none,
        "by_count": {str(k): by_count.get(k, 0) for k in range(len(marketplaces) + 1)},
    }


def current_statistics(session: Session, job: Job) -> JobStatistics:
    """The job's tiles (see ``job_grid``)."""
    return statistics_from_grid(job_grid(session, job))


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
        "duration_seconds": duration_seconds(job),
        "statistics": stats.as_dict(),
        "statistics_by_marketplace": {
            m: st.as_dict() for m, st in statistics_by_marketplace(grid, marketplaces).items()
        },
        "availability": job_availability(session, job),
        "timeline": timeline,
        "allowed_actions": [a.value for a in allowed_actions(job.status)],
    }


def result_item(item: JobItem, url_for: UrlFor) -> dict[str, Any]:
    return {
        "id": item.id,
        "row": item.row_no,
        "marketplace": item.marketplace,
        "product_ean": item.product_ean,
        "input_code": item.input_code,
        "code_type": item.code_type,
        "asin": item.asin,
        "amazon_title": item.amazon_title,
        "amazon_brand": item.amazon_brand,
        "match_confidence": item.match_confidence,
        "match_type": item.match_type,
        "amazon_price": float(item.amazon_price) if item.amazon_price is not None else None,
        "amazon_currency": item.amazon_currency,
        "amazon_rating": item.amazon_rating,
        "amazon_review_count": item.amazon_review_count,
        "amazon_sales_rank": item.amazon_sales_rank,
        "amazon_images": list(item.amazon_images or []),
        "stored_images": [{"key": key, "url": url_for(key)} for key in item.stored_images or []],
        "detail_page_url": item.detail_page_url,
        "status": item.status,
        "error_type": item.error_type,
        "error_message": item.error_message,
        "candidates": list(item.candidates or []),
        "field_sources": dict(item.field_sources or {}),
        "needs_review": bool(item.review_flags) and item.status == ItemStatus.MATCHED,
        "review_flags": item.review_flags.split(",") if item.review_flags else [],
        "duplicate_of": item.duplicate_of,
    }


def results_page(
    session: Session,
    job_id: str,
    *,
    url_for: UrlFor,
    suppliers: frozenset[str] | None = None,
    match_type: str | None = None,
    status: str | None = None,
    marketplace: str | None = None,
    needs_review: bool | None = None,
    page: int = 1,
    limit: int = 50,
) -> dict[str, Any]:
    """The seed's results: the job's tiles (over every row) and one page of rows in input order.

    ``total`` is the job's row count (the seed's meaning); ``filtered_total`` counts the rows that match
    the filters. ``url_for`` turns a stored image key into a URL (``Storage.url``). A job on several
    marketplaces has one result per row and marketplace, in (row, marketplace) order; ``marketplace``
    keeps one of them, and the tiles are then that marketplace's. ``needs_review`` keeps the matched
    rows a person should check (or, False, the others).
    """
    job = visible_job(session, job_id, suppliers)
    grid = job_grid(session, job)
    marketplaces = job.marketplace_list
    if marketplace is not None and marketplace not in marketplaces:
        raise InvalidValueError(
            f"Job {job.id} runs on {', '.join(marketplaces)}, not {marketplace}: choose one of those."
        )
    stats = statistics_from_grid(grid, marketplace)
    where: list[ColumnElement[bool]] = [JobItem.job_id == job.id]
    if marketplace is not None:
        where.append(JobItem.marketplace == marketplace)
    if match_type is not None:
        where.append(JobItem.match_type == match_type)
    if status is not None:
        where.append(JobItem.status == status)
    if needs_review is not None:
        flagged = (
            (JobItem.status == ItemStatus.MATCHED)
            & JobItem.asin.is_not(None)
            & JobItem.review_flags.is_not(None)
        )
        where.append(flagged if needs_review else ~flagged)
    filtered = _filtered_total(grid, match_type, status, marketplace, needs_review)
    # The page's ids first (an index-only walk of (job_id, match_type|status, row_no) INCLUDE id on
    # PostgreSQL), then only those rows: a deep OFFSET skips index entries, not table rows.
    # one marketplace: input order alone, so the filtered walks stay on the (job, filter, row) indexes
    order = (JobItem.row_no,) if len(marketplaces) == 1 else (JobItem.row_no, JobItem.marketplace)
    page_ids = (
        select(JobItem.id).where(*where).order_by(*order).offset(_offset(page, limit)).limit(limit).subquery()
    )
    rows = list(session.scalars(select(JobItem).join(page_ids, JobItem.id == page_ids.c.id).order_by(*order)))
    available = (
        _in_job_order(_available_on(session, job.id, [r.row_no for r in rows]), marketplaces)
        if len(marketplaces) > 1
        else {}
    )
    items = []
    for item in rows:
        result = result_item(item, url_for)
        if len(marketplaces) > 1:
            result["available_on"] = available.get(item.row_no, [])
        items.append(result)
    return {
        "job_id": job.id,
        "job_status": job.status,
        "total": stats.total,
        "with_asin": stats.with_asin,
        "with_images": stats.with_images,
        "with_price": stats.with_price,
        "exact_matches": stats.exact_matches,
        "fuzzy_matches": stats.fuzzy_matches,
        "partial_matches": stats.partial_matches,
        "manual_matches": stats.manual_matches,
        "avg_confidence": stats.avg_confidence,
        "needs_review": stats.needs_review,
        "asin_differs": stats.asin_differs,
        "filtered_total": filtered,
        "page": page,
        "limit": limit,
        "marketplaces": marketplaces,
        "items": items,
    }


def _available_on(session: Session, job_id: str, rows: list[int]) -> dict[int, list[str]]:
    """The marketplaces each of ``rows`` is matched on (one query for the page)."""
    found: dict[int, list[str]] = {}
    if not rows:
        return found
    stmt = (
        select(JobItem.row_no, JobItem.marketplace)
        .where(JobItem.job_id == job_id, JobItem.row_no.in_(sorted(set(rows))))
        .where(JobItem.status == ItemStatus.MATCHED)
        .order_by(JobItem.row_no, JobItem.marketplace)
    )
    for row_no, marketplace in session.execute(stmt):
        found.setdefault(row_no, []).append(marketplace)
    return found


def _in_job_order(found: dict[int, list[str]], marketplaces: list[str]) -> dict[int, list[str]]:
    order = {m: k for k, m in enumerate(marketplaces)}
    return {row: sorted(ms, key=lambda m: order.get(m, len(order))) for row, ms in found.items()}


def plan_stages(plan: str) -> list[dict[str, str]]:
    """What each provider of ``plan`` does, for the Configuration tab (``[{"provider", "role"}]``)."""
    from code2asin.providers.plan import describe_plan

    return describe_plan(plan)


def logs_page(
    session: Session,
    job_id: str,
    *,
    suppliers: frozenset[str] | None = None,
    level: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """The job's conversion logs (the seed's log shape), oldest first, optionally one level only."""
    job = visible_job(session, job_id, suppliers)
    where: list[ColumnElement[bool]] = [ConversionLog.job_id == job.id]
    if level is not None:
        where.append(ConversionLog.level == level)
    total = session.scalar(select(func.count(ConversionLog.id)).where(*where)) or 0
    logs = session.scalars(
        select(ConversionLog)
        .where(*where)
        .order_by(ConversionLog.id)
        .offset(_offset(page, per_page))
        .limit(per_page)
    )
    items = [
        {
            "id": log.id,
            "timestamp": log.timestamp,
            "level": log.level,
            "row": log.row_no,
            "input_code": log.input_code,
            "code_type": log.code_type,
            "previous_asin": log.previous_asin,
            "new_asin": log.new_asin,
            "change_reason": log.change_reason,
            "confidence_score": log.confidence_score,
            "processing_time_ms": log.processing_time_ms,
            "api_response": log.api_response,
            "error_type": log.error_type,
            "message": log.message,
            "actor": log.actor,
        }
        for log in logs
    ]
    return {"job_id": job.id, "items": items, "total": total, "page": page, "per_page": per_page}


def global_statistics(session: Session, *, suppliers: frozenset[str] | None = None) -> dict[str, Any]:
    """Totals over every visible job, from the jobs' counters (one grouped query)."""
    rows = session.execute(
        select(
            Job.status,
            func.count(Job.id),
            func.coalesce(func.sum(Job.total_codes), 0),
            func.coalesce(func.sum(Job.processed_codes), 0),
            func.coalesce(func.sum(Job.successful_conversions), 0),
            func.coalesce(func.sum(Job.failed_conversions), 0),
        )
        .where(*_supplier_filter(suppliers))
        .group_by(Job.status)
    ).all()
    by_status = {status.value: 0 for status in JobStatus}
    total_codes = processed = successful = failed = 0
    for status, count, codes, done, ok, ko in rows:
        by_status[status] = int(count)
        total_codes += int(codes)
        processed += int(done)
        successful += int(ok)
        failed += int(ko)
    return {
        "total_jobs": sum(by_status.values()),
        "jobs_by_status": by_status,
        "total_codes": total_codes,
        "processed_codes": processed,
        "successful_conversions": successful,
        "failed_conversions": failed,
        "success_rate": round(successful / processed * 100, 2) if processed else 0.0,
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
