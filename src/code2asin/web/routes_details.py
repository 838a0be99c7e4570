"""The job details page (``/code2asin/{id}/details``): tiles, timeline, actions, tabs, live progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from code2asin.accounts.models import Permission
from code2asin.jobs import queries
from code2asin.jobs.models import JobStatus
from code2asin.web.core import UI, Page, current_page, format_percent
from code2asin.web.paging import page_number, pager, with_query

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
)


def tile_values(statistics: dict[str, Any]) -> dict[str, str]:
    """The 8 tiles' shown values, by tile id."""
    values: dict[str, str] = {}
    for tile_id, _key, name in TILES:
        raw = statistics.get(name)
        if tile_id == "avg_confidence":
            values[tile_id] = format_percent(raw, 100)
        else:
            values[tile_id] = f"{int(raw or 0):,}".replace(",", "\u202f")
    return values


def _fragments(page: Page, job: dict[str, Any]) -> dict[str, Any]:
    """What both the page and the live endpoint render: tiles, progress, actions, timeline."""
    return page.context(job=job, tiles=TILES, tile_values=tile_values(job["statistics"]))


def _image_url(page: Page, job_id: str, item: dict[str, Any]) -> str | None:
    for index, stored in enumerate(item["stored_images"]):
        return (
            str(stored["url"])
            if stored["url"]
            else page.url(f"{UI}/jobs/{job_id}/rows/{item['row']}/images/{index}")
        )
    images = item["amazon_images"]
    return str(images[0]) if images else None


def _results_tab(page: Page, job_id: str, scope: frozenset[str] | None) -> dict[str, Any]:
    params = page.request.query_params
    match_type = params.get("match_type") if params.get("match_type") in MATCH_TYPES else None
    status = params.get("status") if params.get("status") in ROW_STATUSES else None
    number = page_number(params.get("page"))
    with page.web.db.sessions() as session:
        results = queries.results_page(
            session,
            job_id,
            url_for=page.web.storage.url,
            suppliers=scope,
            match_type=match_type,
            status=status,
            page=number,
            limit=RESULTS_PER_PAGE,
        )
    for item in results["items"]:
        item["thumbnail"] = _image_url(page, job_id, item)
    return {
        "results": results,
        "match_types": MATCH_TYPES,
        "row_statuses": ROW_STATUSES,
        "match_type": match_type or "",
        "row_status": status or "",
        "pager": pager(page.request, total=results["filtered_total"], page=number, per_page=RESULTS_PER_PAGE),
    }


def _logs_tab(page: Page, job_id: str, scope: frozenset[str] | None) -> dict[str, Any]:
    params = page.request.query_params
    level = params.get("level") if params.get("level") in LOG_LEVELS else None
    number = page_number(params.get("page"))
    with page.web.db.sessions() as session:
        logs = queries.logs_page(
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
        extra = _results_tab(page, job_id, principal.supplier_scope)
    elif tab == "logs":
        extra = _logs_tab(page, job_id, principal.supplier_scope)
    tab_urls = {
        name: with_query(page.request, tab=name, page=None, match_type=None, status=None, level=None)
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
        "actions_html": page.web.fragment("_actions.html", context),
        "timeline_html": page.web.fragment("_timeline.html", context),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def install(router: APIRouter) -> None:
    router.add_api_route("/code2asin/{job_id}/details", details, methods=["GET"])
    router.add_api_route(f"{UI}/jobs/{{job_id}}/live", live, methods=["GET"])
