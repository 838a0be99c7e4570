from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx
import pytest

from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import EnrichProvider, IdentifyProvider, LookupCode
from code2asin.providers.client_support import TokenCache
from code2asin.providers.creators import RESOURCES, TOKEN_URLS, CreatorsClient

if TYPE_CHECKING:
    from conftest import FakeAmazon, FakeClock, RecordingLimiter

SECRET = "s3cr3t-CREDENTIAL-secret"
API = "https://creatorsapi.amazon"
SEARCH = "/catalog/v1/searchItems"
GET_ITEMS = "/catalog/v1/getItems"
EAN = LookupCode(gtin="03017620422003", code="3017620422003", code_type="EAN")
ISBN = LookupCode(gtin="09780545162074", code="978-0545162074", code_type="ISBN13")


def item(asin: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "asin": asin,
        "detailPageURL": f"https://www.amazon.fr/dp/{asin}?tag=shop-21&linkCode=ogi&th=1&psc=1",
        "parentASIN": "B0PARENT01",
        "itemInfo": {
            "title": {"displayValue": f"Title {asin}", "label": "Title", "locale": "fr_FR"},
            "byLineInfo": {"brand": {"displayValue": "Ferrero", "label": "Brand"}},
            "externalIds": {
                "eans": {"displayValues": ["3017620422003", "0717356278525"], "label": "EAN"},
                "upcs": {"displayValues": ["717356278525"], "label": "UPC"},
            },
            "productInfo": {"unitCount": {"displayValue": 2, "label": "NumberOfItems"}},
        },
        "images": {
            "primary": {
                "small": {"url": "https://m.media-amazon.com/images/I/p._SL75_.jpg"},
                "large": {"url": "https://m.media-amazon.com/images/I/p._SL500_.jpg"},
            },
            "variants": [
                {"large": {"url": "https://m.media-amazon.com/images/I/v1._SL500_.jpg"}},
                {"hiRes": {"url": "https://m.media-amazon.com/images/I/v2.jpg"}, "large": {"url": "x"}},
            ],
        },
        "offersV2": {
            "listings": [
                {"isBuyBoxWinner": False, "price": {"money": {"amount": 9.99, "currency": "EUR"}}},
                {
                    "isBuyBoxWinner": True,
                    "availability": {"type": "IN_STOCK"},
                    "price": {"money": {"amount": 4.49, "currency": "EUR", "displayAmount": "4,49 €"}},
                },
            ]
        },
        "browseNodeInfo": {"websiteSalesRank": {"salesRank": 197, "displayName": "Epicerie"}},
        "customerReviews": None,
    }
    base.update(extra)
    return base


def search_hit(*items: dict[str, Any]) -> dict[str, Any]:
    return {"searchResult": {"items": list(items), "totalResultCount": len(items)}}


def make(
    fake: FakeAmazon,
    limiter: RecordingLimiter,
    *,
    version: str = "2.2",
    marketplace: str = "FR",
    token_url: str | None = None,
    tokens: TokenCache | None = None,
) -> CreatorsClient:
    return CreatorsClient(
        http=fake.client(),
        limiter=limiter,
        credential_id="cred-id",
        credential_secret=SECRET,
        credential_version=version,
        partner_tag="shop-21",
        marketplace=marketplace,
        api_url=API,
        token_url=token_url,
        token_cache=tokens,
    )


def script(fake: FakeAmazon, version: str = "2.2", *api: Any) -> None:
    token_path = httpx.URL(TOKEN_URLS[version]).path
    fake.on(token_path, fake.token())
    for path, responders in api:
        fake.on(path, *responders)


def test_client_satisfies_both_provider_protocols(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    client = make(fake, limiter)
    assert isinstance(client, IdentifyProvider) and isinstance(client, EnrichProvider)
    assert (client.name, client.identify_batch_size, client.enrich_batch_size) == ("creators", 1, 10)
    assert limiter.configured == {"creators:cred-id:FR": (1.0, 1)}


def test_cognito_token_request_is_form_encoded_with_single_slash_scope(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(200, search_hit(item("B000000001")))]))
    make(fake, limiter).identify([EAN])
    token_request = fake.requests[0]
    assert str(token_request.url) == TOKEN_URLS["2.2"]
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["cred-id"],
        "client_secret": [SECRET],
        "scope": ["creatorsapi/default"],
    }
    call = fake.to(SEARCH)[0]
    assert call.headers["authorization"] == "Bearer TOKEN-1, Version 2.2"


def test_lwa_token_request_is_json_with_double_colon_scope_and_plain_bearer(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    script(fake, "3.2", (SEARCH, [fake.reply(200, search_hit(item("B000000001")))]))
    make(fake, limiter, version="3.2").identify([EAN])
    token_request = fake.requests[0]
    assert str(token_request.url) == TOKEN_URLS["3.2"]
    assert token_request.headers["content-type"] == "application/json"
    assert fake.body_of(token_request) == {
        "grant_type": "client_credentials",
        "client_id": "cred-id",
        "client_secret": SECRET,
        "scope": "creatorsapi::default",
    }
    assert fake.to(SEARCH)[0].headers["authorization"] == "Bearer TOKEN-1"


@pytest.mark.parametrize(
    ("version", "marketplace", "host"),
    [
        ("2.1", "US", "creatorsapi.auth.us-east-1.amazoncognito.com"),
        ("2.2", "DE", "creatorsapi.auth.eu-south-2.amazoncognito.com"),
        ("2.3", "JP", "creatorsapi.auth.us-west-2.amazoncognito.com"),
        ("3.1", "CA", "api.amazon.com"),
        ("3.2", "UK", "api.amazon.co.uk"),
        ("3.3", "AU", "api.amazon.co.jp"),
    ],
)
def test_each_credential_version_uses_its_regional_token_endpoint(
    fake: FakeAmazon, limiter: RecordingLimiter, version: str, marketplace: str, host: str
) -> None:
    script(fake, version, (SEARCH, [fake.reply(404, {"type": "ResourceNotFoundException"})]))
    make(fake, limiter, version=version, marketplace=marketplace).identify([EAN])
    assert fake.requests[0].url.host == host


def test_token_url_setting_overrides_the_version_endpoint(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    fake.on("/oauth2/token", fake.token())
    fake.on(SEARCH, fake.reply(200, search_hit(item("B000000001"))))
    make(fake, limiter, token_url="http://127.0.0.1:9/oauth2/token").identify([EAN])
    assert str(fake.requests[0].url) == "http://127.0.0.1:9/oauth2/token"


def test_search_request_carries_marketplace_header_and_documented_body(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(200, search_hit(item("B000000001")))]))
    make(fake, limiter).identify([EAN])
    call = fake.to(SEARCH)[0]
    assert str(call.url) == f"{API}{SEARCH}" and call.method == "POST"
    assert call.headers["x-marketplace"] == "www.amazon.fr"
    assert call.headers["content-type"] == "application/json"
    assert fake.body_of(call) == {
        "keywords": "3017620422003",
        "searchIndex": "All",
        "itemCount": 10,
        "partnerTag": "shop-21",
        "resources": list(RESOURCES),
    }
    assert limiter.acquired == ["creators:cred-id:FR"]


def test_isbn_is_searched_as_written_in_the_books_index(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(200, search_hit(item("0545162076")))]))
    make(fake, limiter).identify([ISBN])
    body = fake.body_of(fake.to(SEARCH)[0])
    assert (body["keywords"], body["searchIndex"]) == ("978-0545162074", "Books")


def test_search_item_maps_to_a_full_candidate(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(200, search_hit(item("B000000001")))]))
    outcome = make(fake, limiter).identify([EAN])[EAN.gtin]
    assert outcome.error is None
    [c] = outcome.candidates
    assert c.asin == "B000000001" and c.source == "creators"
    assert c.identifiers == {"EAN": ["3017620422003", "0717356278525"], "UPC": ["717356278525"]}
    assert (c.title, c.brand) == ("Title B000000001", "Ferrero")
    assert (c.price, c.currency, c.buy_box, c.availability) == (Decimal("4.49"), "EUR", True, "IN_STOCK")
    assert c.images == [
        "https://m.media-amazon.com/images/I/p._SL500_.jpg",
        "https://m.media-amazon.com/images/I/v1._SL500_.jpg",
        "https://m.media-amazon.com/images/I/v2.jpg",
    ]
    assert c.sales_rank == 197 and c.package_quantity == 2 and c.parent_asin == "B0PARENT01"
    assert c.detail_page_url == "https://www.amazon.fr/dp/B000000001?tag=shop-21&linkCode=ogi&th=1&psc=1"
    assert c.rating is None and c.review_count is None
    assert c.field_sources["price"] == "creators" and "rating" not in c.field_sources


def test_first_listing_is_used_when_none_wins_the_buy_box(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    listing = {"isBuyBoxWinner": False, "price": {"money": {"amount": 12, "currency": "EUR"}}}
    script(fake, "2.2", (SEARCH, [fake.reply(200, search_hit(item("B1", offersV2={"listings": [listing]})))]))
    [c] = make(fake, limiter).identify([EAN])[EAN.gtin].candidates
    assert (c.price, c.buy_box) == (Decimal("12"), False)


def test_search_404_is_not_found_not_a_failure(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    not_found = {
        "type": "ResourceNotFoundException",
        "message": "No results found for your search request",
        "resourceType": "SearchResult",
        "resourceId": "3017620422003",
    }
    script(fake, "2.2", (SEARCH, [fake.reply(404, not_found)]))
    outcome = make(fake, limiter).identify([EAN])[EAN.gtin]
    assert outcome.error is None and outcome.candidates == []


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        ({"type": "ThrottleException", "message": "slow down", "retryAfterSeconds": 60}, None, 60.0),
        ({"type": "ThrottleException", "message": "slow down"}, {"Retry-After": "7"}, 7.0),
        ({"type": "ThrottleException"}, None, 1.0),
    ],
)
def test_429_is_a_rate_limit_error_and_pauses_the_limiter_key(
    fake: FakeAmazon,
    limiter: RecordingLimiter,
    body: dict[str, Any],
    headers: dict[str, str] | None,
    expected: float,
) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(429, body, headers)]))
    error = make(fake, limiter).identify([EAN])[EAN.gtin].error
    assert error is not None and error.error_type is ErrorType.API_RATE_LIMIT
    assert error.retry_after == expected
    assert limiter.penalties == [("creators:cred-id:FR", expected)]


@pytest.mark.parametrize(
    "responder_name",
    ["server_error", "unavailable", "timeout", "connect_error", "broken_json", "json_array"],
)
def test_transport_and_server_failures_are_network_errors(
    fake: FakeAmazon, limiter: RecordingLimiter, responder_name: str
) -> None:
    responders = {
        "server_error": fake.reply(500, {"type": "InternalServerException"}),
        "unavailable": fake.raw(503, "<html>busy</html>"),
        "timeout": fake.fail(httpx.ReadTimeout),
        "connect_error": fake.fail(httpx.ConnectError),
        "broken_json": fake.raw(200, '{"searchResult": {"items": ['),
        "json_array": fake.raw(200, "[]"),
    }
    script(fake, "2.2", (SEARCH, [responders[responder_name]]))
    error = make(fake, limiter).identify([EAN])[EAN.gtin].error
    assert error is not None and error.error_type is ErrorType.NETWORK


def test_token_endpoint_outage_is_a_network_error_for_the_code(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    fake.on(httpx.URL(TOKEN_URLS["2.2"]).path, fake.raw(502, "bad gateway"))
    error = make(fake, limiter).identify([EAN])[EAN.gtin].error
    assert error is not None and error.error_type is ErrorType.NETWORK


def test_400_on_a_code_is_invalid_data(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    body = {"type": "ValidationException", "reason": "FieldValidationFailed", "message": "bad keywords"}
    script(fake, "2.2", (SEARCH, [fake.reply(400, body)]))
    error = make(fake, limiter).identify([EAN])[EAN.gtin].error
    assert error is not None and error.error_type is ErrorType.INVALID_DATA
    assert "bad keywords" in str(error)


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (400, "InvalidPartnerTag", "refused the partner tag 'shop-21' for www.amazon.fr"),
        (400, "InvalidAssociate", "CODE2ASIN_CREATORS_PARTNER_TAG"),
        (403, "AssociateNotEligible", "not eligible"),
        (403, "AuthorizationFailed", "denied access"),
        (401, "InvalidIssuer", "CODE2ASIN_CREATORS_CREDENTIAL_VERSION"),
    ],
)
def test_configuration_faults_stop_the_job_with_one_sentence(
    fake: FakeAmazon, limiter: RecordingLimiter, status: int, reason: str, expected: str
) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(status, {"type": "X", "reason": reason, "message": "no"})]))
    with pytest.raises(ConfigurationError, match=expected) as info:
        make(fake, limiter).identify([EAN])
    assert SECRET not in str(info.value) and "TOKEN-" not in str(info.value)


@pytest.mark.parametrize("version", ["2.2", "3.2"])
def test_refused_credentials_at_the_token_endpoint_are_a_configuration_error(
    fake: FakeAmazon, limiter: RecordingLimiter, version: str
) -> None:
    fake.on(httpx.URL(TOKEN_URLS[version]).path, fake.reply(401, {"error": "invalid_client"}))
    with pytest.raises(
        ConfigurationError, match=r"invalid_client.*CODE2ASIN_CREATORS_CREDENTIAL_SECRET"
    ) as info:
        make(fake, limiter, version=version).identify([EAN])
    assert SECRET not in str(info.value)


def test_credential_version_of_another_region_is_refused_at_construction(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    with pytest.raises(ConfigurationError, match=r"2\.1 or 3\.1"):
        make(fake, limiter, version="2.2", marketplace="US")


def test_one_token_serves_many_calls_until_60_seconds_before_expiry(
    fake: FakeAmazon, limiter: RecordingLimiter, clock: FakeClock, tokens: TokenCache
) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(404, {"type": "ResourceNotFoundException"})]))
    client = make(fake, limiter, tokens=tokens)
    for _ in range(5):
        client.identify([EAN])
    assert fake.token_counter == 1
    clock.now += 3600 - 61
    client.identify([EAN])
    assert fake.token_counter == 1
    clock.now += 2
    client.identify([EAN])
    assert fake.token_counter == 2
    assert fake.to(SEARCH)[-1].headers["authorization"] == "Bearer TOKEN-2, Version 2.2"


def test_token_cache_is_shared_between_clients_of_one_credential(
    fake: FakeAmazon, limiter: RecordingLimiter, tokens: TokenCache
) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(404, {"type": "ResourceNotFoundException"})]))
    make(fake, limiter, tokens=tokens).identify([EAN])
    make(fake, limiter, tokens=tokens).identify([EAN])
    assert fake.token_counter == 1


def test_expired_token_is_refreshed_once_and_the_call_retried(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    expired = fake.reply(401, {"type": "UnauthorizedException", "reason": "TokenExpired"})
    script(fake, "2.2", (SEARCH, [expired, fake.reply(200, search_hit(item("B1")))]))
    outcome = make(fake, limiter).identify([EAN])[EAN.gtin]
    assert [c.asin for c in outcome.candidates] == ["B1"]
    assert fake.token_counter == 2
    assert [r.headers["authorization"] for r in fake.to(SEARCH)] == [
        "Bearer TOKEN-1, Version 2.2",
        "Bearer TOKEN-2, Version 2.2",
    ]


def test_token_expired_twice_stops_instead_of_looping(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(401, {"reason": "TokenExpired"})]))
    with pytest.raises(ConfigurationError):
        make(fake, limiter).identify([EAN])
    assert len(fake.to(SEARCH)) == 2


def test_api_response_is_trimmed_and_never_holds_a_secret_or_token(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    script(fake, "2.2", (SEARCH, [fake.reply(200, search_hit(item("B1"), item("B2")))]))
    outcome = make(fake, limiter).identify([EAN])[EAN.gtin]
    dumped = json.dumps(outcome.api_response)
    assert SECRET not in dumped and "TOKEN-1" not in dumped and "cred-id" not in dumped
    assert outcome.api_response is not None
    assert outcome.api_response["items"] == [
        {
            "asin": asin,
            "title": f"Title {asin}",
            "externalIds": {"EAN": ["3017620422003", "0717356278525"], "UPC": ["717356278525"]},
            "price": "4.49 EUR",
        }
        for asin in ("B1", "B2")
    ]


@pytest.mark.parametrize("result_key", ["itemsResult", "itemResults"])
def test_enrich_accepts_both_spellings_and_matches_items_by_asin(
    fake: FakeAmazon, limiter: RecordingLimiter, result_key: str
) -> None:
    answer = {result_key: {"items": [item("B2"), item("B1")]}}
    script(fake, "2.2", (GET_ITEMS, [fake.reply(200, answer)]))
    out = make(fake, limiter).enrich(["B1", "B2"])
    assert {asin: c.asin for asin, c in out.items() if not isinstance(c, ProviderError)} == {
        "B1": "B1",
        "B2": "B2",
    }
    assert fake.body_of(fake.to(GET_ITEMS)[0]) == {
        "itemIds": ["B1", "B2"],
        "itemIdType": "ASIN",
        "partnerTag": "shop-21",
        "resources": list(RESOURCES),
    }


def test_enrich_sends_at_most_ten_asins_per_call(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        ids = fake.body_of(request)["itemIds"]
        return httpx.Response(200, json={"itemsResult": {"items": [item(a) for a in ids]}})

    script(fake, "2.2", (GET_ITEMS, [answer]))
    asins = [f"B{i:09d}" for i in range(23)]
    out = make(fake, limiter).enrich(asins)
    assert [len(fake.body_of(r)["itemIds"]) for r in fake.to(GET_ITEMS)] == [10, 10, 3]
    assert all(not isinstance(out[a], ProviderError) for a in asins)


def test_enrich_partial_error_marks_only_that_asin_invalid(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    answer = {
        "itemsResult": {"items": [item("B1")]},
        "errors": [
            {"code": "InvalidParameterValue", "message": "The ItemIds B9 provided in the request is invalid."}
        ],
    }
    script(fake, "2.2", (GET_ITEMS, [fake.reply(200, answer)]))
    out = make(fake, limiter).enrich(["B1", "B9"])
    assert not isinstance(out["B1"], ProviderError)
    error = out["B9"]
    assert isinstance(error, ProviderError) and error.error_type is ErrorType.INVALID_DATA
    assert "is invalid" in str(error)


def test_enrich_404_marks_every_asin_invalid(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    script(
        fake,
        "2.2",
        (GET_ITEMS, [fake.reply(404, {"type": "ResourceNotFoundException", "resourceType": "Item"})]),
    )
    out = make(fake, limiter).enrich(["B1", "B2"])
    assert all(isinstance(e, ProviderError) and e.error_type is ErrorType.INVALID_DATA for e in out.values())


def test_enrich_throttle_marks_the_whole_batch_rate_limited(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    script(fake, "2.2", (GET_ITEMS, [fake.reply(429, {"type": "ThrottleException", "retryAfterSeconds": 3})]))
    out = make(fake, limiter).enrich(["B1", "B2"])
    assert all(
        isinstance(e, ProviderError) and e.error_type is ErrorType.API_RATE_LIMIT for e in out.values()
    )


def test_enrich_configuration_fault_is_raised(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    script(fake, "2.2", (GET_ITEMS, [fake.reply(400, {"reason": "InvalidPartnerTag"})]))
    with pytest.raises(ConfigurationError):
        make(fake, limiter).enrich(["B1"])
