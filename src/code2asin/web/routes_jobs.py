"""The jobs list and the job actions: lifecycle buttons, manual validation, download, thumbnails."""

from __future__ import annotations

import mimetypes
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from code2asin.accounts.models import Permission
from code2asin.errors import InvalidValueError, LifecycleError
from code2asin.export import results_filename
from code2asin.jobs import queries, service
from code2asin.jobs.models import JobStatus
from code2asin.web.core import UI, Page, Redirect, WebError, current_page, form_text, safe_next
from code2asin.web.paging import page_number, pager, sort_order
from code2asin.web.views import JOB_SORTS, search_jobs, stored_image_key

PageDep = Annotated[Page, Depends(current_page)]
PER_PAGE = 20
ACTIONS = {
    "start": service.start_job,
    "pause": service.pause_job,
    "resume": service.resume_job,
    "cancel": service.cancel_job,
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def details_url(page: Page, job_id: str) -> str:
    return page.url(f"/code2asin/{job_id}/details")


def jobs_list(page: PageDep, status: str | None = None, supplier: str | None = None) -> Response:
    principal = page.require(Permission.READ)
    wanted = JobStatus(status) if status in set(JobStatus) else None
    number = page_number(page.request.query_params.get("page"))
    sort = sort_order(page.request, JOB_SORTS, "-created")
    with page.web.db.sessions() as session:
        listing = search_jobs(
            session,
            page=number,
            per_page=PER_PAGE,
            status=wanted,
            supplier=(supplier or "")[:100],
            suppliers=principal.supplier_scope,
            order=(sort.key, sort.descending),
        )
    return page.render(
        "jobs.html",
        jobs=listing["items"],
        statuses=[s.value for s in JobStatus],
        status=wanted.value if wanted else "",
        supplier=supplier or "",
        pager=pager(page.request, total=listing["total"], page=number, per_page=PER_PAGE),
        sort=sort,
        request_sort=page.request.query_params.get("sort", ""),
    )


def _cap_field(page: Page, name: str) -> int | None:
    """A cap typed on the resume form: absent -> unchanged (None), empty -> no cap (0), else the number."""
    if page.form is None or name not in page.form:
        return None
    value = form_text(page, name).strip().replace(" ", "").replace("\u202f", "")
    if not value:
        return 0
    if not value.isdigit() or int(value) < 1:
        raise InvalidValueError(page.t("import.error.cap"))
    return int(value)


def act(page: PageDep, job_id: str, action: str) -> Response:
    principal = page.require(Permission.DELETE if action == "delete" else Permission.WRITE)
    if action not in ACTIONS and action not in ("retry", "delete"):
        raise WebError(404, "error.not_found")
    dispatch = False
    source_key: str | None = None
    try:
        with page.web.db.unit_of_work() as session:
            queries.visible_job(session, job_id, principal.supplier_scope)
            if action == "delete":
                source_key = service.delete_job(session, job_id, principal.actor)
            elif action == "retry":
                reset = form_text(page, "reset_retry_counter") == "true"
                service.retry_job(session, job_id, principal.actor, reset_retry_counter=reset)
            elif action == "resume":
                caps = {name: _cap_field(page, name) for name in ("max_calls", "max_keepa_tokens")}
                dispatch = service.resume_job(session, job_id, principal.actor, **caps).dispatch
            else:
                dispatch = ACTIONS[action](session, job_id, principal.actor).dispatch
    except (LifecycleError, InvalidValueError) as exc:
        page.flash("error", str(exc))
        raise Redirect(details_url(page, job_id)) from None
    if dispatch:  # only once the transition is committed: a worker must see ``processing``
        page.web.dispatcher.dispatch(job_id)
    page.flash("success", page.t(f"action.done.{action}"))
    if action == "delete":
        if source_key:
            page.web.storage.delete(source_key)
        raise Redirect(page.url(f"{UI}/jobs"))
    raise Redirect(details_url(page, job_id))


def validate_row(page: PageDep, job_id: str, row: int) -> Response:
    principal = page.require(Permission.WRITE)
    back = safe_next(form_text(page, "next"), details_url(page, job_id))
    asin = form_text(page, "asin").strip()[:50]
    marketplace = form_text(page, "marketplace").strip().upper()[:8] or None
    try:
        with page.web.db.unit_of_work() as session:
            job = queries.visible_job(session, job_id, principal.supplier_scope)
            item = service.validate_item(
                session, job_id, asin, principal.actor, row_no=row, marketplace=marketplace
            )
            if len(job.marketplace_list) > 1:
                done = page.t(
                    "action.done.validate_on", row=item.row_no, asin=item.asin, marketplace=item.marketplace
                )
            else:
                done = page.t("action.done.validate", row=item.row_no, asin=item.asin)
    except (LifecycleError, InvalidValueError) as exc:
        page.flash("error", str(exc))
        raise Redirect(back) from None
    page.flash("success", done)
    raise Redirect(back)


def download(page: PageDep, job_id: str, format: str = "xlsx") -> Response:
    from code2asin.jobs.convert import export_job

    principal = page.require(Permission.READ)
    suffix = "csv" if format == "csv" else "xlsx"
    with page.web.db.sessions() as session:
        job = queries.visible_job(session, job_id, principal.supplier_scope)
        name = results_filename(job.source_filename, f".{suffix}")
    folder = Path(tempfile.mkdtemp(prefix="code2asin-web-download-"))
    try:
        path = folder / name
        export_job(page.web.db, job_id, path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=XLSX if suffix == "xlsx" else "text/csv",
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def stored_image(
    page: PageDep, job_id: str, row: int, index: int, marketplace: str | None = None
) -> Response:
    """A stored image of row ``row`` on ``marketplace`` (``?marketplace=DE``; the job's first by default)."""
    principal = page.require(Permission.READ)
    with page.web.db.sessions() as session:
        queries.visible_job(session, job_id, principal.supplier_scope)
        wanted = (marketplace or "").strip().upper()[:8] or None
        key = stored_image_key(session, job_id, row, index, marketplace=wanted)
    if key is None:
        raise WebError(404, "error.not_found")
    try:
        content = page.web.storage.get(key)
    except FileNotFoundError:
        raise WebError(404, "error.not_found") from None
    media_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    if not media_type.startswith("image/"):
        media_type = "application/octet-stream"
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(content, media_type=media_type, headers=headers)


def install(router: APIRouter) -> None:
    router.add_api_route(f"{UI}/jobs", jobs_list, methods=["GET"])
    router.add_api_route(f"{UI}/jobs/{{job_id}}/rows/{{row}}/validate", validate_row, methods=["POST"])
    router.add_api_route(f"{UI}/jobs/{{job_id}}/rows/{{row}}/images/{{index}}", stored_image, methods=["GET"])
    router.add_api_route(f"{UI}/jobs/{{job_id}}/download", download, methods=["GET"])
    router.add_api_route(f"{UI}/jobs/{{job_id}}/{{action}}", act, methods=["POST"])
