"""The job details page (``/code2asin/{id}/details``): tiles, timeline, actions, tabs, live progress.

A job on several marketplaces (issue #8) also shows each marketplace's tiles and the "available on"
summary, and its results tab filters by marketplace and says on which marketplaces each row was found.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from code2asin.accounts.models import Permission
from code2asin.jobs import queries, result_queries
from code2asin.jobs.models import JobStatus
from code2asin.web.core import UI, Page, actor_label, current_page
from code2asin.web.numbers import number, percent
from code2asin.web.paging import page_number, pager, sort_order, with_query

PageDep = Annotated[Page, Depends(current_page)]
TABS = ("results", "logs", "configuration")
MATCH_TYPES = ("exact", "partial", "fuzzy", "manual")
ROW_STATUSES = ("matched", "not_found", "invalid", "failed", "pending")
LOG_LEVELS = ("debug", "info", "warning", "error")
RESULTS_PER_PAGE = 25
LOGS_PER_PAGE = 50
ACTIVE = frozenset({JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.PAUSED})
#: (tile id, catalogue key, statistics field)
TILES = (
    ("total", "tile.total", "total"),
    ("with_asin", "tile.with_asin", "with_asin"),
    ("with_images", "tile.with_images", "with_images"),
    ("with_price", "tile.with_price", "with_price"),
    ("exact", "tile.exact", "exact_matches"),
    ("fuzzy", "tile.fuzzy", "fuzzy_matches"),
    ("partial", "tile.partial", "partial_matches"),
    ("avg_confidence", "tile.avg_confidence", "avg_confidence"),
    ("needs_review", "tile.needs_review", "needs_review"),
    ("asin_differs", "tile.asin_differs", "asin_differs"),
)
#: result fields in the order their sources are listed (``JobItem.field_sources`` keys)
SOURCE_FIELDS = (
    "asin",
    "amazon_title",
    "amazon_brand",
    "amazon_price",
    "amazon_currency",
    "amazon_rating",
    "amazon_review_count",
    "amazon_sales_rank",
    "amazon_images",
    "detail_page_url",
)
MANUAL_SOURCE = "manual:"


def tile_values(statistics: dict[str, Any], lang: str) -> dict[str, str]:
    """The tiles' shown values, by tile id, written the page language's way."""
    values: dict[str, str] = {}
    for tile_id, _key, name in TILES:
        raw = statistics.get(name)
        if tile_id == "avg_confidence":
            values[tile_id] = percent(None if raw is None else raw * 100, lang)
        else:
            values[tile_id] = number(raw or 0, lang)
    return values


def live_percent(job: dict[str, Any]) -> float:
    """The bar moves with each provider call: a row counts half once looked up, whole once enriched."""
    total = job["total_codes"]
    if not total:
        return 0.0
    return float(round(min((job["looked_up_codes"] + job["enriched_codes"]) / 2 / total * 100, 100.0), 1))


def several_marketplaces(job: dict[str, Any]) -> bool:
    return len(job["marketplaces"]) > 1


def _fragments(page: Page, job: dict[str, Any]) -> dict[str, Any]:
    """What both the page and the live endpoint render: tiles (all and per marketplace), progress, actions,
    timeline."""
    by_marketplace = job["statistics_by_marketplace"] if several_marketplaces(job) else {}
    return page.context(
        job=job,
        tiles=TILES,
        tile_values=tile_values(job["statistics"], page.t.lang),
        several=several_marketplaces(job),
        live_percent=live_percent(job),
        market_tiles={m: tile_values(stats, page.t.lang) for m, stats in by_marketplace.items()},
    )


def _image_url(page: Page, job_id: str, item: dict[str, Any]) -> str | None:
    for index, stored in enumerate(item["stored_images"]):
        if stored["url"]:
            return str(stored["url"])
        path = f"{UI}/jobs/{job_id}/rows/{item['row']}/images/{index}"
        return page.url(f"{path}?{urlencode({'marketplace': item['marketplace']})}")
    images = item["amazon_images"]
    return str(images[0]) if images else None


def field_sources(page: Page, sources: dict[str, str]) -> list[tuple[str, list[str]]]:
    """``{"amazon_title": "spapi", "amazon_price": "creators"}`` as ``[("spapi", ["title"]), ("creators",
    ["price"])]``: each provider (in the order it first appears along ``SOURCE_FIELDS``) with the fields it
    gave, named in the page's language; a manual validation reads ``manual (user:alice)``."""
    order = {name: n for n, name in enumerate(SOURCE_FIELDS)}
    grouped: dict[str, list[str]] = {}
    for name in sorted(sources, key=lambda f: (order.get(f, len(order)), f)):
        provider = str(sources[name])
        if provider.startswith(MANUAL_SOURCE):
            who = actor_label(page.t, provider[len(MANUAL_SOURCE) :])
            provider = page.t("results.source.manual", actor=who)
        label = page.t(f"field.{name}") if name in order else name
        grouped.setdefault(provider, []).append(label)
    return list(grouped.items())


def _results_tab(page: Page, job: dict[str, Any], scope: frozenset[str] | None) -> dict[str, Any]:
    params = page.request.query_params
    match_type = params.get("match_type") if params.get("match_type") in MATCH_TYPES else None
    status = params.get("status") if params.get("status") in ROW_STATUSES else None
    review = {"1": True, "0": False}.get(params.get("needs_review") or "")
    wanted = (params.get("marketplace") or "").strip().upper()
    marketplace = wanted if several_marketplaces(job) and wanted in job["marketplaces"] else None
    number = page_number(params.get("page"))
    sort = sort_order(page.request, tuple(result_queries.RESULT_SORTS), "row")
    with page.web.db.sessions() as session:
        results = result_queries.results_page(
            session,
            job["id"],
            url_for=page.web.storage.url,
            suppliers=scope,
            match_type=match_type,
            status=status,
            marketplace=marketplace,
            needs_review=review,
            page=number,
            limit=RESULTS_PER_PAGE,
            order_by=(sort.key, sort.descending),
        )
    for item in results["items"]:
        item["thumbnail"] = _image_url(page, job["id"], item)
        item["sources"] = field_sources(page, item["field_sources"])
        item["reason"] = item["error_message"]
    return {
        "results": results,
        "match_types": MATCH_TYPES,
        "row_statuses": ROW_STATUSES,
        "match_type": match_type or "",
        "row_status": status or "",
        "needs_review_filter": {True: "1", False: "0"}.get(review, "") if review is not None else "",
        "marketplace_filter": marketplace or "",
        "sort": sort,
        "request_sort": params.get("sort", ""),
        "pager": pager(page.request, total=results["filtered_total"], page=number, per_page=RESULTS_PER_PAGE),
    }


def _logs_tab(page: Page, job_id: str, scope: frozenset[str] | None) -> dict[str, Any]:
    params = page.request.query_params
    level = params.get("level") if params.get("level") in LOG_LEVELS else None
    number = page_number(params.get("page"))
    with page.web.db.sessions() as session:
        logs = result_queries.logs_page(
            session, job_id, suppliers=scope, level=level, page=number, per_page=LOGS_PER_PAGE
        )
    return {
        "logs": logs,
        "levels": LOG_LEVELS,
        "level": level or "",
        "pager": pager(page.request, total=logs["total"], page=number, per_page=LOGS_PER_PAGE),
    }


def details(page: PageDep, job_id: str, tab: str = "results") -> Response:
    principal = page.require(Permission.READ)
    tab = tab if tab in TABS else "results"
    with page.web.db.sessions() as session:
        job = queries.job_details(session, job_id, principal.supplier_scope)
    extra: dict[str, Any] = {}
    if tab == "results":
        extra = _results_tab(page, job, principal.supplier_scope)
    elif tab == "logs":
        extra = _logs_tab(page, job_id, principal.supplier_scope)
    tab_urls = {
        name: with_query(
            page.request, tab=name, page=None,
            match_type=None,
            status=None,
            level=None,
            marketplace=None,
            needs_review=None,
            sort=None,
        )
        for name in TABS
    }
    context = _fragments(page, job)
    context.update(
        extra,
        tab=tab,
        tabs=TABS,
        tab_urls=tab_urls,
        live_url=page.url(f"{UI}/jobs/{job_id}/live"),
        active=job["status"] in ACTIVE,
    )
    return page.render("details.html", **context)


def live(page: PageDep, job_id: str) -> Response:
    """The small JSON the details page polls: status, progress, tiles and the re-rendered fragments."""
    principal = page.require(Permission.READ)
    with page.web.db.sessions() as session:
        job = queries.job_details(session, job_id, principal.supplier_scope)
    context = _fragments(page, job)
    body = {
        "status": job["status"],
        "status_label": page.t(f"status.{job['status']}"),
        "active": job["status"] in ACTIVE,
        "processed": job["processed_codes"],
        "total": job["total_codes"],
        "progress_percent": job["progress_percent"],
        "progress_text": page.t(
            "details.processed", processed=job["processed_codes"], total=job["total_codes"]
        ),
        "tiles": context["tile_values"],
        "marketplace_tiles": context["market_tiles"],
        "marketplaces_html": page.web.fragment("_marketplaces.html", context) if context["several"] else None,
        "actions_html": page.web.fragment("_actions.html", context),
        "meter_html": page.web.fragment("_meter.html", context),
        "live_percent": context["live_percent"],
        "timeline_html": page.web.fragment("_timeline.html", context),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def install(router: APIRouter) -> None:
    router.add_api_route("/code2asin/{job_id}/details", details, methods=["GET"])
    router.add_api_route(f"{UI}/jobs/{{job_id}}/live", live, methods=["GET"])
