"""The Creators client against the sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import LookupCode
from code2asin.providers.creators import CreatorsClient
from code2asin.providers.ratelimit import InProcessLimiter
from code2asin.sandbox import sample_codes, server
from code2asin.sandbox.server import SandboxServer

SandboxQuotas = server.SandboxQuotas


def lookup(code: str) -> LookupCode:
    kind = {8: "EAN8", 12: "UPC", 14: "GTIN14"}.get(len(code), "ISBN13" if code.startswith("97") else "EAN")
    return LookupCode(gtin=code.zfill(14), code=code, code_type=kind)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, latency_ms=0, quotas=SandboxQuotas.unlimited(), fault_timeout_s=2.0) as sb:
        yield sb


_open: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_http_clients() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def client(
    sb: SandboxServer, *, version: str = "2.2", rps: float = 1000.0, **overrides: str
) -> CreatorsClient:
    settings = {
        "credential_id": server.DEFAULT_CREDENTIAL_ID,
        "credential_secret": server.DEFAULT_CREDENTIAL_SECRET,
        "partner_tag": server.DEFAULT_PARTNER_TAG,
    } | overrides
    http = httpx.Client(timeout=httpx.Timeout(5.0, read=0.5))
    _open.append(http)
    return CreatorsClient(
        http=http,
        limiter=InProcessLimiter(),
        credential_version=version,
        marketplace="FR",
        api_url=sb.base_url,
        token_url=sb.cognito_token_url if version.startswith("2.") else sb.lwa_token_url,
        requests_per_second=rps,
        **settings,
    )


@pytest.mark.parametrize("version", ["2.2", "3.2"])
def test_identify_finds_example_codes_with_one_token_for_the_run(
    sandbox: SandboxServer, version: str
) -> None:
    examples = sample_codes.example_codes()
    codes = [lookup(c) for c in examples["single"] + examples["upc_spelling"]]
    c = client(sandbox, version=version)
    out = c.identify(codes)
    for code in codes:
        outcome = out[code.gtin]
        assert outcome.error is None and outcome.candidates, code
        ids = {v.zfill(14) for values in outcome.candidates[0].identifiers.values() for v in values}
        assert code.gtin in ids
    log = sandbox.request_log
    assert [e.operation for e in log].count("token") == 1
    assert all(e.marketplace == "www.amazon.fr" for e in log if e.operation == "searchItems")


def test_unknown_code_is_not_found_without_error(sandbox: SandboxServer) -> None:
    code = lookup(sample_codes.example_codes()["unknown"][0])
    outcome = client(sandbox).identify([code])[code.gtin]
    assert outcome.error is None and outcome.candidates == []


def test_book_is_found_in_the_books_index(sandbox: SandboxServer) -> None:
    code = lookup(sample_codes.example_codes()["book"][0])
    outcome = client(sandbox).identify([code])[code.gtin]
    assert outcome.error is None and outcome.candidates


def test_enrich_sends_ten_asins_per_get_items_and_flags_invalid_ones(sandbox: SandboxServer) -> None:
    examples = sample_codes.example_codes()
    c = client(sandbox)
    codes = [lookup(x) for x in examples["single"] + examples["several_asins"] + examples["variation"]]
    asins = [cand.asin for o in c.identify(codes).values() for cand in o.candidates][:11]
    assert len(asins) == 11
    out = c.enrich([*asins, "NOT-AN-ASIN"])
    assert all(isinstance(out[a], ProviderError) is False for a in asins)
    invalid = out["NOT-AN-ASIN"]
    assert isinstance(invalid, ProviderError) and invalid.error_type is ErrorType.INVALID_DATA
    batches = [e.asins for e in sandbox.request_log if e.operation == "getItems"]
    assert [len(b) for b in batches] == [10, 2]


def test_injected_429_is_a_rate_limit_and_the_next_call_succeeds(sandbox: SandboxServer) -> None:
    code = lookup(sample_codes.example_codes()["single"][0])
    c = client(sandbox)
    sandbox.inject_faults("searchItems", "429", 1)
    error = c.identify([code])[code.gtin].error
    assert error is not None and error.error_type is ErrorType.API_RATE_LIMIT and error.retry_after == 1.0
    assert c.identify([code])[code.gtin].candidates


@pytest.mark.parametrize("kind", ["500", "503", "timeout", "malformed_json"])
def test_injected_server_faults_are_network_errors(sandbox: SandboxServer, kind: str) -> None:
    code = lookup(sample_codes.example_codes()["single"][0])
    c = client(sandbox)
    sandbox.inject_faults("searchItems", kind, 1)
    error = c.identify([code])[code.gtin].error
    assert error is not None and error.error_type is ErrorType.NETWORK


def test_expired_tokens_are_refreshed_transparently(sandbox: SandboxServer) -> None:
    code = lookup(sample_codes.example_codes()["single"][0])
    c = client(sandbox)
    c.identify([code])
    sandbox.expire_tokens()
    assert c.identify([code])[code.gtin].candidates
    assert [e.operation for e in sandbox.request_log].count("token") == 2


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"partner_tag": "someone-else-21"}, "partner tag 'someone-else-21'"),
        ({"credential_secret": "wrong"}, "CODE2ASIN_CREATORS_CREDENTIAL_SECRET"),
        ({"credential_id": server.INELIGIBLE_CREDENTIAL_ID}, "not eligible"),
    ],
)
def test_configuration_faults_raise_one_clear_sentence(
    sandbox: SandboxServer, overrides: dict[str, str], expected: str
) -> None:
    code = lookup(sample_codes.example_codes()["single"][0])
    with pytest.raises(ConfigurationError, match=expected) as info:
        client(sandbox, **overrides).identify([code])
    assert server.DEFAULT_CREDENTIAL_SECRET not in str(info.value)


def test_pacing_under_the_quota_never_earns_a_429() -> None:
    quotas = SandboxQuotas(creators_rps=20.0, creators_burst=1)
    code = lookup(sample_codes.example_codes()["single"][0])
    with SandboxServer(port=0, latency_ms=0, quotas=quotas) as sb:
        c = client(sb, rps=20.0)
        for _ in range(8):
            assert c.identify([code])[code.gtin].error is None
        assert all(e.status != 429 for e in sb.request_log)
