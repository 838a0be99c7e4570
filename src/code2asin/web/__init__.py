"""The web UI: server-rendered pages over the same services as the API (design section 3).

``create_web_router(settings, db, dispatcher)`` returns a FastAPI router to include in ``create_app``.
Pages live under ``/code2asin/ui/`` plus the seed's ``/code2asin/{id}/details``; ``/`` redirects to the
jobs list. See ``core`` (sessions, CSRF, errors), ``i18n`` (English/French) and ``views`` (reads).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.dispatch import Dispatcher
from code2asin.storage import Storage
from code2asin.web import (
    routes_auth,
    routes_decisions,
    routes_details,
    routes_import,
    routes_jobs,
    routes_pricing,
    routes_stats,
)
from code2asin.web.core import WebApp, route_class

__all__ = ["create_web_router"]


def create_web_router(
    settings: Settings,
    db: Database,
    dispatcher: Dispatcher | Callable[[], Dispatcher],
    *,
    storage: Storage | Callable[[], Storage] | None = None,
) -> APIRouter:
    """The UI routes. ``dispatcher`` and ``storage`` may be objects or zero-argument factories (so the
    API's lazily created ones are shared); ``storage`` defaults to ``open_storage(settings)``.
    """
    web = WebApp.build(settings, db, dispatcher, storage)
    router = APIRouter(route_class=route_class(web), include_in_schema=False)
    for module in (
        routes_auth,
        routes_jobs,
        routes_import,
        routes_details,
        routes_stats,
        routes_pricing,
        routes_decisions,
    ):
        module.install(router)
    return router
