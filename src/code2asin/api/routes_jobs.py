"""Job routes: list, details, lifecycle actions, delete, results, logs, download, validate or reject a row."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from code2asin.accounts.service import Principal
from code2asin.api import schemas
from code2asin.api.deps import CurrentPrincipal, SessionDep, StateDep, authorize
from code2asin.api.errors import ERROR_RESPONSES
from code2asin.api.routes_media import media_url
from code2asin.export import results_filename
from code2asin.jobs import queries, result_queries, service
from code2asin.jobs.models import JobStatus

router = APIRouter(prefix="/code2asin", dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)

Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=500)]
MatchType = Literal["exact", "partial", "fuzzy", "manual"]
ResultStatus = Literal["pending", "matched", "not_found", "invalid", "failed"]
LogLevel = Literal["debug", "info", "warning", "error"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Action = Callable[[Session, str, str | None], service.ActionResult]


@router.get("/jobs", response_model=schemas.JobList, summary="Paginated list of jobs")
def list_jobs(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: Page = 1,
    per_page: PerPage = 20,
    status: JobStatus | None = None,
) -> dict[str, Any]:
    return queries.list_jobs(
        session, page=page, per_page=per_page, status=status, suppliers=principal.supplier_scope
    )


@router.get("/jobs/{job_id}", response_model=schemas.JobDetails, summary="Details of a job")
def job_details(job_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return queries.job_details(session, job_id, principal.supplier_scope)


def _act(state: StateDep, principal: Principal, job_id: str, action: Action, message: str) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        queries.visible_job(session, job_id, principal.supplier_scope)
        result = action(session, job_id, principal.actor)
        body = {"message": message, "job_id": result.job.id, "status": result.job.status}
    if result.dispatch:  # only once the transition is committed: a worker must see ``processing``
        state.dispatcher.dispatch(job_id)
    return body


@router.post("/jobs/{job_id}/start", response_model=schemas.ActionResponse, summary="Start a pending job")
def start_job(job_id: str, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return _act(state, principal, job_id, service.start_job, "Job demarre")


@router.post("/jobs/{job_id}/pause", response_model=schemas.ActionResponse, summary="Pause a job")
def pause_job(job_id: str, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return _act(state, principal, job_id, service.pause_job, "Job mis en pause")


Cap = Annotated[int | None, Query(ge=0, description="A new cap (0: none); unchanged when absent.")]


@router.post("/jobs/{job_id}/resume", response_model=schemas.ActionResponse, summary="Resume a paused job")
def resume_job(
    job_id: str,
    state: StateDep,
    principal: CurrentPrincipal,
    max_calls: Cap = None,
    max_keepa_tokens: Cap = None,
) -> dict[str, Any]:
    """A job paused at a cap goes on once the cap is raised (``max_calls``, ``max_keepa_tokens``)."""

    def resume(session: Session, job: str, actor: str | None) -> service.ActionResult:
        return service.resume_job(
            session, job, actor, max_calls=max_calls, max_keepa_tokens=max_keepa_tokens
        )

    return _act(state, principal, job_id, resume, "Job repris")


@router.post("/jobs/{job_id}/cancel", response_model=schemas.ActionResponse, summary="Cancel a job")
def cancel_job(job_id: str, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return _act(state, principal, job_id, service.cancel_job, "Job annule")


@router.post("/jobs/{job_id}/retry", response_model=schemas.RetryResponse, summary="Retry a failed job")
def retry_job(
    job_id: str, state: StateDep, principal: CurrentPrincipal, reset_retry_counter: bool = False
) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        queries.visible_job(session, job_id, principal.supplier_scope)
        job = service.retry_job(session, job_id, principal.actor, reset_retry_counter=reset_retry_counter).job
        suffix = " (compteur reinitialise)" if reset_retry_counter else ""
        return {
            "message": f"Job marque pour relance{suffix}",
            "job_id": job.id,
            "status": job.status,
            "retry_count": job.retry_count,
            "max_retries": job.max_retries,
        }


@router.delete("/jobs/{job_id}", response_model=schemas.DeleteResponse, summary="Delete a job")
def delete_job(job_id: str, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        queries.visible_job(session, job_id, principal.supplier_scope)
        source_key = service.delete_job(session, job_id, principal.actor)
    if source_key:
        state.storage.delete(source_key)
    return {"message": "Job supprime", "job_id": job_id}


@router.get("/results/{job_id}", response_model=schemas.ResultsPage, summary="Conversion results of a job")
def results(
    job_id: str,
    session: SessionDep,
    state: StateDep,
    principal: CurrentPrincipal,
    match_type: MatchType | None = None,
    status: ResultStatus | None = None,
    marketplace: Annotated[str | None, Query(min_length=2, max_length=8, description="e.g. DE")] = None,
    needs_review: Annotated[
        bool | None, Query(description="true: only the matched rows to check; false: all the others.")
    ] = None,
    page: Page = 1,
    limit: PerPage = 50,
) -> dict[str, Any]:
    storage = state.storage
    return result_queries.results_page(
        session,
        job_id,
        url_for=lambda key: storage.url(key) or media_url(key),
        suppliers=principal.supplier_scope,
        match_type=match_type,
        status=status,
        marketplace=marketplace.upper() if marketplace else None,
        needs_review=needs_review,
        page=page,
        limit=limit,
    )


@router.get("/jobs/{job_id}/logs", response_model=schemas.LogsPage, summary="Conversion logs of a job")
def logs(
    job_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: Page = 1,
    per_page: PerPage = 50,
    level: LogLevel | None = None,
) -> dict[str, Any]:
    return result_queries.logs_page(
        session, job_id, suppliers=principal.supplier_scope, level=level, page=page, per_page=per_page
    )


@router.get(
    "/jobs/{job_id}/download",
    summary="Download the results file",
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}, "text/csv": {}}, "description": "The results file"}},
)
def download(
    job_id: str, state: StateDep, principal: CurrentPrincipal, format: Literal["xlsx", "csv"] = "xlsx"
) -> FileResponse:
    from code2asin.jobs.convert import export_job

    with state.db.unit_of_work() as session:
        job = queries.visible_job(session, job_id, principal.supplier_scope)
        name = results_filename(job.source_filename, f".{format}")
    folder = Path(tempfile.mkdtemp(prefix="code2asin-download-"))
    try:
        path = folder / name
        export_job(state.db, job_id, path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=XLSX if format == "xlsx" else "text/csv",
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.post(
    "/jobs/{job_id}/results/{row}/validate",
    response_model=schemas.ResultItem,
    summary="Validate one result by hand (sets its ASIN)",
)
def validate(
    job_id: str,
    row: Annotated[int, PathParam(ge=1, le=10_000_000, description="1-based input row")],
    body: schemas.ValidateRequest,
    state: StateDep,
    principal: CurrentPrincipal,
    marketplace: Annotated[
        str | None, Query(min_length=2, max_length=8, description="Needed when the job has several")
    ] = None,
) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        queries.visible_job(session, job_id, principal.supplier_scope)
        item = service.validate_item(
            session, job_id, body.asin, principal.actor, row_no=row, marketplace=marketplace
        )
        return result_queries.result_item(item, state.storage.url)


@router.post(
    "/jobs/{job_id}/results/{row}/reject",
    response_model=schemas.ResultItem,
    summary="Reject one result's ASIN (the row becomes not_found; remembered for the supplier)",
)
def reject(
    job_id: str,
    row: Annotated[int, PathParam(ge=1, le=10_000_000, description="1-based input row")],
    state: StateDep,
    principal: CurrentPrincipal,
    marketplace: Annotated[
        str | None, Query(min_length=2, max_length=8, description="Needed when the job has several")
    ] = None,
) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        queries.visible_job(session, job_id, principal.supplier_scope)
        item = service.reject_item(session, job_id, principal.actor, row_no=row, marketplace=marketplace)
        return result_queries.result_item(item, state.storage.url)
