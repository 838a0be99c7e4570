"""Remembered match decisions: the list page, switching a decision, forgetting it, and the Accept and
Reject buttons of a ``fuzzy`` row on the job details page (issue #15)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from code2asin.accounts.models import Permission
from code2asin.errors import InvalidValueError, LifecycleError
from code2asin.jobs import decisions, queries, service
from code2asin.web.core import UI, Page, Redirect, current_page, form_text, safe_next
from code2asin.web.paging import page_number, pager

PageDep = Annotated[Page, Depends(current_page)]
PER_PAGE = 50


def decisions_page(
    page: PageDep, supplier: str | None = None, code: str | None = None, decision: str | None = None
) -> Response:
    principal = page.require(Permission.READ)
    wanted = decision if decision in decisions.DECISIONS else None
    supplier = (supplier or "").strip()[:100]
    code = (code or "").strip()[:100]
    number = page_number(page.request.query_params.get("page"))
    with page.web.db.sessions() as session:
        listing = decisions.list_decisions(
            session,
            suppliers=principal.supplier_scope,
            supplier=supplier or None,
            code=code or None,
            decision=wanted,
            page=number,
            per_page=PER_PAGE,
        )
    return page.render(
        "decisions.html",
        decisions=listing["items"],
        choices=decisions.DECISIONS,
        supplier=supplier,
        code=code,
        decision=wanted or "",
        filtered=bool(supplier or code or wanted),
        pager=pager(page.request, total=listing["total"], page=number, per_page=PER_PAGE),
    )


def _back(page: Page) -> str:
    return safe_next(form_text(page, "next"), page.url(f"{UI}/decisions"))


def switch_decision(page: PageDep, decision_id: int) -> Response:
    principal = page.require(Permission.WRITE)
    back = _back(page)
    try:
        with page.web.db.unit_of_work() as session:
            record = decisions.update_decision(
                session, decision_id, form_text(page, "decision"), principal.actor, principal.supplier_scope
            )
            done = page.t(f"decisions.done.{record.decision}", asin=record.asin)
    except InvalidValueError as exc:
        page.flash("error", str(exc))
        raise Redirect(back) from None
    page.flash("success", done)
    raise Redirect(back)


def forget_decision(page: PageDep, decision_id: int) -> Response:
    principal = page.require(Permission.DELETE)
    with page.web.db.unit_of_work() as session:
        decisions.forget_decision(session, decision_id, principal.supplier_scope)
    page.flash("success", page.t("decisions.done.forgotten"))
    raise Redirect(_back(page))


def reject_row(page: PageDep, job_id: str, row: int) -> Response:
    principal = page.require(Permission.WRITE)
    back = safe_next(form_text(page, "next"), page.url(f"/code2asin/{job_id}/details"))
    marketplace = form_text(page, "marketplace").strip().upper()[:8] or None
    try:
        with page.web.db.unit_of_work() as session:
            queries.visible_job(session, job_id, principal.supplier_scope)
            service.reject_item(session, job_id, principal.actor, row_no=row, marketplace=marketplace)
    except (LifecycleError, InvalidValueError) as exc:
        page.flash("error", str(exc))
        raise Redirect(back) from None
    page.flash("success", page.t("action.done.reject", row=row))
    raise Redirect(back)


def install(router: APIRouter) -> None:
    router.add_api_route(f"{UI}/decisions", decisions_page, methods=["GET"])
    router.add_api_route(f"{UI}/decisions/{{decision_id}}", switch_decision, methods=["POST"])
    router.add_api_route(f"{UI}/decisions/{{decision_id}}/forget", forget_decision, methods=["POST"])
    router.add_api_route(f"{UI}/jobs/{{job_id}}/rows/{{row}}/reject", reject_row, methods=["POST"])
