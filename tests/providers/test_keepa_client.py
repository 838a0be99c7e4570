"""The Keepa client against a scripted fake of ``api.keepa.com`` (parsing, errors, pacing arithmetic)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from code2asin.config import KeepaSettings
from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import LookupCode
from code2asin.providers.keepa import (
    PAYMENT_REQUIRED_MESSAGE,
    KeepaClient,
    keepa_time_to_unix_ms,
    request_code,
)

if TYPE_CHECKING:
    from conftest import FakeAmazon, FakeClock, RecordingLimiter

KEY = "keepa-secret-key-0123456789"


def status(tokens: int = 1000, refill_in: int = 30_000, rate: int = 20, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": 1,
        "tokensLeft": tokens,
        "refillIn": refill_in,
        "refillRate": rate,
        "tokensConsumed": 0,
        "processingTimeInMs": 1,
        **extra,
    }


def product(
    asin: str,
    *,
    eans: list[str] | None = None,
    upcs: list[str] | None = None,
    current: dict[int, int] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    values = [-1] * 36
    for index, value in (current or {}).items():
        values[index] = value
    return {
        "asin": asin,
        "title": f"Item {asin}",
        "brand": "Acme",
        "eanList": eans,
        "upcList": upcs,
        "images": [{"l": f"{asin}img.jpg", "lH": 500, "lW": 500}],
        "stats": {"current": values},
        "csv": None,
        **fields,
    }


def client(fake: FakeAmazon, **kwargs: Any) -> KeepaClient:
    options: dict[str, Any] = {
        "http": fake.client(),
        "api_key": KEY,
        "marketplace": "FR",
        "api_url": "https://keepa.test",
        **kwargs,
    }
    return KeepaClient(**options)


def code(value: str, kind: str) -> LookupCode:
    from code2asin import barcodes

    parsed = barcodes.parse_code(value)
    assert parsed.gtin is not None
    return LookupCode(gtin=parsed.gtin, code=value, code_type=kind)


def test_request_codes_are_the_forms_keepa_accepts() -> None:
    assert request_code(code("0306406152", "ISBN10")) == "9780306406157"
    assert request_code(code("036000291452", "UPC")) == "036000291452"
    assert request_code(code("4006381333931", "EAN")) == "4006381333931"
    assert request_code(code("96385074", "EAN8")) == "96385074"
    assert request_code(code("10036000291459", "GTIN14")) == "10036000291459"


def test_identify_sends_one_call_with_the_documented_parameters_and_maps_products_back(
    fake: FakeAmazon,
) -> None:
    fake.on("/token", fake.reply(200, status()))
    fake.on(
        "/product",
        fake.reply(
            200,
            status(
                products=[
                    product(
                        "B000000001",
                        eans=["4006381333931"],
                        current={0: 1999, 1: 1899, 3: 42, 16: 46, 17: 12534},
                    ),
                    product("B000000002", upcs=["036000291452"], current={0: -1, 1: 550, 16: -1, 17: -1}),
                    product("0306406152", eans=["9780306406157"], title="A <b>Book</b> &amp; more"),
                ]
            ),
        ),
    )
    codes = [
        code("4006381333931", "EAN"),
        code("036000291452", "UPC"),
        code("0306406152", "ISBN10"),
        code("3017620422003", "EAN"),
    ]
    out = client(fake, code_limit=3).identify(codes)
    (call,) = fake.to("/product")
    params = dict(call.url.params)
    assert params == {
        "key": KEY,
        "domain": "4",
        "stats": "1",
        "history": "0",
        "rating": "1",
        "code": "4006381333931,036000291452,9780306406157,3017620422003",
        "code-limit": "3",
    }
    first = out[codes[0].gtin].candidates
    assert [c.asin for c in first] == ["B000000001"]
    c = first[0]
    assert (c.price, c.currency, c.sales_rank, c.rating, c.review_count) == (
        Decimal("19.99"),
        "EUR",
        42,
        4.6,
        12534,
    )
    assert c.images == ["https://m.media-amazon.com/images/I/B000000001img.jpg"]
    assert c.detail_page_url == "https://www.amazon.fr/dp/B000000001"
    assert c.field_sources["rating"] == "keepa" and c.identifiers == {"EAN": ["4006381333931"]}
    upc = out[codes[1].gtin].candidates[0]
    assert (upc.price, upc.rating, upc.review_count) == (Decimal("5.50"), None, None)
    assert out[codes[2].gtin].candidates[0].title == "A Book & more"
    assert out[codes[3].gtin].candidates == [] and out[codes[3].gtin].error is None
    assert KEY not in str([o.api_response for o in out.values()])


def test_current_values_fall_back_to_the_last_csv_point_and_yen_have_no_decimals(fake: FakeAmazon) -> None:
    csv: list[list[int] | None] = [None] * 36
    csv[0] = [100, 1500, 200, 1280]
    csv[3] = [100, 900, 200, 700]
    csv[16] = [100, 44]
    csv[17] = [100, 80]
    item = product(
        "B0000000JP", eans=["4901234567894"], stats=None, csv=csv, images=None, imagesCSV="a.jpg,b.jpg"
    )
    fake.on("/token", fake.reply(200, status()))
    fake.on("/product", fake.reply(200, status(products=[item])))
    out = client(fake, marketplace="JP", history=True).enrich(["B0000000JP"])
    candidate = out["B0000000JP"]
    assert not isinstance(candidate, ProviderError)
    assert (candidate.price, candidate.currency, candidate.sales_rank) == (Decimal(1280), "JPY", 700)
    assert (candidate.rating, candidate.review_count) == (4.4, 80)
    assert candidate.images[1] == "https://m.media-amazon.com/images/I/b.jpg"
    assert dict(fake.to("/product")[0].url.params)["history"] == "1"


def test_enrich_marks_unknown_asins_invalid_data(fake: FakeAmazon) -> None:
    fake.on("/token", fake.reply(200, status()))
    fake.on("/product", fake.reply(200, status(products=[product("B000000001"), {"asin": "B000000009"}])))
    out = client(fake).enrich(["B000000001", "B000000009", "B00000000X"])
    assert not isinstance(out["B000000001"], ProviderError)
    for asin in ("B000000009", "B00000000X"):
        error = out[asin]
        assert isinstance(error, ProviderError) and error.error_type is ErrorType.INVALID_DATA
    assert dict(fake.to("/product")[0].url.params)["asin"] == "B000000001,B000000009,B00000000X"


def test_payment_required_stops_the_job_with_one_sentence(fake: FakeAmazon) -> None:
    fake.on("/token", fake.reply(402, status(0, 0, 0, error={"type": "PAYMENT_REQUIRED"})))
    with pytest.raises(ConfigurationError) as info:
        client(fake).identify([code("4006381333931", "EAN")])
    assert str(info.value) == PAYMENT_REQUIRED_MESSAGE and KEY not in str(info.value)


def test_a_rejected_key_is_a_configuration_error_and_other_400s_are_invalid_data(fake: FakeAmazon) -> None:
    fake.on(
        "/token", fake.reply(400, status(0, 0, 0, error={"type": "invalidKey", "message": "Invalid key"}))
    )
    with pytest.raises(ConfigurationError, match="CODE2ASIN_KEEPA_API_KEY"):
        client(fake).enrich(["B000000001"])
    fake.on("/token", fake.reply(200, status()))
    fake.on("/product", fake.reply(400, status(error={"type": "invalidParameter", "message": "bad code"})))
    out = client(fake).identify([code("4006381333931", "EAN")])
    error = next(iter(out.values())).error
    assert error is not None and error.error_type is ErrorType.INVALID_DATA


def test_not_enough_tokens_is_a_rate_limit_with_the_refill_delay(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    fake.on("/token", fake.reply(200, status(500)))
    fake.on("/product", fake.reply(429, status(-5, 12_000, error={"type": "NOT_ENOUGH_TOKEN"})))
    keepa = client(fake, limiter=limiter)
    out = keepa.enrich(["B000000001"])
    error = out["B000000001"]
    assert isinstance(error, ProviderError) and error.error_type is ErrorType.API_RATE_LIMIT
    assert error.retry_after == 12.0
    assert limiter.penalties == [(keepa.limiter_key, 12.0)] and KEY not in keepa.limiter_key
    assert keepa.token_state is not None and keepa.token_state.tokens_left == -5


@pytest.mark.parametrize("kind", ["503", "not-json", "timeout", "connect"])
def test_transient_failures_are_network_errors(fake: FakeAmazon, kind: str) -> None:
    responders = {
        "503": fake.reply(503, {}),
        "not-json": fake.raw(200, "<html>oops"),
        "timeout": fake.fail(httpx.ReadTimeout),
        "connect": fake.fail(httpx.ConnectError),
    }
    fake.on("/token", fake.reply(200, status()))
    fake.on("/product", responders[kind])
    out = client(fake).identify([code("4006381333931", "EAN")])
    error = next(iter(out.values())).error
    assert error is not None and error.error_type is ErrorType.NETWORK and KEY not in str(error)


def test_the_client_sleeps_while_the_balance_is_not_positive_then_sends(
    fake: FakeAmazon, clock: FakeClock
) -> None:
    balances = iter([status(-50, 4_000), status(-30, 60_000), status(1, 60_000)])
    fake.on("/token", lambda request: httpx.Response(200, json=next(balances)))
    fake.on("/product", fake.reply(200, status(-79, 60_000, products=[])))
    keepa = client(fake, sleep=clock.sleep, clock=clock, max_wait_s=120)
    out = keepa.enrich([f"B00000{n:04d}" for n in range(100)])
    assert not any(
        isinstance(v, ProviderError) and v.error_type is ErrorType.API_RATE_LIMIT for v in out.values()
    )
    # one refill, then the next: one token is enough for Keepa to serve a call of 100 ASINs
    assert clock.sleeps == [pytest.approx(4.05), pytest.approx(60.05)]
    assert len(fake.to("/product")) == 1 and len(fake.to("/token")) == 3


def test_a_positive_balance_smaller_than_the_call_is_checked_then_spent_without_waiting(
    fake: FakeAmazon, clock: FakeClock
) -> None:
    """Keepa lets a call take the balance below zero: waiting for 100 tokens would waste the ones the
    codes not found never cost."""
    balances = iter([status(1000, 1_000), status(50, 1_000)])
    fake.on("/token", lambda request: httpx.Response(200, json=next(balances)))
    answers = iter([status(50, 1_000, products=[]), status(-30, 1_000, products=[])])
    fake.on("/product", lambda request: httpx.Response(200, json=next(answers)))
    keepa = client(fake, sleep=clock.sleep, clock=clock)
    keepa.enrich([f"B00000{n:04d}" for n in range(100)])  # 1000 known: no check before it
    keepa.enrich([f"B00001{n:04d}" for n in range(100)])  # 50 known: asked again (another worker may
    assert clock.sleeps == []  # have spent them), still positive: sent
    assert [r.url.path for r in fake.requests] == ["/token", "/product", "/token", "/product"]
    assert keepa.token_state is not None and keepa.token_state.tokens_left == -30


def test_a_wait_longer_than_max_wait_is_handed_back_as_a_rate_limit(
    fake: FakeAmazon, clock: FakeClock
) -> None:
    fake.on("/token", fake.reply(200, status(-400, 50_000)))
    keepa = client(fake, sleep=clock.sleep, clock=clock, max_wait_s=30)
    error = keepa.enrich(["B000000001"])["B000000001"]
    assert isinstance(error, ProviderError) and error.error_type is ErrorType.API_RATE_LIMIT
    # not sent: the row spends no attempt; it comes back once the balance is positive again: 401 tokens
    # have come in (21 refills of 20)
    assert error.sent is False and error.retry_after == pytest.approx(50.05 + 20 * 60)
    assert clock.sleeps == [] and not fake.to("/product")


def test_configuration_faults_name_the_setting() -> None:
    http = httpx.Client()
    try:
        with pytest.raises(ConfigurationError, match="CODE2ASIN_KEEPA_API_KEY"):
            KeepaClient.from_settings(KeepaSettings(api_key=None), marketplace="FR", http=http)
        with pytest.raises(ConfigurationError, match=r"www\.amazon\.nl.*CODE2ASIN_PROVIDER"):
            KeepaClient(http=http, api_key=KEY, marketplace="NL")
    finally:
        http.close()


def test_keepa_time_converts_to_unix_milliseconds() -> None:
    assert keepa_time_to_unix_ms(0) == 1_293_840_000_000  # 2011-01-01T00:00:00Z


def test_keepa_domains_agree_with_the_reference_data_and_the_sandbox() -> None:
    from code2asin.providers.marketplaces import KEEPA_DOMAINS, MARKETPLACES, by_keepa_domain
    from code2asin.sandbox.keepa import DOMAINS as SANDBOX_DOMAINS
    from code2asin.sandbox.marketplaces import BY_COUNTRY

    expected = {
        1: "US",
        2: "UK",
        3: "DE",
        4: "FR",
        5: "JP",
        6: "CA",
        8: "IT",
        9: "ES",
        10: "IN",
        11: "MX",
        12: "BR",
    }
    assert KEEPA_DOMAINS == expected == SANDBOX_DOMAINS
    assert all(by_keepa_domain(i).code == c for i, c in expected.items())
    with pytest.raises(ValueError, match="Keepa has no domain 7"):
        by_keepa_domain(7)
    for m in MARKETPLACES.values():  # the sandbox simulates every marketplace with the same reference data
        s = BY_COUNTRY[m.code]
        assert (s.host, s.marketplace_id, s.currency, s.locale) == (
            m.host,
            m.spapi_marketplace_id,
            m.currency,
            m.locale,
        )
        assert s.region.lower() == m.spapi_region
