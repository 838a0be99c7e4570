"""``search_title`` of the Creators, SP-API and Keepa clients against the sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.providers.conftest import RecordingLimiter

from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import Candidate, TitleQuery, TitleSearchProvider
from code2asin.providers.client_support import counting_calls
from code2asin.providers.creators import CreatorsClient
from code2asin.providers.keepa import SEARCH_PAGE_TOKENS, KeepaClient
from code2asin.providers.spapi import SpapiClient, title_keywords
from code2asin.sandbox import server as sb
from code2asin.sandbox import title_cases, titles
from code2asin.sandbox.title_families import FAMILIES

MATCHES = [c for c in title_cases.title_cases() if c.expected_asin][::12]
_open: list[httpx.Client] = []


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(quotas=sb.SandboxQuotas.unlimited(), fault_timeout_s=2.0) as server:
        yield server
    while _open:
        _open.pop().close()


def _http() -> httpx.Client:
    http = httpx.Client(timeout=httpx.Timeout(5.0, read=1.0))
    _open.append(http)
    return http


def creators(server: sb.SandboxServer, limiter: RecordingLimiter | None = None) -> CreatorsClient:
    return CreatorsClient(
        http=_http(),
        limiter=limiter or RecordingLimiter(),
        credential_id=sb.DEFAULT_CREDENTIAL_ID,
        credential_secret=sb.DEFAULT_CREDENTIAL_SECRET,
        credential_version="2.2",
        partner_tag=sb.DEFAULT_PARTNER_TAG,
        api_url=server.base_url,
        token_url=server.cognito_token_url,
        requests_per_second=1000.0,
    )


def spapi(server: sb.SandboxServer, limiter: RecordingLimiter | None = None) -> SpapiClient:
    return SpapiClient(
        http=_http(),
        limiter=limiter or RecordingLimiter(),
        client_id=sb.DEFAULT_LWA_CLIENT_ID,
        client_secret=sb.DEFAULT_LWA_CLIENT_SECRET,
        refresh_token=sb.DEFAULT_REFRESH_TOKEN,
        api_url=server.base_url,
        token_url=server.lwa_token_url,
        catalog_rate=1000.0,
    )


def keepa(server: sb.SandboxServer, **kwargs: Any) -> KeepaClient:
    return KeepaClient(
        http=_http(),
        api_key=sb.DEFAULT_KEEPA_KEY,
        api_url=server.base_url,
        image_base_url=f"{server.base_url}/images/I/",
        **kwargs,
    )


CLIENTS = {"creators": creators, "spapi": spapi, "keepa": keepa}
OPERATIONS = {"creators": "searchItems", "spapi": "searchCatalogItems", "keepa": "keepaSearch"}


@pytest.mark.parametrize("name", CLIENTS)
def test_search_title_finds_the_rows_item_among_filled_candidates(
    sandbox: sb.SandboxServer, name: str
) -> None:
    client = CLIENTS[name](sandbox)
    assert isinstance(client, TitleSearchProvider)
    found = 0
    for case in MATCHES:
        candidates = client.search_title(TitleQuery(case.title, case.brand))
        assert candidates and all(c.title and c.brand and c.source == name for c in candidates)
        found += case.expected_asin in [c.asin for c in candidates]
    assert found >= 0.9 * len(MATCHES)
    assert sum(e.operation == OPERATIONS[name] for e in sandbox.request_log) == len(MATCHES)


def _expected_candidate(name: str, candidate: Candidate) -> None:
    item = titles.title_item(candidate.asin)
    assert item is not None and candidate.title == item.title and candidate.brand == item.brand
    assert candidate.images and candidate.sales_rank == item.sales_rank
    assert candidate.detail_page_url and candidate.asin in candidate.detail_page_url
    assert candidate.field_sources["title"] == name
    if name == "spapi":
        assert candidate.item_classification == "BASE_PRODUCT" and candidate.price is None
    else:
        assert candidate.price is not None and candidate.currency == "EUR"
    assert candidate.package_quantity == item.package_quantity
    assert {v.zfill(14) for vs in candidate.identifiers.values() for v in vs} == {
        e.zfill(14) for e in item.eans
    }


@pytest.mark.parametrize("name", CLIENTS)
def test_candidates_are_mapped_with_the_identify_mapping(sandbox: sb.SandboxServer, name: str) -> None:
    family = FAMILIES[0]
    candidates = CLIENTS[name](sandbox).search_title(TitleQuery(family.words, family.brand))
    assert len(candidates) > 1
    for candidate in candidates:
        _expected_candidate(name, candidate)


@pytest.mark.parametrize("name", ["creators", "spapi"])
def test_the_brand_filters_the_answer(sandbox: sb.SandboxServer, name: str) -> None:
    family = FAMILIES[2]
    client = CLIENTS[name](sandbox)
    unfiltered = client.search_title(TitleQuery(family.words))
    assert {family.brand, family.rival} <= {c.brand for c in unfiltered}
    filtered = client.search_title(TitleQuery(family.words, family.rival))
    assert filtered and {c.brand for c in filtered} == {family.rival}


def test_keepa_puts_the_brand_in_the_term_once(sandbox: sb.SandboxServer) -> None:
    family = FAMILIES[2]
    client = keepa(sandbox)
    first = client.search_title(TitleQuery(family.words, family.rival))
    assert first[0].brand == family.rival
    again = client.search_title(TitleQuery(f"{family.rival} {family.words}", family.rival))
    assert [c.asin for c in again] == [c.asin for c in first]
    terms = [e.codes[0] for e in sandbox.request_log if e.operation == "keepaSearch"]
    assert terms == [f"{family.rival} {family.words}"] * 2


@pytest.mark.parametrize("name", CLIENTS)
def test_nothing_shared_is_an_empty_list(sandbox: sb.SandboxServer, name: str) -> None:
    assert CLIENTS[name](sandbox).search_title(TitleQuery("zorglub intergalactique", "Inconnue")) == []


@pytest.mark.parametrize("name", CLIENTS)
def test_each_search_is_one_counted_call(sandbox: sb.SandboxServer, name: str) -> None:
    client = CLIENTS[name](sandbox)
    with counting_calls() as box:
        client.search_title(TitleQuery(FAMILIES[1].words))
        client.search_title(TitleQuery(FAMILIES[4].words, FAMILIES[4].brand))
    assert box[0] == 2


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [("429", ErrorType.API_RATE_LIMIT), ("503", ErrorType.NETWORK), ("500", ErrorType.NETWORK)],
)
@pytest.mark.parametrize("name", CLIENTS)
def test_throttling_and_server_errors_are_classified(
    sandbox: sb.SandboxServer, name: str, fault: str, error_type: ErrorType
) -> None:
    client = CLIENTS[name](sandbox)
    sandbox.inject_faults(OPERATIONS[name], fault)
    with pytest.raises(ProviderError) as caught:
        client.search_title(TitleQuery(FAMILIES[0].words))
    assert caught.value.error_type == error_type and not isinstance(caught.value, ConfigurationError)
    if fault == "429":
        assert caught.value.retry_after is not None and caught.value.retry_after > 0
    if isinstance(client, KeepaClient):
        client.refresh_balance()  # a 429 reports an empty balance: Keepa's client waits for the refill
    assert client.search_title(TitleQuery(FAMILIES[0].words))  # the next call goes through


def test_creators_and_spapi_pace_on_identifys_limiter_keys(sandbox: sb.SandboxServer) -> None:
    c_limiter, s_limiter = RecordingLimiter(), RecordingLimiter()
    c, s = creators(sandbox, c_limiter), spapi(sandbox, s_limiter)
    sandbox.inject_faults("searchItems", "429")
    sandbox.inject_faults("searchCatalogItems", "429")
    for client in (c, s):
        with pytest.raises(ProviderError):
            client.search_title(TitleQuery(FAMILIES[0].words))
        client.search_title(TitleQuery(FAMILIES[0].words))
    assert c_limiter.acquired == [c.limiter_key] * 2 and c_limiter.penalties[0][0] == c.limiter_key
    assert s_limiter.acquired == [s.catalog_key] * 2 and s_limiter.penalties[0][0] == s.catalog_key


def test_keepa_charges_ten_tokens_per_search_in_its_accounting() -> None:
    quotas = sb.SandboxQuotas(keepa_tokens=25, keepa_refill_rate=5, keepa_refill_interval_s=60)
    with sb.SandboxServer(quotas=quotas) as server:
        client = keepa(server, max_wait_s=0.5)
        client.search_title(TitleQuery(FAMILIES[0].words))
        state = client.token_state
        assert state is not None and state.tokens_left == 25 - SEARCH_PAGE_TOKENS
        client.search_title(TitleQuery(FAMILIES[1].words))
        client.search_title(TitleQuery(FAMILIES[2].words))  # 5 left: positive, so Keepa serves it
        searches = [e for e in server.request_log if e.operation == "keepaSearch"]
        assert [e.tokens for e in searches] == [SEARCH_PAGE_TOKENS] * 3
        assert client.token_state is not None and client.token_state.tokens_left == -5
        with pytest.raises(ProviderError) as caught:  # -5: our pacing waits for the refill, too long here
            client.search_title(TitleQuery(FAMILIES[3].words))
        assert caught.value.error_type == ErrorType.API_RATE_LIMIT and caught.value.sent is False
        assert len([e for e in server.request_log if e.operation == "keepaSearch"]) == 3
        assert [e.status for e in server.request_log if e.status == 429] == []
    while _open:
        _open.pop().close()


def test_spapi_keywords_are_the_titles_distinct_words_at_most_twenty() -> None:
    assert title_keywords("NORVELLA - Pâte à tartiner, 1,5 L norvella !!") == [
        "NORVELLA",
        "Pâte",
        "à",
        "tartiner",
        "1.5",
        "L",
    ]
    assert len(title_keywords(" ".join(f"mot{n}" for n in range(30)))) == 20


def test_secrets_stay_out_of_errors(sandbox: sb.SandboxServer) -> None:
    for name, make in CLIENTS.items():
        sandbox.inject_faults(OPERATIONS[name], "503")
        with pytest.raises(ProviderError) as caught:
            make(sandbox).search_title(TitleQuery("pâte"))
        text = str(caught.value)
        for secret in (
            sb.DEFAULT_KEEPA_KEY,
            sb.DEFAULT_CREDENTIAL_SECRET,
            sb.DEFAULT_LWA_CLIENT_SECRET,
            sb.DEFAULT_REFRESH_TOKEN,
        ):
            assert secret not in text
