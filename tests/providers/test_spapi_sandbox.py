"""The SP-API client against the sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import LookupCode
from code2asin.providers.ratelimit import InProcessLimiter
from code2asin.providers.spapi import SpapiClient, SpapiPricing
from code2asin.sandbox import sample_codes, server
from code2asin.sandbox.server import SandboxServer

SandboxQuotas = server.SandboxQuotas
_open: list[httpx.Client] = []


def lookup(code: str) -> LookupCode:
    kind = {8: "EAN8", 12: "UPC", 14: "GTIN14"}.get(len(code), "ISBN13" if code.startswith("97") else "EAN")
    return LookupCode(gtin=code.zfill(14), code=code, code_type=kind)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, latency_ms=0, quotas=SandboxQuotas.unlimited(), fault_timeout_s=2.0) as sb:
        yield sb
    while _open:
        _open.pop().close()


def client(
    sb: SandboxServer, refresh_token: str = server.DEFAULT_REFRESH_TOKEN, rate: float = 1000.0
) -> SpapiClient:
    http = httpx.Client(timeout=httpx.Timeout(5.0, read=0.5))
    _open.append(http)
    return SpapiClient(
        http=http,
        limiter=InProcessLimiter(),
        client_id=server.DEFAULT_LWA_CLIENT_ID,
        client_secret=server.DEFAULT_LWA_CLIENT_SECRET,
        refresh_token=refresh_token,
        marketplace="FR",
        api_url=sb.base_url,
        token_url=sb.lwa_token_url,
        catalog_rate=rate,
        pricing_rate=rate,
    )


def twenty_codes() -> list[LookupCode]:
    ex = sample_codes.example_codes()
    raw = ex["single"] + ex["upc_spelling"] + ex["several_asins"] + ex["unknown"]
    return [lookup(c) for c in raw][:20]


def test_twenty_mixed_codes_are_mapped_back_to_their_own_items(sandbox: SandboxServer) -> None:
    codes = twenty_codes()
    assert len(codes) == 20 and {c.code_type for c in codes} == {"EAN", "UPC"}
    unknown = {lookup(c).gtin for c in sample_codes.example_codes()["unknown"]}
    out = client(sandbox).identify(codes)
    assert set(out) == {c.gtin for c in codes}
    for code in codes:
        outcome = out[code.gtin]
        assert outcome.error is None
        if code.gtin in unknown:
            assert outcome.candidates == [], code
            continue
        assert outcome.candidates, code
        for candidate in outcome.candidates:  # every candidate proves the code by one of its identifiers
            ids = {v.zfill(14) for values in candidate.identifiers.values() for v in values}
            assert code.gtin in ids, (code, candidate.identifiers)
    calls = [e for e in sandbox.request_log if e.operation == "searchCatalogItems"]
    assert all(len(e.codes) <= 20 for e in calls)
    assert sum(len(e.codes) for e in calls) == 20


def test_upc_spellings_are_sent_as_twelve_digit_upcs(sandbox: SandboxServer) -> None:
    codes = [lookup(c) for c in sample_codes.example_codes()["upc_spelling"]]
    out = client(sandbox).identify(codes)
    assert all(out[c.gtin].candidates for c in codes)
    [call] = [e for e in sandbox.request_log if e.operation == "searchCatalogItems"]
    assert all(len(code) == 12 for code in call.codes)


def test_several_asins_for_one_code_are_all_kept(sandbox: SandboxServer) -> None:
    code = lookup(sample_codes.example_codes()["several_asins"][0])
    outcome = client(sandbox).identify([code])[code.gtin]
    assert len({c.asin for c in outcome.candidates}) >= 2


def test_books_are_looked_up_by_isbn(sandbox: SandboxServer) -> None:
    codes = [lookup(c) for c in sample_codes.example_codes()["book"]]
    out = client(sandbox).identify(codes)
    assert any(out[c.gtin].candidates for c in codes)
    assert all(out[c.gtin].error is None for c in codes)


def test_prices_go_twenty_asins_per_call(sandbox: SandboxServer) -> None:
    c = client(sandbox)
    ex = sample_codes.example_codes()
    codes = [
        lookup(x) for k in ("single", "several_asins", "variation", "multipack", "no_images") for x in ex[k]
    ]
    asins = list(dict.fromkeys(cand.asin for o in c.identify(codes).values() for cand in o.candidates))[:25]
    assert len(asins) == 25
    out = SpapiPricing(c).enrich(asins)
    assert set(out) == set(asins)
    priced = [v for v in out.values() if not isinstance(v, ProviderError) and v.price is not None]
    assert priced and all(p.currency == "EUR" for p in priced)
    calls = [e.asins for e in sandbox.request_log if e.operation == "getCompetitivePricing"]
    assert [len(a) for a in calls] == [20, 5]


def test_injected_429_is_rate_limited_for_the_whole_batch(sandbox: SandboxServer) -> None:
    codes = twenty_codes()[:3]
    sandbox.inject_faults("searchCatalogItems", "429", 1)
    out = client(sandbox).identify(codes)
    for code in codes:
        error = out[code.gtin].error
        assert error is not None and error.error_type is ErrorType.API_RATE_LIMIT and error.retry_after


@pytest.mark.parametrize("kind", ["500", "503", "timeout", "malformed_json"])
def test_injected_faults_are_network_errors(sandbox: SandboxServer, kind: str) -> None:
    code = twenty_codes()[0]
    sandbox.inject_faults("searchCatalogItems", kind, 1)
    error = client(sandbox).identify([code])[code.gtin].error
    assert error is not None and error.error_type is ErrorType.NETWORK


def test_injected_pricing_fault_marks_every_asin_of_the_call(sandbox: SandboxServer) -> None:
    sandbox.inject_faults("getCompetitivePricing", "500", 1)
    out = client(sandbox).prices(["B000000001", "B000000002"])
    assert all(isinstance(v, ProviderError) and v.error_type is ErrorType.NETWORK for v in out.values())


def test_wrong_refresh_token_stops_with_the_setting_to_fix(sandbox: SandboxServer) -> None:
    with pytest.raises(ConfigurationError, match="CODE2ASIN_SPAPI_REFRESH_TOKEN") as info:
        client(sandbox, refresh_token="Atzr|wrong").identify([twenty_codes()[0]])
    assert "Atzr|wrong" not in str(info.value)


def test_expired_access_token_is_refreshed_transparently(sandbox: SandboxServer) -> None:
    c = client(sandbox)
    code = twenty_codes()[0]
    c.identify([code])
    sandbox.expire_tokens()
    assert c.identify([code])[code.gtin].candidates
    assert [e.operation for e in sandbox.request_log].count("token") == 2
