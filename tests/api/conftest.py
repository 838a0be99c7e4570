"""API fixtures: an app over a migrated database (SQLite and PostgreSQL) with an in-process dispatcher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from code2asin.accounts.service import create_token
from code2asin.api import create_app
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.dispatch import EmbeddedDispatcher

REPO_ROOT = Path(__file__).resolve().parents[2]
DIRECT_EXAMPLE = REPO_ROOT / "examples" / "direct_example.csv"
ALL = ["READ_CODE2ASIN", "WRITE_CODE2ASIN", "DELETE_CODE2ASIN"]


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    db: Database
    settings: Settings
    dispatcher: EmbeddedDispatcher
    token: Callable[..., str]

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def _token_maker(db: Database) -> Callable[..., str]:
    def make(
        permissions: list[str] | None = None,
        suppliers: list[str] | None = None,
        expires_in_days: int | None = None,
    ) -> str:
        with db.unit_of_work() as session:
            _, plaintext = create_token(
                session, permissions or ALL, suppliers or [], expires_in_days=expires_in_days
            )
        return plaintext

    return make


def build_api(db: Database, tmp_path: Path, **overrides: Any) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path / "data", **overrides)
    dispatcher = EmbeddedDispatcher(settings, db, sweep_seconds=3600)
    app = create_app(settings, db=db, dispatcher=dispatcher)
    try:
        with TestClient(app) as client:
            yield Api(app, client, db, settings, dispatcher, _token_maker(db))
    finally:
        dispatcher.close()


@pytest.fixture
def api(any_db: Database, tmp_path: Path) -> Iterator[Api]:
    """The API on SQLite and on PostgreSQL."""
    yield from build_api(any_db, tmp_path)


@pytest.fixture
def sqlite_api(sqlite_db: Database, tmp_path: Path) -> Iterator[Api]:
    """The API on SQLite only (for checks that do not depend on the database)."""
    yield from build_api(sqlite_db, tmp_path)


def upload(
    api: Api,
    token: str,
    path: Path = DIRECT_EXAMPLE,
    *,
    supplier: str = "SUP001",
    amazon: bool = False,
    options: str | None = None,
    content: bytes | None = None,
    filename: str | None = None,
) -> dict[str, object]:
    data = {"supplier_code": supplier, "use_amazon_api": "true" if amazon else "false"}
    if options is not None:
        data["options"] = options
    body = content if content is not None else path.read_bytes()
    response = api.client.post(
        "/code2asin/import",
        headers=api.headers(token),
        data=data,
        files={"file": (filename or path.name, body, "text/csv")},
    )
    result: dict[str, object] = response.json()
    result["_status"] = response.status_code
    return result
