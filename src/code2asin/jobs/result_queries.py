"""A job's rows as the pages and the export read them: one page of results, one page of logs, and every
result row streamed for ``export.write_results``.

A page is one query for its ids (an index-only walk) then one for those rows, never one per row; the
filtered totals come from the statistics grid (``jobs.stats_snapshot``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from code2asin.errors import InvalidValueError
from code2asin.export import format_list
from code2asin.jobs.models import ConversionLog, ItemStatus, JobItem
from code2asin.jobs.queries import _offset, visible_job
from code2asin.jobs.stats_snapshot import GridRow, job_grid, statistics_from_grid
from code2asin.match_review import price_difference_percent

UrlFor = Callable[[str], str | None]
#: the results' sortable columns: input row (the default), status, confidence, price difference
RESULT_SORTS: dict[str, Any] = {
    "row": JobItem.row_no,
    # the order the status filter lists them in: found, not found, invalid, failed, still pending
    "status": case(
        {s: n for n, s in enumerate(("matched", "not_found", "invalid", "failed", "pending"))},
        value=JobItem.status,
        else_=9,
    ),
    "confidence": JobItem.match_confidence,
    "price_difference": (JobItem.amazon_price - JobItem.supplier_price)
    / func.nullif(JobItem.supplier_price, 0),
}


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
        "supplier_price": float(item.supplier_price) if item.supplier_price is not None else None,
        "price_difference_percent": price_difference_percent(item.amazon_price, item.supplier_price),
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
    order_by: tuple[str, bool] | None = None,
) -> dict[str, Any]:
    """The seed's results: the job's tiles (over every row) and one page of rows in input order (or by
    ``order_by``: one of ``RESULT_SORTS`` and whether descending; rows without the value come last).

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
    order: tuple[Any, ...] = (
        (JobItem.row_no,) if len(marketplaces) == 1 else (JobItem.row_no, JobItem.marketplace)
    )
    if order_by is not None and order_by[0] in RESULT_SORTS and order_by[0] != "row":
        column = RESULT_SORTS[order_by[0]]
        order = ((column.desc() if order_by[1] else column.asc()).nulls_last(), *order)
    elif order_by is not None and order_by[1]:
        order = tuple(c.desc() for c in order)
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

