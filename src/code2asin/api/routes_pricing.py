"""Price tracking routes: ``/code2asin/trackers`` and ``/code2asin/alerts``.

Same permissions as jobs (GET read, POST/PATCH write, DELETE delete) and the same supplier scoping: a
token restricted to suppliers sees and creates only their trackers and alerts. The webhook secret is
returned once, by the creation that generated it, and never again.
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from code2asin.api.deps import CurrentPrincipal, SessionDep, StateDep, authorize
from code2asin.api.errors import ERROR_RESPONSES
from code2asin.api.schemas import Utc
from code2asin.db import Database
from code2asin.jobs.models import utcnow
from code2asin.pricing import alerts, reprice, service, webhooks
from code2asin.pricing.export import export_tracker_prices
from code2asin.pricing.models import PriceAlert, Tracker

router = APIRouter(prefix="/code2asin", dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)

Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=500)]
AlertId = Annotated[int, PathParam(ge=1, le=2**62)]
AlertKindName = Literal["price_move", "crossed_supplier_price", "out_of_stock", "back_in_stock"]


class TrackerIn(BaseModel):
    name: str | None = Field(None, max_length=200)
    supplier_code: str | None = Field(None, max_length=100)
    source_job_id: str | None = Field(None, max_length=36)
    marketplace: str | None = Field(None, min_length=2, max_length=8)
    provider_plan: str | None = Field(None, max_length=100)
    schedule: str | None = Field(None, max_length=100, description="cron expression (UTC); default weekly")
    threshold_percent: Decimal | None = Field(None, gt=0, le=1000)
    supplier_currency: str | None = Field(None, min_length=3, max_length=3)
    webhook_url: str | None = Field(None, max_length=2000)
    webhook_secret: str | None = Field(None, min_length=16, max_length=200)


class TrackerUpdate(BaseModel):
    name: str | None = Field(None, max_length=200)
    marketplace: str | None = Field(None, min_length=2, max_length=8)
    provider_plan: str | None = Field(None, max_length=100)
    schedule: str | None = Field(None, max_length=100)
    threshold_percent: Decimal | None = Field(None, gt=0, le=1000)
    supplier_currency: str | None = Field(None, min_length=3, max_length=3)
    webhook_url: str | None = Field(None, max_length=2000, description="empty string removes the webhook")
    webhook_secret: str | None = Field(None, min_length=16, max_length=200)


class TrackerOut(BaseModel):
    id: str
    name: str
    supplier_code: str
    marketplace: str
    source_job_id: str | None
    provider_plan: str
    schedule: str
    threshold_percent: Decimal
    supplier_currency: str | None
    status: str
    webhook_url: str | None
    has_webhook_secret: bool
    next_run_at: Utc | None
    last_run_at: Utc | None
    last_job_id: str | None
    created_at: Utc
    #: only in the answer of the creation that generated it
    webhook_secret: str | None = None


class TrackerList(BaseModel):
    items: list[TrackerOut]
    total: int
    page: int
    per_page: int


class RunOut(BaseModel):
    message: str
    tracker_id: str
    job_id: str


class RunSummary(BaseModel):
    job_id: str
    status: str
    total_codes: int
    processed_codes: int
    created_at: Utc
    completed_at: Utc | None


class PriceRow(BaseModel):
    gtin: str
    latest_price: Decimal | None
    latest_currency: str | None
    previous_price: Decimal | None
    change_percent: Decimal | None
    in_stock: bool | None
    observed_at: Utc | None
    supplier_price: Decimal | None
    price_difference_percent: Decimal | None
    currency_mismatch: str | None


class Observation(BaseModel):
    job_id: str
    asin: str
    price: Decimal | None
    currency: str | None
    buy_box: bool | None
    availability: str | None
    in_stock: bool
    observed_at: Utc


class AlertOut(BaseModel):
    id: int
    tracker_id: str
    job_id: str
    supplier_code: str
    gtin: str
    asin: str
    marketplace: str
    kind: str
    previous_price: Decimal | None
    price: Decimal | None
    currency: str | None
    change_percent: Decimal | None
    supplier_price: Decimal | None
    message: str
    created_at: Utc
    acknowledged_at: Utc | None
    acknowledged_by: str | None


class AlertList(BaseModel):
    items: list[AlertOut]
    total: int
    page: int
    per_page: int


class DeliveryOut(BaseModel):
    id: int
    alert_id: int
    url: str
    status: str
    attempts: int
    next_attempt_at: Utc | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[dict[str, Any]]
    delivered_at: Utc | None


def _out(tracker: Tracker, secret: str | None = None) -> dict[str, Any]:
    fields = TrackerOut.model_fields.keys() - {"has_webhook_secret", "webhook_secret"}
    body = {name: getattr(tracker, name) for name in fields}
    body["has_webhook_secret"] = bool(tracker.webhook_secret)
    body["webhook_secret"] = secret
    return body


def _alert(alert: PriceAlert) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in AlertOut.model_fields}


@router.post("/trackers", status_code=201, response_model=TrackerOut, summary="Create a price tracker")
def create_tracker(body: TrackerIn, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    spec = service.TrackerSpec(**body.model_dump())
    with state.db.unit_of_work() as session:
        tracker, secret = service.create_tracker(
            session, spec, principal.actor, suppliers=principal.supplier_scope
        )
        return _out(tracker, secret)


@router.get("/trackers", response_model=TrackerList, summary="Paginated list of price trackers")
def list_trackers(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: Page = 1,
    per_page: PerPage = 20,
    status: Literal["active", "paused"] | None = None,
) -> dict[str, Any]:
    rows, total = service.list_trackers(
        session, suppliers=principal.supplier_scope, status=status, page=page, per_page=per_page
    )
    return {"items": [_out(t) for t in rows], "total": total, "page": page, "per_page": per_page}


@router.get("/trackers/{tracker_id}", response_model=TrackerOut, summary="Details of a tracker")
def show_tracker(tracker_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return _out(service.get_tracker(session, tracker_id, principal.supplier_scope))


@router.patch("/trackers/{tracker_id}", response_model=TrackerOut, summary="Change a tracker")
def update_tracker(
    tracker_id: str, body: TrackerUpdate, state: StateDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
        service.update_tracker(session, tracker, service.TrackerSpec(**body.model_dump()))
        session.flush()
        return _out(tracker)


@router.post("/trackers/{tracker_id}/pause", response_model=TrackerOut, summary="Pause a tracker")
def pause_tracker(tracker_id: str, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
        return _out(service.pause_tracker(session, tracker))


@router.post("/trackers/{tracker_id}/resume", response_model=TrackerOut, summary="Resume a tracker")
def resume_tracker(tracker_id: str, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
        return _out(service.resume_tracker(session, tracker))


@router.post("/trackers/{tracker_id}/run", response_model=RunOut, summary="Run a re-pricing now")
def run_tracker(tracker_id: str, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
        started = service.start_run(session, tracker, principal.actor)
    if started.dispatch:  # only once committed: a worker must see ``processing``
        state.dispatcher.dispatch(started.job_id)
    return {"message": "Re-pricing started", "tracker_id": tracker_id, "job_id": started.job_id}


@router.delete("/trackers/{tracker_id}", summary="Delete a tracker with its history and alerts")
def delete_tracker(tracker_id: str, state: StateDep, principal: CurrentPrincipal) -> dict[str, str]:
    with state.db.unit_of_work() as session:
        service.delete_tracker(session, service.get_tracker(session, tracker_id, principal.supplier_scope))
    return {"message": "Tracker deleted", "tracker_id": tracker_id}


@router.get("/trackers/{tracker_id}/runs", response_model=list[RunSummary], summary="A tracker's runs")
def tracker_runs(tracker_id: str, session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
    return [
        {
            "job_id": j.id,
            "status": j.status,
            "total_codes": j.total_codes,
            "processed_codes": j.processed_codes,
            "created_at": j.created_at,
            "completed_at": j.completed_at,
        }
        for j in service.runs_of(session, tracker)
    ]


@router.get(
    "/trackers/{tracker_id}/prices",
    response_model=list[PriceRow],
    summary="Latest and previous price of each product, change and price_difference_percent",
)
def tracker_prices(tracker_id: str, session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
    columns = reprice.tracker_price_columns(session, tracker.id)
    return [{"gtin": gtin, **c.as_dict()} for gtin, c in sorted(columns.items())]


@router.get(
    "/trackers/{tracker_id}/history/{gtin}",
    response_model=list[Observation],
    summary="A product's price history, oldest first",
)
def tracker_history(
    tracker_id: str, gtin: str, session: SessionDep, principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
    return [
        {name: getattr(o, name) for name in Observation.model_fields}
        for o in reprice.price_history(session, tracker.id, gtin)
    ]


EXPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}


def export_response(
    db: Database, tracker_id: str, suppliers: frozenset[str] | None, fmt: str
) -> FileResponse:
    """The tracker's prices as a download (``NotFoundError`` when invisible); the UI answers with it too."""
    folder = Path(tempfile.mkdtemp(prefix="code2asin-prices-"))
    try:
        path = export_tracker_prices(db, tracker_id, suppliers, folder, fmt)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=EXPORT_TYPES[fmt],
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get(
    "/trackers/{tracker_id}/export",
    response_class=FileResponse,
    summary="A tracker's latest prices as xlsx or csv (one row per product)",
)
def export_tracker(
    tracker_id: str, state: StateDep, principal: CurrentPrincipal, format: Literal["xlsx", "csv"] = "xlsx"
) -> FileResponse:
    return export_response(state.db, tracker_id, principal.supplier_scope, format)


@router.get(
    "/trackers/{tracker_id}/deliveries", response_model=list[DeliveryOut], summary="Webhook delivery log"
)
def tracker_deliveries(
    tracker_id: str, session: SessionDep, principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
    return [
        {name: getattr(d, name) for name in DeliveryOut.model_fields}
        for d in webhooks.deliveries_of(session, tracker.id)
    ]


@router.get("/alerts", response_model=AlertList, summary="Price alerts, newest first")
def list_alerts(
    session: SessionDep,
    principal: CurrentPrincipal,
    tracker_id: str | None = None,
    kind: AlertKindName | None = None,
    acknowledged: bool | None = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> dict[str, Any]:
    rows, total = alerts.list_alerts(
        session,
        suppliers=principal.supplier_scope,
        tracker_id=tracker_id,
        kind=kind,
        acknowledged=acknowledged,
        page=page,
        per_page=per_page,
    )
    return {"items": [_alert(a) for a in rows], "total": total, "page": page, "per_page": per_page}


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut, summary="Acknowledge an alert")
def acknowledge_alert(alert_id: AlertId, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        alert = alerts.acknowledge(session, alert_id, principal.actor, utcnow(), principal.supplier_scope)
        return _alert(alert)
