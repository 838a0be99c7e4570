"""SP-API pacing is per application (LWA client id) and SP-API region, with the in-process GCRA limiter.

Usage plans belong to the selling partner and application, and each region (NA, EU, FE) is separate
infrastructure with its own endpoint: FR, DE and IT clients of one application share one bucket per
operation, a US client has its own, and so has another application in the same region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from code2asin.providers.base import LookupCode
from code2asin.providers.ratelimit import InProcessLimiter
from code2asin.providers.spapi import SpapiClient

if TYPE_CHECKING:
    from conftest import FakeAmazon, FakeClock

CLIENT_ID = "amzn1.application-oa2-client.quota"
SECRET = "lwa-quota-CLIENT-secret"
REFRESH = "Atzr|quota-REFRESH-token"
TOKEN = "/auth/o2/token"
CATALOG = "/catalog/2022-04-01/items"
PRICING = "/products/pricing/v0/competitivePrice"
EAN = LookupCode("03017620422003", "3017620422003", "EAN")


@pytest.fixture
def paced(clock: FakeClock) -> InProcessLimiter:
    clock.now = 0.0
    return InProcessLimiter(clock=clock, sleep=clock.sleep, margin=0.0, slack=0.0)


def spapi(
    fake: FakeAmazon, limiter: InProcessLimiter, marketplace: str, client_id: str = CLIENT_ID
) -> SpapiClient:
    return SpapiClient(
        http=fake.client(), limiter=limiter, client_id=client_id, client_secret=SECRET,
        refresh_token=REFRESH, marketplace=marketplace, catalog_rate=1.0, catalog_burst=1,
        pricing_rate=0.5,
    )


def record_calls(fake: FakeAmazon, clock: FakeClock) -> list[tuple[str, str, float]]:
    """Answer every call with an empty 200 and record (host, path, fake time) of each."""
    calls: list[tuple[str, str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.host, request.url.path, clock.now))
        if request.url.path == CATALOG:
            return httpx.Response(200, json={"numberOfResults": 0, "items": []})
        return httpx.Response(200, json={"payload": []})

    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, answer)
    fake.on(PRICING, answer)
    return calls


def test_keys_are_per_client_id_and_region_and_hold_no_secret(
    fake: FakeAmazon, paced: InProcessLimiter
) -> None:
    fr, de, it, us, jp = (spapi(fake, paced, m) for m in ("FR", "DE", "IT", "US", "JP"))
    assert fr.catalog_key == de.catalog_key == it.catalog_key == f"spapi:{CLIENT_ID}:eu:catalog"
    assert fr.pricing_key == de.pricing_key == it.pricing_key == f"spapi:{CLIENT_ID}:eu:pricing"
    assert us.catalog_key == f"spapi:{CLIENT_ID}:na:catalog"
    assert jp.pricing_key == f"spapi:{CLIENT_ID}:fe:pricing"
    for client in (fr, us, jp):
        for key in (client.catalog_key, client.pricing_key):
            assert SECRET not in key and REFRESH not in key and "REFRESH" not in key


def test_fr_and_de_clients_share_the_catalog_bucket(
    fake: FakeAmazon, paced: InProcessLimiter, clock: FakeClock
) -> None:
    calls = record_calls(fake, clock)
    fr, de, it = (spapi(fake, paced, m) for m in ("FR", "DE", "IT"))
    fr.identify([EAN])
    de.identify([EAN])
    it.identify([EAN])
    fr.identify([EAN])
    times = [t for _, path, t in calls if path == CATALOG]
    assert times == pytest.approx([0.0, 1.0, 2.0, 3.0])  # one request per second across the three
    assert {host for host, _, _ in calls} == {"sellingpartnerapi-eu.amazon.com"}


def test_fr_and_us_clients_do_not_share_a_bucket(
    fake: FakeAmazon, paced: InProcessLimiter, clock: FakeClock
) -> None:
    calls = record_calls(fake, clock)
    fr, us = spapi(fake, paced, "FR"), spapi(fake, paced, "US")
    fr.identify([EAN])
    us.identify([EAN])
    us.prices(["B000000001"])
    fr.prices(["B000000001"])
    assert calls == [
        ("sellingpartnerapi-eu.amazon.com", CATALOG, 0.0),
        ("sellingpartnerapi-na.amazon.com", CATALOG, 0.0),
        ("sellingpartnerapi-na.amazon.com", PRICING, 0.0),
        ("sellingpartnerapi-eu.amazon.com", PRICING, 0.0),
    ]
    fr.identify([EAN])  # the EU catalog bucket is still paced: its next slot is one second later
    assert calls[-1][1:] == (CATALOG, pytest.approx(1.0))


def test_pricing_is_shared_in_the_region_too(
    fake: FakeAmazon, paced: InProcessLimiter, clock: FakeClock
) -> None:
    calls = record_calls(fake, clock)
    de, it = spapi(fake, paced, "DE"), spapi(fake, paced, "IT")
    de.prices(["B000000001"])
    it.prices(["B000000001"])
    assert [t for _, path, t in calls if path == PRICING] == pytest.approx([0.0, 2.0])  # 0.5 rps


def test_another_application_in_the_same_region_has_its_own_bucket(
    fake: FakeAmazon, paced: InProcessLimiter, clock: FakeClock
) -> None:
    calls = record_calls(fake, clock)
    spapi(fake, paced, "FR").identify([EAN])
    spapi(fake, paced, "DE", client_id="amzn1.application-oa2-client.other").identify([EAN])
    assert [t for _, path, t in calls if path == CATALOG] == [0.0, 0.0]


def test_a_429_on_fr_pauses_de_but_not_us(
    fake: FakeAmazon, paced: InProcessLimiter, clock: FakeClock
) -> None:
    calls: list[tuple[str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.params["marketplaceIds"], clock.now))
        if len(calls) == 1:
            body = {"errors": [{"code": "QuotaExceeded"}]}
            return httpx.Response(429, json=body, headers={"Retry-After": "30"})
        return httpx.Response(200, json={"numberOfResults": 0, "items": []})

    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, answer)
    fr, de, us = (spapi(fake, paced, m) for m in ("FR", "DE", "US"))
    fr.identify([EAN])
    us.identify([EAN])
    de.identify([EAN])
    assert calls == [("A13V1IB3VIYZZH", 0.0), ("ATVPDKIKX0DER", 0.0), ("A1PA6795UKMFR9", pytest.approx(30.0))]
