"""Health (liveness), readiness (database reachable and migrated), statistics and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from code2asin.api import schemas
from code2asin.api.deps import CurrentPrincipal, SessionDep, StateDep, authorize
from code2asin.api.errors import ERROR_RESPONSES, error_response
from code2asin.db import DATABASE_RETRY_AFTER_SECONDS, alembic_config
from code2asin.jobs import queries

public = APIRouter(prefix="/code2asin", tags=["system"])
protected = APIRouter(prefix="/code2asin", dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)
metrics_router = APIRouter(dependencies=[Depends(authorize)], responses=ERROR_RESPONSES, tags=["system"])


@public.get("/health", response_model=schemas.Health, summary="Liveness (no token)")
def health() -> dict[str, str]:
    return {"status": "ok"}


@public.get(
    "/ready",
    response_model=schemas.Ready,
    summary="Readiness: database reachable and migrated (no token)",
    responses={503: {"model": schemas.ErrorResponse, "description": "Not ready"}},
)
def ready(state: StateDep) -> Any:
    url = state.db.engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        with state.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        return error_response(
            503,
            "not_ready",
            f"The database is not reachable ({type(exc).__name__}).",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if current != head:
        return error_response(
            503,
            "not_ready",
            f"The database schema is at {current or 'nothing'}, not {head}: run code2asin db upgrade.",
        )
    return {"status": "ready", "database": "ok", "migration": current}


@protected.get("/statistics", response_model=schemas.GlobalStatistics, summary="Global statistics")
def statistics(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return queries.global_statistics(session, suppliers=principal.supplier_scope)


@protected.get(
    "/stats/errors", response_model=schemas.ErrorStatistics, summary="Error statistics over N days"
)
def error_statistics(
    session: SessionDep, principal: CurrentPrincipal, days: Annotated[int, Query(ge=1, le=3650)] = 7
) -> dict[str, Any]:
    return queries.error_statistics(session, days=days, suppliers=principal.supplier_scope)


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics (READ_CODE2ASIN)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
