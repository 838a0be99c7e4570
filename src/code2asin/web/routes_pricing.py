"""Price tracking pages: trackers (list, form, page, actions), a product's price history, alerts.

Same rules as the job pages: READ to see, WRITE to create, change, run, pause/resume and acknowledge,
DELETE to delete; a supplier-scoped user sees and creates only their suppliers' trackers and alerts (an
invisible tracker is a 404). The webhook secret a creation generates is shown once, on the answer to
that POST (never put in the session cookie nor shown again).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from markupsafe import Markup
from starlette.background import BackgroundTask

from code2asin.accounts.models import Permission
from code2asin.accounts.service import PermissionDeniedError
from code2asin.errors import ConfigurationError, InvalidValueError, LifecycleError, NotFoundError
from code2asin.jobs import queries
from code2asin.jobs.models import Job, utcnow
from code2asin.pricing import alerts, reprice, service
from code2asin.pricing.export import export_tracker_prices, tracker_rows
from code2asin.pricing.models import DEFAULT_SCHEDULE, DEFAULT_THRESHOLD_PERCENT, AlertKind, Tracker
from code2asin.pricing.schedule import validate_schedule
from code2asin.pricing.webhooks import check_webhook_url
from code2asin.providers.marketplaces import MARKETPLACES, get_marketplace
from code2asin.providers.stages import parse_plan
from code2asin.web.charts import PricePoint, price_chart
from code2asin.web.core import UI, Page, Redirect, WebError, current_page, form_text, safe_next
from code2asin.web.numbers import money
from code2asin.web.paging import page_number, pager

PageDep = Annotated[Page, Depends(current_page)]
AlertId = Annotated[int, PathParam(ge=1, le=2**62)]
PER_PAGE = 20
PRODUCTS_PER_PAGE = 50
ALERTS_PER_PAGE = 50
ACTIONS = ("pause", "resume", "run", "delete")
EXPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}


def tracker_url(page: Page, tracker_id: str) -> str:
    return page.url(f"{UI}/trackers/{tracker_id}")


@dataclass
class TrackerForm:
    name: str = ""
    supplier_code: str = ""
    source_job_id: str = ""
    marketplace: str = "FR"
    provider_plan: str = ""
    schedule: str = DEFAULT_SCHEDULE
    threshold_percent: str = str(DEFAULT_THRESHOLD_PERCENT)
    webhook_url: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, page: Page) -> TrackerForm:
        return cls(
            name=form_text(page, "name").strip()[:200],
            supplier_code=form_text(page, "supplier_code").strip()[:200],
            source_job_id=form_text(page, "source_job_id").strip()[:100],
            marketplace=form_text(page, "marketplace").strip().upper()[:8],
            provider_plan=form_text(page, "provider_plan").strip()[:100],
            schedule=" ".join(form_text(page, "schedule").split())[:100],
            threshold_percent=form_text(page, "threshold_percent").strip().replace(",", ".")[:20],
            webhook_url=form_text(page, "webhook_url").strip()[:2000],
        )

    @classmethod
    def of(cls, tracker: Tracker) -> TrackerForm:
        return cls(
            name=tracker.name,
            supplier_code=tracker.supplier_code,
            source_job_id=tracker.source_job_id or "",
            marketplace=tracker.marketplace,
            provider_plan=tracker.provider_plan,
            schedule=tracker.schedule,
            threshold_percent=f"{tracker.threshold_percent.normalize():f}",
            webhook_url=tracker.webhook_url or "",
        )

    def threshold(self) -> Decimal | None:
        try:
            value = Decimal(self.threshold_percent)
        except InvalidOperation:
            return None
        return value if value.is_finite() and Decimal(0) < value <= Decimal(1000) else None

    def check(self, page: Page, *, creating: bool) -> None:
        """Fill ``errors`` (field -> sentence) with what the service would refuse."""
        assert page.principal is not None
        t = page.t
        if creating:
            if (not self.supplier_code and not self.source_job_id) or len(self.supplier_code) > 100:
                self.errors["supplier_code"] = t("tracker.error.supplier")
            elif self.supplier_code and not page.principal.can_see(self.supplier_code):
                self.errors["supplier_code"] = t("tracker.error.supplier_scope")
        if self.marketplace:
            try:
                get_marketplace(self.marketplace)
            except (ValueError, ConfigurationError) as exc:
                self.errors["marketplace"] = str(exc)
        if self.provider_plan:
            try:
                parse_plan(self.provider_plan)
            except ConfigurationError as exc:
                self.errors["provider_plan"] = str(exc)
        try:
            validate_schedule(self.schedule or DEFAULT_SCHEDULE)
        except InvalidValueError as exc:
            self.errors["schedule"] = str(exc)
        if self.threshold() is None:
            self.errors["threshold_percent"] = t("tracker.error.threshold")
        if self.webhook_url:
            try:
                check_webhook_url(self.webhook_url)
            except InvalidValueError as exc:
                self.errors["webhook_url"] = str(exc)

    def spec(self, *, creating: bool) -> service.TrackerSpec:
        return service.TrackerSpec(
            name=self.name or None,
            supplier_code=(self.supplier_code or None) if creating and not self.source_job_id else None,
            source_job_id=(self.source_job_id or None) if creating else None,
            marketplace=self.marketplace or None,
            provider_plan=self.provider_plan or None,
            schedule=self.schedule or DEFAULT_SCHEDULE,
            threshold_percent=self.threshold(),
            # on update an empty URL removes the webhook
            webhook_url=self.webhook_url if (self.webhook_url or not creating) else None,
        )


def _choices() -> dict[str, Any]:
    return {"marketplaces": sorted(MARKETPLACES), "default_schedule": DEFAULT_SCHEDULE}


def _render_form(page: Page, form: TrackerForm, tracker: Tracker | None, status: int = 200) -> Response:
    return page.render("tracker_form.html", status_code=status, form=form, tracker=tracker, **_choices())


# -- pages --------------------------------------------------------------------------------------------


def trackers_list(page: PageDep, status: str | None = None) -> Response:
    principal = page.require(Permission.READ)
    wanted = status if status in ("active", "paused") else None
    number = page_number(page.request.query_params.get("page"))
    with page.web.db.sessions() as session:
        rows, total = service.list_trackers(
            session, suppliers=principal.supplier_scope, status=wanted, page=number, per_page=PER_PAGE
        )
    return page.render(
        "trackers.html",
        trackers=rows,
        status=wanted or "",
        pager=pager(page.request, total=total, page=number, per_page=PER_PAGE),
    )


def new_tracker(page: PageDep, job: str | None = None) -> Response:
    principal = page.require(Permission.WRITE)
    settings = page.web.settings
    form = TrackerForm(marketplace=settings.marketplace, source_job_id=(job or "")[:100])
    if job:  # "Track prices" on a finished job: its supplier, marketplace and plan, a name to start from
        with page.web.db.sessions() as session:
            try:
                source = queries.visible_job(session, job[:100], principal.supplier_scope)
            except NotFoundError:
                source = None
            if source is not None:
                form.marketplace = source.marketplace_list[0]
                form.provider_plan = source.provider_plan if source.mode == "amazon" else ""
                form.name = page.t(
                    "tracker.default_name", supplier=source.supplier_code, marketplace=form.marketplace
                )
    return _render_form(page, form, None)


def create_tracker(page: PageDep) -> Response:
    principal = page.require(Permission.WRITE)
    form = TrackerForm.read(page)
    form.check(page, creating=True)
    if form.errors:
        return _render_form(page, form, None, status=422)
    try:
        with page.web.db.unit_of_work() as session:
            tracker, secret = service.create_tracker(
                session, form.spec(creating=True), principal.actor, suppliers=principal.supplier_scope
            )
            tracker_id = tracker.id
    except NotFoundError:
        form.errors["source_job_id"] = page.t("tracker.error.source_job")
        return _render_form(page, form, None, status=422)
    except PermissionDeniedError:
        form.errors["supplier_code"] = page.t("tracker.error.supplier_scope")
        return _render_form(page, form, None, status=422)
    except InvalidValueError as exc:
        form.errors["name"] = str(exc)
        return _render_form(page, form, None, status=422)
    if secret is None:
        page.flash("success", page.t("tracker.done.created"))
        raise Redirect(tracker_url(page, tracker_id))
    # the generated secret is shown on this answer only: never stored in the session cookie
    page.flash_now = ("success", page.t("tracker.done.created"))
    return _tracker_page(page, tracker_id, secret=secret)


def edit_tracker(page: PageDep, tracker_id: str) -> Response:
    principal = page.require(Permission.WRITE)
    with page.web.db.sessions() as session:
        tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
    return _render_form(page, TrackerForm.of(tracker), tracker)


def update_tracker(page: PageDep, tracker_id: str) -> Response:
    principal = page.require(Permission.WRITE)
    form = TrackerForm.read(page)
    with page.web.db.sessions() as session:
        tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
    form.supplier_code, form.source_job_id = tracker.supplier_code, tracker.source_job_id or ""
    form.check(page, creating=False)
    if form.errors:
        return _render_form(page, form, tracker, status=422)
    try:
        with page.web.db.unit_of_work() as session:
            current = service.get_tracker(session, tracker_id, principal.supplier_scope)
            service.update_tracker(session, current, form.spec(creating=False))
    except InvalidValueError as exc:
        form.errors["name"] = str(exc)
        return _render_form(page, form, tracker, status=422)
    page.flash("success", page.t("tracker.done.updated"))
    raise Redirect(tracker_url(page, tracker_id))


def _tracker_page(page: Page, tracker_id: str, *, secret: str | None = None) -> Response:
    principal = page.require(Permission.READ)
    number = page_number(page.request.query_params.get("page"))
    with page.web.db.sessions() as session:
        tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
        runs = service.runs_of(session, tracker, limit=20)
        products = tracker_rows(session, tracker.id)
        recent, open_alerts = alerts.list_alerts(
            session, suppliers=principal.supplier_scope, tracker_id=tracker.id, acknowledged=False, per_page=5
        )
        running = service.active_run(session, tracker)
        run = session.get(Job, running) if running else None
        run_status = run.status if run is not None else None
        start = (number - 1) * PRODUCTS_PER_PAGE
        shown = products[start : start + PRODUCTS_PER_PAGE]
        titles = service.product_titles(session, tracker, [p["gtin"] for p in shown])
    for product in shown:
        product["title"] = titles.get(product["gtin"])
    return page.render(
        "tracker.html",
        tracker=tracker,
        runs=runs,
        products=shown,
        product_count=len(products),
        pager=pager(page.request, total=len(products), page=number, per_page=PRODUCTS_PER_PAGE),
        alerts=recent,
        open_alerts=open_alerts,
        running=running,
        run_status=run_status,
        secret=secret,
    )


def show_tracker(page: PageDep, tracker_id: str) -> Response:
    return _tracker_page(page, tracker_id)


def tracker_action(page: PageDep, tracker_id: str, action: str) -> Response:
    if action not in ACTIONS:
        raise WebError(404, "error.not_found")
    principal = page.require(Permission.DELETE if action == "delete" else Permission.WRITE)
    dispatch_job: str | None = None
    try:
        with page.web.db.unit_of_work() as session:
            tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
            if action == "pause":
                service.pause_tracker(session, tracker)
            elif action == "resume":
                service.resume_tracker(session, tracker)
            elif action == "delete":
                service.delete_tracker(session, tracker)
            else:
                started = service.start_run(session, tracker, principal.actor)
                dispatch_job = started.job_id if started.dispatch else None
    except (LifecycleError, InvalidValueError) as exc:
        page.flash("error", str(exc))
        raise Redirect(tracker_url(page, tracker_id)) from None
    if dispatch_job is not None:  # only once committed: a worker must see ``processing``
        page.web.dispatcher.dispatch(dispatch_job)
    page.flash("success", page.t(f"tracker.done.{action}"))
    if action == "delete":
        raise Redirect(page.url(f"{UI}/trackers"))
    raise Redirect(tracker_url(page, tracker_id))


def price_history(page: PageDep, tracker_id: str, gtin: str) -> Response:
    principal = page.require(Permission.READ)
    with page.web.db.sessions() as session:
        tracker = service.get_tracker(session, tracker_id, principal.supplier_scope)
        history = reprice.price_history(session, tracker.id, gtin[:14])
    if not history:
        raise WebError(404, "error.not_found")
    t = page.t
    currency = next((o.currency for o in reversed(history) if o.currency), "") or ""
    # several observations a day (runs by hand): the time tells the points apart
    distinct = ("%Y-%m-%d", "%Y-%m-%d %H:%M")
    shape = next(
        (f for f in distinct if len({o.observed_at.strftime(f) for o in history}) == len(history)),
        "%Y-%m-%d %H:%M:%S",
    )
    points = [
        PricePoint(o.observed_at.strftime(shape), None if o.price is None else float(o.price))
        for o in history
    ]

    def in_currency(value: float) -> str:
        return money(value, currency, t.lang)

    description = "; ".join(f"{p.label}: {money(p.price, currency, t.lang)}" for p in points)
    chart = price_chart(t("history.chart", gtin=gtin), description, points, currency, in_currency)
    return page.render(
        "price_history.html",
        tracker=tracker,
        gtin=gtin,
        asin=history[-1].asin,
        history=list(reversed(history)),
        # built from escaped text only (charts.price_chart escapes every label)
        chart=Markup(chart),  # noqa: S704
    )


def export(page: PageDep, tracker_id: str, format: str = "xlsx") -> Response:
    principal = page.require(Permission.READ)
    fmt = "csv" if format == "csv" else "xlsx"
    folder = Path(tempfile.mkdtemp(prefix="code2asin-web-prices-"))
    try:
        path = export_tracker_prices(page.web.db, tracker_id, principal.supplier_scope, folder, fmt)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=EXPORT_TYPES[fmt],
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def alerts_list(
    page: PageDep, kind: str | None = None, acknowledged: str | None = None, tracker: str | None = None
) -> Response:
    principal = page.require(Permission.READ)
    kinds = [k.value for k in AlertKind]
    wanted_kind = kind if kind in kinds else None
    ack = {"yes": True, "no": False}.get(acknowledged or "")
    number = page_number(page.request.query_params.get("page"))
    with page.web.db.sessions() as session:
        rows, total = alerts.list_alerts(
            session,
            suppliers=principal.supplier_scope,
            tracker_id=(tracker or "")[:36] or None,
            kind=wanted_kind,
            acknowledged=ack,
            page=number,
            per_page=ALERTS_PER_PAGE,
        )
        trackers, _ = service.list_trackers(session, suppliers=principal.supplier_scope, per_page=500)
    names = {t.id: t.name for t in trackers}
    return page.render(
        "alerts.html",
        alerts=rows,
        kinds=kinds,
        kind=wanted_kind or "",
        acknowledged=acknowledged if ack is not None else "",
        tracker_id=tracker or "",
        trackers=trackers,
        names=names,
        pager=pager(page.request, total=total, page=number, per_page=ALERTS_PER_PAGE),
    )


def acknowledge(page: PageDep, alert_id: AlertId) -> Response:
    principal = page.require(Permission.WRITE)
    back = safe_next(form_text(page, "next"), page.url(f"{UI}/alerts"))
    with page.web.db.unit_of_work() as session:  # an invisible alert is a 404 page
        alerts.acknowledge(session, alert_id, principal.actor, utcnow(), principal.supplier_scope)
    page.flash("success", page.t("alerts.done.acknowledged", id=alert_id))
    raise Redirect(back)


def install(router: APIRouter) -> None:
    router.add_api_route(f"{UI}/trackers", trackers_list, methods=["GET"])
    router.add_api_route(f"{UI}/trackers/new", new_tracker, methods=["GET"])
    router.add_api_route(f"{UI}/trackers/new", create_tracker, methods=["POST"])
    router.add_api_route(f"{UI}/trackers/{{tracker_id}}", show_tracker, methods=["GET"])
    router.add_api_route(f"{UI}/trackers/{{tracker_id}}/edit", edit_tracker, methods=["GET"])
    router.add_api_route(f"{UI}/trackers/{{tracker_id}}/edit", update_tracker, methods=["POST"])
    router.add_api_route(f"{UI}/trackers/{{tracker_id}}/export", export, methods=["GET"])
    router.add_api_route(f"{UI}/trackers/{{tracker_id}}/products/{{gtin}}", price_history, methods=["GET"])
    router.add_api_route(f"{UI}/trackers/{{tracker_id}}/{{action}}", tracker_action, methods=["POST"])
    router.add_api_route(f"{UI}/alerts", alerts_list, methods=["GET"])
    router.add_api_route(f"{UI}/alerts/{{alert_id}}/acknowledge", acknowledge, methods=["POST"])
