"""A database that does not answer: one-line JSON 503 with Retry-After on the API, a retrying page on the
web UI, /ready not ready, /health still up (the process is alive)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from code2asin.api import create_app
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.web.security import SESSION_COOKIE, SessionCodec, WebSession, secret_key


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    # PostgreSQL on a port nobody listens on: every connection is refused
    db = Database(f"postgresql://postgres@127.0.0.1:{closed_port()}/nothing")
    with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
        yield client
    db.dispose()


def test_the_api_answers_503_with_retry_after_and_one_sentence(client: TestClient) -> None:
    for path in ("/code2asin/jobs", "/code2asin/statistics"):
        response = client.get(path, headers={"Authorization": "Bearer c2a_whatever"})
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "error": {
                "code": "database_unavailable",
                "message": "The database is unavailable; retry in 5 seconds.",
            }
        }
    ready = client.get("/code2asin/ready")
    assert ready.status_code == 503 and ready.headers["retry-after"] == "5"
    assert ready.json()["error"]["code"] == "not_ready"
    assert client.get("/code2asin/health").status_code == 200


@pytest.mark.parametrize(
    ("language", "title"),
    [("en", "Database unavailable, retrying"), ("fr", "Base de données indisponible, nouvel essai en cours")],
)
def test_the_web_ui_shows_a_page_that_retries_by_itself(
    client: TestClient, settings: Settings, language: str, title: str
) -> None:
    # a signed-in user's session: the page must load the user from the database
    client.cookies.set(SESSION_COOKIE, SessionCodec(secret_key(settings)).dump(WebSession(user_id="u-1")))
    page = client.get("/code2asin/ui/jobs", headers={"Accept-Language": language})
    assert page.status_code == 503
    assert page.headers["retry-after"] == "5"
    assert title in page.text
    assert '<meta http-equiv="refresh" content="5">' in page.text
