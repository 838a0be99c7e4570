"""Sandbox controls: image CDN, quotas, fault and latency injection, request log, CLI entry point."""

from __future__ import annotations

import struct
import threading
import time

import httpx
import pytest
from tests.sandbox.conftest import cognito_token, spapi_token

from code2asin.sandbox.catalogue import search_keywords
from code2asin.sandbox.server import DEFAULT_PARTNER_TAG, SandboxQuotas, SandboxServer, main

FR = "A13V1IB3VIYZZH"


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker == 0xC0:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no SOF0")


def test_images_are_real_jpegs(client: httpx.Client, examples: dict[str, list[str]]) -> None:
    item = search_keywords(examples["single"][0])[0]
    assert item.image_ids
    seen = set()
    for image_id in item.image_ids[:2]:
        for suffix, side in (("._SL75_", 75), ("._SL500_", 500), ("", 1000)):
            response = client.get(f"/images/I/{image_id}{suffix}.jpg")
            assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
            data = response.content
            assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
            assert _jpeg_size(data) == (side, side)
            seen.add(data)
    assert len(seen) == 3 * min(2, len(item.image_ids))  # every image and size has its own bytes
    assert client.get("/images/I/1AAAAAAAAAL.jpg").status_code == 404
    assert client.get("/images/I/whatever.png").status_code == 404


def test_creators_quota_429_after_burst(examples: dict[str, list[str]]) -> None:
    quotas = SandboxQuotas(creators_rps=0.001, creators_burst=2)
    with SandboxServer(quotas=quotas) as server, httpx.Client(base_url=server.base_url) as http:
        headers = {
            "Authorization": f"Bearer {cognito_token(http)}, Version 2.2",
            "x-marketplace": "www.amazon.fr",
        }
        body = {"partnerTag": DEFAULT_PARTNER_TAG, "keywords": examples["single"][0]}
        statuses = [http.post("/catalog/v1/searchItems", headers=headers, json=body) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert statuses[2].json() == {
            "type": "ThrottleException",
            "retryAfterSeconds": 1,
            "message": statuses[2].json()["message"],
        }


def test_quota_refills(examples: dict[str, list[str]]) -> None:
    quotas = SandboxQuotas(spapi_catalog_rps=20.0, spapi_catalog_burst=1)
    with SandboxServer(quotas=quotas) as server, httpx.Client(base_url=server.base_url) as http:
        headers = {"x-amz-access-token": spapi_token(http)}
        params = {"identifiers": examples["single"][0], "identifiersType": "EAN", "marketplaceIds": FR}
        assert http.get("/catalog/2022-04-01/items", headers=headers, params=params).status_code == 200
        throttled = http.get("/catalog/2022-04-01/items", headers=headers, params=params)
        assert throttled.status_code == 429
        assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
        assert throttled.headers["x-amzn-RateLimit-Limit"] == "20.0"
        time.sleep(0.06)
        assert http.get("/catalog/2022-04-01/items", headers=headers, params=params).status_code == 200


@pytest.mark.parametrize(
    ("kind", "status", "marker"),
    [
        ("500", 500, "InternalServerException"),
        ("503", 503, "ServiceUnavailableException"),
        ("429", 429, "ThrottleException"),
    ],
)
def test_creators_faults(examples: dict[str, list[str]], kind: str, status: int, marker: str) -> None:
    with SandboxServer() as server, httpx.Client(base_url=server.base_url) as http:
        headers = {
            "Authorization": f"Bearer {cognito_token(http)}, Version 2.2",
            "x-marketplace": "www.amazon.fr",
        }
        body = {"partnerTag": DEFAULT_PARTNER_TAG, "keywords": examples["single"][0]}
        server.inject_faults("searchItems", kind, count=2)
        responses = [http.post("/catalog/v1/searchItems", headers=headers, json=body) for _ in range(3)]
        assert [r.status_code for r in responses] == [status, status, 200]
        assert responses[0].json()["type"] == marker
        assert [e.fault for e in server.request_log if e.kind == "api"] == [kind, kind, None]


def test_spapi_faults_and_malformed_json(examples: dict[str, list[str]]) -> None:
    with SandboxServer() as server, httpx.Client(base_url=server.base_url) as http:
        headers = {"x-amz-access-token": spapi_token(http)}
        params = {"identifiers": examples["single"][0], "identifiersType": "EAN", "marketplaceIds": FR}
        server.inject_faults(None, "503")
        server.inject_faults("searchCatalogItems", "malformed_json")  # operation faults come first
        first = http.get("/catalog/2022-04-01/items", headers=headers, params=params)
        assert first.status_code == 200
        with pytest.raises(ValueError):
            first.json()
        second = http.get("/catalog/2022-04-01/items", headers=headers, params=params)
        assert second.status_code == 503 and second.json()["errors"][0]["code"] == "ServiceUnavailable"
        assert http.get("/catalog/2022-04-01/items", headers=headers, params=params).status_code == 200


def test_timeout_fault_hangs_up(examples: dict[str, list[str]]) -> None:
    with (
        SandboxServer(fault_timeout_s=5) as server,
        httpx.Client(base_url=server.base_url, timeout=0.2) as http,
    ):
        token = cognito_token(http)  # token calls are not hit by operation-less faults
        server.inject_faults(None, "timeout")
        headers = {"Authorization": f"Bearer {token}, Version 2.2", "x-marketplace": "www.amazon.fr"}
        body = {"partnerTag": DEFAULT_PARTNER_TAG, "keywords": examples["single"][0]}
        with pytest.raises(httpx.ReadTimeout):
            http.post("/catalog/v1/searchItems", headers=headers, json=body)
    with SandboxServer() as server, pytest.raises(ValueError):
        server.inject_faults("searchItems", "teapot", 1)


def test_latency_injection(examples: dict[str, list[str]]) -> None:
    with SandboxServer(latency_ms=60) as server, httpx.Client(base_url=server.base_url) as http:
        start = time.perf_counter()
        http.get("/images/I/1AAAAAAAAAL.jpg")
        assert time.perf_counter() - start >= 0.06


def test_request_log_records_codes_asins_and_marketplace(examples: dict[str, list[str]]) -> None:
    with SandboxServer() as server, httpx.Client(base_url=server.base_url) as http:
        headers = {
            "Authorization": f"Bearer {cognito_token(http)}, Version 2.2",
            "x-marketplace": "www.amazon.fr",
        }
        code = examples["single"][0]
        http.post(
            "/catalog/v1/searchItems",
            headers=headers,
            json={"partnerTag": DEFAULT_PARTNER_TAG, "keywords": code},
        )
        http.post(
            "/catalog/v1/getItems",
            headers=headers,
            json={"partnerTag": DEFAULT_PARTNER_TAG, "itemIds": ["B0ZZZZZZZZ"]},
        )
        log = server.request_log
        assert [e.operation for e in log] == ["token", "searchItems", "getItems"]
        assert log[1].codes == (code,) and log[1].marketplace == "www.amazon.fr" and log[1].status == 200
        assert log[2].asins == ("B0ZZZZZZZZ",) and log[2].status == 404
        server.clear_log()
        assert server.request_log == []


def test_main_serves_until_stopped() -> None:
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=main, kwargs={"port": 0, "print_fn": lines.append, "stop_event": stop})
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not lines and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lines[0].startswith("Sandbox ready at http://127.0.0.1:")
        url = lines[0].rsplit(" ", 1)[1]
        assert httpx.get(f"{url}/images/I/1AAAAAAAAAL.jpg").status_code == 404
        assert any("credential_secret=" in line for line in lines)
    finally:
        stop.set()
        thread.join(timeout=5)
