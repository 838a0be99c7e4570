"""A job's statistics grid: one grouped scan of its rows, kept in ``jobs.stats_snapshot`` while current.

The grid gives the tiles *and* the filtered totals of the results page. A job whose rows no longer change
keeps it with a fingerprint, the newest ``updated_at`` of its rows (one probe of the index
``(job_id, updated_at)``); a read uses the snapshot only while the fingerprint still matches, so a manual
validation, a retry or a stored image makes the next read recompute it. ``store_stats_snapshot`` writes
it (call it when a job ends or a row is validated); on PostgreSQL the first read of a job that is not
processing fills it, in a short transaction of its own that gives up after 200 ms rather than wait.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import JSON, case, column, func, select, table, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from code2asin.jobs.models import ItemStatus, Job, JobItem, JobStatus
from code2asin.jobs.stats import JobStatistics
from code2asin.match_review import REVIEW_SUPPLIER_ASIN

SNAPSHOT_VERSION = 3
#: ``jobs.stats_snapshot`` (migration 0003), reached through Core so the read side owns it
_jobs_snapshot = table("jobs", column("id"), column("stats_snapshot", JSON(none_as_null=True)))

log = logging.getLogger(__name__)

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

