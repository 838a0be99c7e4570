"""The statistics page: global totals and the error breakdown over 7 and 30 days (SVG chart)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from markupsafe import Markup

from code2asin.accounts.models import Permission
from code2asin.errors import ErrorType
from code2asin.jobs import queries
from code2asin.web.charts import Series, error_chart
from code2asin.web.core import UI, Page, current_page

PageDep = Annotated[Page, Depends(current_page)]
PERIODS = (7, 30)


def statistics(page: PageDep) -> Response:
    principal = page.require(Permission.READ)
    scope = principal.supplier_scope
    with page.web.db.sessions() as session:
        totals = queries.global_statistics(session, suppliers=scope)
        errors = {days: queries.error_statistics(session, days=days, suppliers=scope) for days in PERIODS}
    t = page.t
    categories = [(e.value, t(f"error.{e.value}")) for e in ErrorType]
    series = [
        Series(
            t("stats.errors", days=days), {k: v["count"] for k, v in errors[days]["error_breakdown"].items()}
        )
        for days in PERIODS
    ]
    chart = error_chart(t("stats.errors.chart", days=max(PERIODS)), categories, series)
    return page.render(
        "statistics.html",
        totals=totals,
        errors=errors,
        periods=PERIODS,
        categories=categories,
        # built from escaped text only (charts.error_chart escapes every label)
        chart=Markup(chart),  # noqa: S704
    )


def install(router: APIRouter) -> None:
    router.add_api_route(f"{UI}/statistics", statistics, methods=["GET"])
