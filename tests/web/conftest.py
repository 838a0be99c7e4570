"""Web UI fixtures: the app (API + UI) over a migrated SQLite database, users, and a signed-in client."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from code2asin.accounts.service import create_user
from code2asin.api import create_app
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.dispatch import EmbeddedDispatcher
from code2asin.web import create_web_router

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
PASSWORD = "correct horse battery"
ALL = ["READ_CODE2ASIN", "WRITE_CODE2ASIN", "DELETE_CODE2ASIN"]
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def build_app(settings: Settings, db: Database, dispatcher: EmbeddedDispatcher) -> FastAPI:
    """``create_app`` with the UI router (included here until ``create_app`` includes it itself)."""
    app = create_app(settings, db=db, dispatcher=dispatcher)
    if not any(getattr(route, "path", None) == "/code2asin/ui/login" for route in app.routes):
        app.include_router(create_web_router(settings, db, dispatcher))
    return app


@dataclass
class Web:
    app: FastAPI
    client: TestClient
    db: Database
    settings: Settings
    dispatcher: EmbeddedDispatcher
    user: Callable[..., str]

    def csrf(self, path: str = "/code2asin/ui/login") -> str:
        page = self.client.get(path)
        found = _CSRF.search(page.text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        response = self.client.post(
            "/code2asin/ui/login",
            data={"csrf_token": self.csrf(), "username": username, "password": password},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text


def user_maker(db: Database) -> Callable[..., str]:
    def make(
        name: str = "alice", permissions: list[str] | None = None, suppliers: list[str] | None = None
    ) -> str:
        with db.unit_of_work() as session:
            create_user(session, name, PASSWORD, permissions or ALL, suppliers or [])
        return name

    return make


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def web(sqlite_db: Database, settings: Settings) -> Iterator[Web]:
    dispatcher = EmbeddedDispatcher(settings, sqlite_db, sweep_seconds=3600)
    app = build_app(settings, sqlite_db, dispatcher)
    try:
        with TestClient(app) as client:
            yield Web(app, client, sqlite_db, settings, dispatcher, user_maker(sqlite_db))
    finally:
        dispatcher.close()
