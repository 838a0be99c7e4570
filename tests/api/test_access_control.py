"""Every route needs a valid token and the permission of its method; supplier-scoped tokens see less."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from fastapi.routing import iter_route_contexts
from pydantic import SecretStr
from tests.api.conftest import ALL, Api, upload

from code2asin.accounts.models import ApiToken
from code2asin.accounts.service import revoke_token
from code2asin.api import create_app
from code2asin.api.deps import required_permission
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.models import utcnow

PUBLIC = {
    "/code2asin/health", "/code2asin/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect",
    "/favicon.ico",
}  # fmt: skip
FAKE_ID = "00000000-0000-4000-8000-000000000000"


# the web UI's own entry points: its pages answer by session cookie, not by token (tested below)
UI_PUBLIC = {"/", "/code2asin/ui/login", "/code2asin/ui/lang", "/code2asin/ui/static/{name}"}


def _is_ui(path: str) -> bool:
    return path == "/" or path.startswith("/code2asin/ui/") or path.endswith("/details")


def _ui_calls(api: Api) -> list[tuple[str, str]]:
    calls = []
    for route in iter_route_contexts(api.app.routes):
        if route.path is None or not _is_ui(route.path) or route.path in UI_PUBLIC:
            continue
        path = route.path.replace("{job_id}", FAKE_ID).replace("{row}", "1").replace("{index}", "0")
        calls.extend((method, path) for method in sorted(route.methods or {"GET"}))
    return calls


def _protected_calls(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) of the API, included routers flattened, public ones left out."""
    calls = []
    for route in iter_route_contexts(api.app.routes):
        if route.path is None or route.path in PUBLIC or _is_ui(route.path):
            continue
        path = route.path.replace("{job_id}", FAKE_ID).replace("{row}", "1")
        calls.extend((method, path) for method in sorted(route.methods or {"GET"}))
    return calls


def test_every_route_but_health_ready_and_docs_answers_401_without_a_token(sqlite_api: Api) -> None:
    calls = _protected_calls(sqlite_api)
    assert len(calls) >= 16
    for method, path in calls:
        response = sqlite_api.client.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"
        bad = sqlite_api.client.request(method, path, headers={"Authorization": "Bearer c2a_not-a-token"})
        assert bad.status_code == 401, (method, path)


def test_every_ui_page_sends_an_anonymous_visitor_to_sign_in_and_every_ui_form_needs_its_csrf_token(
    sqlite_api: Api,
) -> None:
    calls = _ui_calls(sqlite_api)
    assert len(calls) >= 10
    for method, path in calls:
        response = sqlite_api.client.request(method, path, follow_redirects=False)
        if method == "GET":
            assert response.status_code == 303, (method, path, response.status_code)
            assert "/code2asin/ui/login" in response.headers["location"], (method, path)
        else:
            assert response.status_code == 403, (method, path, response.status_code)
        # a bearer token is not a web session: it opens no page
        token = sqlite_api.headers(sqlite_api.token())
        again = sqlite_api.client.request(method, path, headers=token, follow_redirects=False)
        assert again.status_code in (303, 403), (method, path, again.status_code)


def test_every_route_answers_403_to_a_token_lacking_the_permission_of_its_method(sqlite_api: Api) -> None:
    for method, path in _protected_calls(sqlite_api):
        needed = required_permission(method).value
        token = sqlite_api.token([p for p in ALL if p != needed])
        response = sqlite_api.client.request(method, path, headers=sqlite_api.headers(token))
        assert response.status_code == 403, (method, path, response.text)
        assert needed in response.json()["error"]["message"]


def test_admin_permission_implies_read_write_and_delete(sqlite_api: Api) -> None:
    admin = sqlite_api.token(["ADMIN_CODE2ASIN"])
    job_id = upload(sqlite_api, admin)["job_id"]
    headers = sqlite_api.headers(admin)
    assert sqlite_api.client.get(f"/code2asin/jobs/{job_id}", headers=headers).status_code == 200
    assert sqlite_api.client.delete(f"/code2asin/jobs/{job_id}", headers=headers).status_code == 200


def test_health_and_readiness_answer_without_a_token(sqlite_api: Api) -> None:
    assert sqlite_api.client.get("/code2asin/health").json() == {"status": "ok"}
    ready = sqlite_api.client.get("/code2asin/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_readiness_answers_503_on_a_database_without_the_schema(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/empty.db")
    app = create_app(Settings(), db=db)
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        response = client.get("/code2asin/ready")
    db.dispose()
    assert response.status_code == 503 and "code2asin db upgrade" in response.json()["error"]["message"]


def test_expired_and_revoked_tokens_answer_401(sqlite_api: Api) -> None:
    expired = sqlite_api.token(expires_in_days=1)
    revoked = sqlite_api.token()
    with sqlite_api.db.unit_of_work() as session:
        for token in session.query(ApiToken):
            if expired.startswith(token.prefix):
                token.expires_at = utcnow() - timedelta(seconds=1)
            if revoked.startswith(token.prefix):
                revoke_token(session, token.id)
    for token in (expired, revoked):
        response = sqlite_api.client.get("/code2asin/jobs", headers=sqlite_api.headers(token))
        assert response.status_code == 401


def test_supplier_scoped_token_sees_only_its_suppliers_and_cannot_import_for_others(api: Api) -> None:
    admin = api.token()
    other_job = upload(api, admin, supplier="OTHER")["job_id"]
    scoped = api.token(suppliers=["SUP001"])
    own_job = upload(api, scoped, supplier="SUP001")["job_id"]
    headers = api.headers(scoped)
    listing = api.client.get("/code2asin/jobs", headers=headers).json()
    assert [j["id"] for j in listing["items"]] == [own_job]
    for url in (f"/code2asin/jobs/{other_job}", f"/code2asin/results/{other_job}",
                f"/code2asin/jobs/{other_job}/logs", f"/code2asin/jobs/{other_job}/download"):  # fmt: skip
        assert api.client.get(url, headers=headers).status_code == 404, url
    assert api.client.post(f"/code2asin/jobs/{other_job}/start", headers=headers).status_code == 404
    assert api.client.delete(f"/code2asin/jobs/{other_job}", headers=headers).status_code == 404
    refused = upload(api, scoped, supplier="OTHER")
    assert refused["_status"] == 403 and "OTHER" in str(refused["error"])
    assert api.client.get("/code2asin/statistics", headers=headers).json()["total_jobs"] == 1


class JwtSettings(Settings):
    jwt_secret: SecretStr | None = None


@pytest.fixture
def jwt_api(sqlite_db: Database) -> Api:
    from fastapi.testclient import TestClient

    settings = JwtSettings(jwt_secret=SecretStr("s" * 32))
    app = create_app(settings, db=sqlite_db)
    return Api(app, TestClient(app), sqlite_db, settings, None, lambda: "")  # type: ignore[arg-type]


def test_a_jwt_signed_with_the_shared_secret_carries_its_permissions(jwt_api: Api) -> None:
    now = int(time.time())
    good = jwt.encode({"sub": "alice", "exp": now + 60, "permissions": ["READ_CODE2ASIN"]}, "s" * 32)
    forged = jwt.encode({"sub": "mallory", "exp": now + 60, "permissions": ["ADMIN_CODE2ASIN"]}, "x" * 32)
    stale = jwt.encode({"sub": "alice", "exp": now - 60, "permissions": ["READ_CODE2ASIN"]}, "s" * 32)
    client = jwt_api.client
    assert client.get("/code2asin/jobs", headers=jwt_api.headers(good)).status_code == 200
    assert client.post(f"/code2asin/jobs/{FAKE_ID}/start", headers=jwt_api.headers(good)).status_code == 403
    assert client.get("/code2asin/jobs", headers=jwt_api.headers(forged)).status_code == 401
    assert client.get("/code2asin/jobs", headers=jwt_api.headers(stale)).status_code == 401


def test_metrics_need_read_permission_and_report_jobs_by_status(sqlite_api: Api) -> None:
    token = sqlite_api.token(["READ_CODE2ASIN", "WRITE_CODE2ASIN"])
    upload(sqlite_api, token)
    assert sqlite_api.client.get("/metrics").status_code == 401
    text = sqlite_api.client.get("/metrics", headers=sqlite_api.headers(token)).text
    assert 'code2asin_jobs{status="pending"} 1.0' in text
    assert "code2asin_queue_chunks" in text
