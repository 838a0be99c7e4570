"""The trackers and alerts API: permissions, supplier scoping, lifecycle, run now, secret handling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.api.conftest import Api, build_api
from tests.pricing.conftest import direct_job, priced_products

from code2asin.api import routes_pricing
from code2asin.db import Database


@pytest.fixture
def papi(sqlite_db: Database, tmp_path: Path) -> Iterator[Api]:
    for api in build_api(sqlite_db, tmp_path):
        api.app.include_router(routes_pricing.router, tags=["pricing"])
        yield api


def test_tracker_crud_pause_resume_and_run_now_with_the_secret_shown_once(papi: Api, tmp_path: Path) -> None:
    source = direct_job(papi.db, tmp_path, [(e, a, "3") for e, a, _ in priced_products(2)])
    headers = papi.headers(papi.token())
    created = papi.client.post(
        "/code2asin/trackers",
        headers=headers,
        json={"source_job_id": source, "webhook_url": "http://127.0.0.1:9/hook", "provider_plan": "spapi"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["supplier_code"] == "SUP001" and body["schedule"] == "0 6 * * 1"
    assert float(body["threshold_percent"]) == 10.0 and body["webhook_secret"] and body["has_webhook_secret"]
    tid = body["id"]
    shown = papi.client.get(f"/code2asin/trackers/{tid}", headers=headers).json()
    assert shown["webhook_secret"] is None and shown["has_webhook_secret"] is True
    assert papi.client.get("/code2asin/trackers", headers=headers).json()["total"] == 1
    patched = papi.client.patch(
        f"/code2asin/trackers/{tid}", headers=headers, json={"threshold_percent": 5, "schedule": "0 8 * * *"}
    )
    assert patched.status_code == 200 and patched.json()["schedule"] == "0 8 * * *"
    assert papi.client.post(f"/code2asin/trackers/{tid}/pause", headers=headers).json()["status"] == "paused"
    assert papi.client.post(f"/code2asin/trackers/{tid}/pause", headers=headers).status_code == 409
    assert papi.client.post(f"/code2asin/trackers/{tid}/resume", headers=headers).json()["status"] == "active"
    bad = papi.client.patch(f"/code2asin/trackers/{tid}", headers=headers, json={"schedule": "nope"})
    assert bad.status_code == 422
    run = papi.client.post(f"/code2asin/trackers/{tid}/run", headers=headers)
    assert run.status_code == 200
    papi.dispatcher.wait(run.json()["job_id"], timeout=30)  # the plan has no sandbox: the run fails fast
    runs = papi.client.get(f"/code2asin/trackers/{tid}/runs", headers=headers).json()
    assert [r["job_id"] for r in runs] == [run.json()["job_id"]]
    assert papi.client.get("/code2asin/alerts", headers=headers).json()["total"] == 0
    assert papi.client.delete(f"/code2asin/trackers/{tid}", headers=headers).status_code == 200
    assert papi.client.get(f"/code2asin/trackers/{tid}", headers=headers).status_code == 404


def test_tracker_routes_need_the_method_permission_and_hide_other_suppliers(
    papi: Api, tmp_path: Path
) -> None:
    source = direct_job(papi.db, tmp_path, [(e, a, "3") for e, a, _ in priced_products(1)])
    admin = papi.headers(papi.token())
    tid = papi.client.post("/code2asin/trackers", headers=admin, json={"source_job_id": source}).json()["id"]
    reader = papi.headers(papi.token(["READ_CODE2ASIN"]))
    assert papi.client.get("/code2asin/trackers", headers=reader).status_code == 200
    assert papi.client.post(f"/code2asin/trackers/{tid}/run", headers=reader).status_code == 403
    assert papi.client.delete(f"/code2asin/trackers/{tid}", headers=reader).status_code == 403
    assert papi.client.get("/code2asin/trackers").status_code == 401
    other = papi.headers(papi.token(suppliers=["OTHER"]))
    assert papi.client.get(f"/code2asin/trackers/{tid}", headers=other).status_code == 404
    assert papi.client.get("/code2asin/trackers", headers=other).json()["total"] == 0
    refused = papi.client.post("/code2asin/trackers", headers=other, json={"supplier_code": "SUP001"})
    assert refused.status_code == 403
    hidden_job = papi.client.post("/code2asin/trackers", headers=other, json={"source_job_id": source})
    assert hidden_job.status_code == 404
    assert papi.client.post("/code2asin/alerts/1/acknowledge", headers=admin).status_code == 404
