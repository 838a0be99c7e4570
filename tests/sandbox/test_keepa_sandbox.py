"""The Keepa simulation over real HTTP: envelope, products, validation, keys and token accounting.

The ``keepa`` PyPI client (1.6) cannot be pointed at the sandbox: ``Keepa._request`` calls the module-level
``requests.get(f"https://api.keepa.com/{request_type}/?", ...)`` with the host written into the f-string,
and the library has no base-URL argument, attribute, environment variable or injectable session. Reaching
the sandbox would mean patching ``keepa.keepa_sync.requests.get`` or ``Keepa._request`` (library
internals), or a TLS-intercepting proxy for ``api.keepa.com``. Instead, the library's own parsers
(``keepa.parse_csv`` and its pydantic ``Product`` model generated from Keepa's Java schema) read what the
sandbox serves, which keeps the shapes honest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from keepa import parse_csv
from keepa.models.backend import Product

from code2asin.sandbox import catalogue, sample_codes
from code2asin.sandbox.keepa import KEEPA_EPOCH_MINUTES
from code2asin.sandbox.server import DEFAULT_KEEPA_KEY, EXPIRED_KEEPA_KEY, SandboxQuotas, SandboxServer


@pytest.fixture
def keepa_sandbox() -> Iterator[SandboxServer]:
    quotas = SandboxQuotas(keepa_tokens=40, keepa_refill_rate=10, keepa_refill_interval_s=60)
    with SandboxServer(quotas=quotas) as server:
        yield server


@pytest.fixture
def http(keepa_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keepa_sandbox.base_url, timeout=10) as client:
        yield client


def get(http: httpx.Client, path: str = "/product", **params: Any) -> httpx.Response:
    return http.get(path, params={"key": DEFAULT_KEEPA_KEY, "domain": "4", **params})


def test_code_lookup_returns_the_catalogue_items_with_ratings_and_the_token_envelope(
    http: httpx.Client, examples: dict[str, list[str]]
) -> None:
    code = examples["several_asins"][0]
    answer = get(http, code=code, stats="1", rating="1", history="1")
    assert answer.status_code == 200
    body = answer.json()
    expected = catalogue.products_for_gtin(code)
    assert [p["asin"] for p in body["products"]] == [i.asin for i in expected]
    assert body["tokensConsumed"] == len(expected) and body["tokensLeft"] == 40 - len(expected)
    assert body["refillRate"] == 10 and 0 < body["refillIn"] <= 60_000
    assert {"timestamp", "tokenFlowReduction", "processingTimeInMs"} <= body.keys()
    first = body["products"][0]
    rating = catalogue.rating_for(first["asin"])
    assert rating is not None
    assert (
        first["stats"]["current"][16] == round(rating[0] * 10) and first["stats"]["current"][17] == rating[1]
    )
    assert first["csv"][16][-1] == round(rating[0] * 10) and first["csv"][17][-1] == rating[1]
    now_minutes = int(time.time() // 60) - KEEPA_EPOCH_MINUTES
    assert first["csv"][3][-2] <= now_minutes and first["csv"][3][-1] == expected[0].sales_rank
    # the keepa library's own parsers read the sandbox's shapes
    parsed = parse_csv(first["csv"])
    assert parsed["RATING"][-1] == pytest.approx(rating[0]) and parsed["COUNT_REVIEWS"][-1] == rating[1]
    model = Product.model_validate(first)
    assert model.asin == first["asin"] and model.stats is not None and model.images


def test_history_0_drops_csv_rating_0_leaves_reviews_out_and_code_limit_caps_products(
    http: httpx.Client, examples: dict[str, list[str]]
) -> None:
    code = examples["several_asins"][0]
    body = get(http, code=code, stats="1", history="0", **{"code-limit": "1"}).json()
    (only,) = body["products"]
    assert only["csv"] is None and only["stats"]["current"][16] == -1 and only["stats"]["current"][17] == -1
    assert body["tokensConsumed"] == 1


def test_asin_lookup_and_codes_keepa_does_not_accept(
    http: httpx.Client, examples: dict[str, list[str]]
) -> None:
    book = examples["book"][0]
    isbn10 = catalogue.products_for_gtin(book)[0].asin
    assert get(http, code=isbn10).json()["products"] == []  # ISBN-10 is not a Keepa code
    assert [p["asin"] for p in get(http, code=book).json()["products"]] == [isbn10]
    unknown = examples["unknown"][0]
    body = get(http, asin=f"{isbn10},B0ZZZZZZZZ", code=None).json()
    assert [p["asin"] for p in body["products"]] == [isbn10]
    assert get(http, code=unknown).json()["tokensConsumed"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"code": "4006381333931", "asin": "B000000001"},
        {},
        {"code": ",".join(["4006381333931"] * 101)},
        {"code": "4006381333931", "domain": "7"},
        {"code": "4006381333931", "code-limit": "0"},
        {"code": "4006381333931", "history": "yes"},
        {"code": "4006381333931", "stats": "-3"},
    ],
)
def test_invalid_requests_are_rejected_without_spending_tokens(
    http: httpx.Client, params: dict[str, str]
) -> None:
    answer = get(http, **params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"]["type"] == "invalidParameter" and body["tokensConsumed"] == 0


def test_keys_unknown_is_rejected_expired_needs_payment(keepa_sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=keepa_sandbox.base_url, timeout=10) as http:
        bad = http.get("/product/", params={"key": "nope", "domain": "4", "code": "4006381333931"})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalidKey"
        expired = http.get("/product", params={"key": EXPIRED_KEEPA_KEY, "domain": "4", "code": "1"})
        assert expired.status_code == 402 and expired.json()["error"]["type"] == "PAYMENT_REQUIRED"


def test_a_positive_balance_may_go_negative_then_requests_get_429(
    http: httpx.Client, keepa_sandbox: SandboxServer
) -> None:
    asins = [i.asin for c in sample_codes.example_codes()["single"] for i in catalogue.products_for_gtin(c)]
    keepa_sandbox.keepa_tokens.set_balance(DEFAULT_KEEPA_KEY, 2)
    first = get(http, asin=",".join(asins[:5]))
    assert first.status_code == 200 and first.json()["tokensLeft"] == -3
    refused = get(http, asin=asins[0])
    assert refused.status_code == 429 and refused.json()["error"]["type"] == "NOT_ENOUGH_TOKEN"
    assert refused.json()["tokensConsumed"] == 0 and refused.json()["refillIn"] > 0
    status = get(http, "/token").json()
    assert status["tokensLeft"] == -3 and status["tokensConsumed"] == 0
    # the request log carries what each answer consumed (what a benchmark counts against the refill)
    logged = [(e.operation, e.status, e.tokens) for e in keepa_sandbox.request_log[-3:]]
    assert logged == [("keepaProduct", 200, 5), ("keepaProduct", 429, 0), ("keepaToken", 200, 0)]


def test_the_bucket_refills_in_steps_up_to_its_capacity() -> None:
    quotas = SandboxQuotas(keepa_tokens=25, keepa_refill_rate=10, keepa_refill_interval_s=0.1)
    with SandboxServer(quotas=quotas) as server, httpx.Client(base_url=server.base_url) as http:
        server.keepa_tokens.set_balance(DEFAULT_KEEPA_KEY, -5)
        time.sleep(0.25)
        left = get(http, "/token").json()["tokensLeft"]
        assert left in (5, 15)
        time.sleep(0.5)
        assert get(http, "/token").json()["tokensLeft"] == 25


def test_keepa_faults_use_keepa_envelopes(keepa_sandbox: SandboxServer, http: httpx.Client) -> None:
    keepa_sandbox.inject_faults("keepaProduct", "429")
    keepa_sandbox.inject_faults("keepaProduct", "503")
    assert get(http, code="4006381333931").status_code == 429
    answer = get(http, code="4006381333931")
    assert answer.status_code == 503 and "tokensLeft" in answer.json()
    assert [e.status for e in keepa_sandbox.request_log if e.operation == "keepaProduct"] == [429, 503]
