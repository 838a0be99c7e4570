"""``create_app(settings)``: the REST API. Nothing is created at import time.

The app owns the database and the dispatcher it creates (closed at shutdown); injected ones are left to
their owner. With no dispatcher injected, the first job started creates one: the Celery dispatcher when a
broker is configured and ``jobs.dispatch.create_dispatcher`` exists, else the in-process pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from code2asin.api import (
    routes_decisions,
    routes_import,
    routes_jobs,
    routes_media,
    routes_pricing,
    routes_system,
)
from code2asin.api.deps import AppState
from code2asin.api.errors import install_error_handlers
from code2asin.api.metrics import create_registry
from code2asin.api.uploads import UploadLimitMiddleware
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.dispatch import Dispatcher
from code2asin.web import create_web_router

API_DESCRIPTION = """Convert EAN/UPC/ISBN/GTIN codes to Amazon ASINs as background jobs.

Every route except `/code2asin/health` and `/code2asin/ready` needs `Authorization: Bearer <token>`:
READ_CODE2ASIN for GET, WRITE_CODE2ASIN for POST, DELETE_CODE2ASIN for DELETE (ADMIN_CODE2ASIN implies
all). Errors have one shape: `{"error": {"code": "...", "message": "..."}}`.
"""


def create_app(
    settings: Settings, *, db: Database | None = None, dispatcher: Dispatcher | None = None
) -> FastAPI:
    """Build the API over ``db`` (default: the configured database) and ``dispatcher``."""
    state = AppState(
        settings=settings,
        db=db or Database.from_settings(settings),
        dispatcher_=dispatcher,
        owns_db=db is None,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="Code2ASIN",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.code2asin = state
    app.state.metrics_registry = create_registry(state.db)
    install_error_handlers(app)
    app.include_router(routes_system.public)
    app.include_router(routes_import.router, tags=["jobs"])
    app.include_router(routes_jobs.router, tags=["jobs"])
    app.include_router(routes_decisions.router, tags=["match decisions"])
    app.include_router(routes_system.protected, tags=["statistics"])
    app.include_router(routes_system.metrics_router)
    app.include_router(routes_media.router, tags=["media"])
    app.include_router(routes_pricing.router, tags=["pricing"])
    app.include_router(
        create_web_router(settings, state.db, lambda: state.dispatcher, storage=lambda: state.storage)
    )
    app.add_middleware(UploadLimitMiddleware, path="/code2asin/import", limit=settings.max_upload_bytes)
    app.add_middleware(UploadLimitMiddleware, path="/code2asin/ui/import", limit=settings.max_upload_bytes)
    return app
