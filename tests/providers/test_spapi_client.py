from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx
import pytest

from code2asin.config import SpapiSettings
from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import EnrichProvider, IdentifyProvider, LookupCode
from code2asin.providers.client_support import TokenCache
from code2asin.providers.spapi import SpapiClient, SpapiPricing, request_identifier, to_gtin14

if TYPE_CHECKING:
    from conftest import FakeAmazon, FakeClock, RecordingLimiter

SECRET = "lwa-CLIENT-secret"
REFRESH = "Atzr|REFRESH-token"
API = "https://sellingpartnerapi-eu.amazon.com"
TOKEN = "/auth/o2/token"
CATALOG = "/catalog/2022-04-01/items"
PRICING = "/products/pricing/v0/competitivePrice"
FR = "A13V1IB3VIYZZH"

EAN = LookupCode("03017620422003", "3017620422003", "EAN")
UPC = LookupCode("00036000291452", "036000291452", "UPC")
UPC_E = LookupCode("00042100005264", "04252614", "UPC_E")
EAN8 = LookupCode("00000096385074", "96385074", "EAN8")
ISBN10 = LookupCode("09780545162074", "0-545-16207-6", "ISBN10")
ISBN13 = LookupCode("09782070612758", "9782070612758", "ISBN13")
GTIN14 = LookupCode("10036000291459", "10036000291459", "GTIN14")


def make(fake: FakeAmazon, limiter: RecordingLimiter, tokens: TokenCache | None = None) -> SpapiClient:
    return SpapiClient(
        http=fake.client(),
        limiter=limiter,
        client_id="amzn1.application-oa2-client.abc",
        client_secret=SECRET,
        refresh_token=REFRESH,
        marketplace="FR",
        token_cache=tokens,
    )


def catalog_item(asin: str, *identifiers: tuple[str, str], **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "asin": asin,
        "identifiers": [
            {
                "marketplaceId": FR,
                "identifiers": [{"identifierType": t, "identifier": v} for t, v in identifiers],
            }
        ],
        "summaries": [
            {
                "marketplaceId": FR,
                "itemName": f"Item {asin}",
                "brand": "Acme",
                "itemClassification": "BASE_PRODUCT",
                "packageQuantity": 1,
            }
        ],
    }
    base.update(extra)
    return base


def catalog(
    *items: dict[str, Any], next_token: str | None = None, total: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "numberOfResults": total if total is not None else len(items),
        "items": list(items),
    }
    if next_token:
        body["pagination"] = {"nextToken": next_token}
    return body


def params(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


def test_client_and_pricing_satisfy_the_provider_protocols(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    client = make(fake, limiter)
    pricing = SpapiPricing(client)
    assert (
        isinstance(client, IdentifyProvider) and client.identify_batch_size == 20 and client.name == "spapi"
    )
    assert isinstance(pricing, EnrichProvider) and pricing.enrich_batch_size == 20
    assert limiter.configured == {
        "spapi:amzn1.application-oa2-client.abc:eu:catalog": (2.0, 2),
        "spapi:amzn1.application-oa2-client.abc:eu:pricing": (0.5, 1),
    }


def test_refresh_token_grant_is_form_encoded_and_token_sent_as_access_token_header(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, fake.reply(200, catalog()))
    make(fake, limiter).identify([EAN])
    token_request = fake.requests[0]
    assert str(token_request.url) == "https://api.amazon.com/auth/o2/token"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH],
        "client_id": ["amzn1.application-oa2-client.abc"],
        "client_secret": [SECRET],
    }
    call = fake.to(CATALOG)[0]
    assert call.url.host == "sellingpartnerapi-eu.amazon.com"
    assert call.headers["x-amz-access-token"] == "TOKEN-1"
    assert "authorization" not in call.headers
    assert params(call) == {
        "identifiers": "3017620422003",
        "identifiersType": "EAN",
        "marketplaceIds": FR,
        "includedData": "identifiers,summaries,images,salesRanks",
        "pageSize": "20",
    }


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (EAN, ("EAN", "3017620422003")),
        (EAN8, ("EAN", "96385074")),
        (UPC, ("UPC", "036000291452")),
        (UPC_E, ("UPC", "042100005264")),
        (ISBN10, ("ISBN", "0545162076")),
        (ISBN13, ("ISBN", "9782070612758")),
        (GTIN14, ("GTIN", "10036000291459")),
    ],
)
def test_each_code_type_is_sent_as_its_identifiers_type(code: LookupCode, expected: tuple[str, str]) -> None:
    assert request_identifier(code) == expected


@pytest.mark.parametrize(
    ("value", "id_type", "gtin"),
    [
        ("036000291452", "UPC", "00036000291452"),
        ("0036000291452", "EAN", "00036000291452"),
        ("00036000291452", "GTIN", "00036000291452"),
        ("0545162076", "ISBN", "09780545162074"),
        ("080442957X", "ISBN", "09780804429573"),
        ("B00ASIN123", "ASIN", None),
    ],
)
def test_returned_identifiers_compare_as_gtin14(value: str, id_type: str, gtin: str | None) -> None:
    assert to_gtin14(value, id_type) == gtin


def test_mixed_batch_makes_one_call_per_identifiers_type(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, fake.reply(200, catalog()))
    codes = [EAN, UPC, UPC_E, EAN8, ISBN10, ISBN13, GTIN14]
    out = make(fake, limiter).identify(codes)
    assert set(out) == {c.gtin for c in codes}
    sent = {params(r)["identifiersType"]: params(r)["identifiers"] for r in fake.to(CATALOG)}
    assert sent == {
        "EAN": "3017620422003,96385074",
        "UPC": "036000291452,042100005264",
        "ISBN": "0545162076,9782070612758",
        "GTIN": "10036000291459",
    }


def test_twenty_one_codes_of_one_type_take_two_calls(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, fake.reply(200, catalog()))
    codes = [LookupCode(f"0400638133{i:04d}", f"400638133{i:04d}", "EAN") for i in range(21)]
    make(fake, limiter).identify(codes)
    assert [len(params(r)["identifiers"].split(",")) for r in fake.to(CATALOG)] == [20, 1]


def test_results_are_mapped_back_through_their_identifiers_not_their_order(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    other = LookupCode("05449000000996", "5449000000996", "EAN")
    items = [
        catalog_item("B2", ("EAN", "5449000000996")),
        catalog_item("B1", ("EAN", "3017620422003"), ("EAN", "5449000000996")),  # matches both inputs
        catalog_item("B3", ("GTIN", "03017620422003")),  # 0-padded GTIN spelling
    ]
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, fake.reply(200, catalog(*items)))
    out = make(fake, limiter).identify([EAN, other])
    assert [c.asin for c in out[EAN.gtin].candidates] == ["B1", "B3"]
    assert [c.asin for c in out[other.gtin].candidates] == ["B2", "B1"]


def test_upc_code_matches_an_item_listing_it_as_ean_and_isbn10_matches_its_ean(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(
        CATALOG,
        fake.reply(200, catalog(catalog_item("B9", ("EAN", "0036000291452")))),
        fake.reply(200, catalog(catalog_item("0545162076", ("EAN", "9780545162074")))),
    )
    out = make(fake, limiter).identify([UPC, ISBN10])
    assert [c.asin for c in out[UPC.gtin].candidates] == ["B9"]
    assert [c.asin for c in out[ISBN10.gtin].candidates] == ["0545162076"]


def test_unmatched_items_of_a_multi_code_call_are_not_guessed(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    other = LookupCode("05449000000996", "5449000000996", "EAN")
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, fake.reply(200, catalog(catalog_item("B7", ("EAN", "4006381333931")))))
    out = make(fake, limiter).identify([EAN, other])
    assert out[EAN.gtin].candidates == [] and out[other.gtin].candidates == []
    assert out[EAN.gtin].error is None


def test_pagination_follows_next_token(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(
        CATALOG,
        fake.reply(200, catalog(catalog_item("B1", ("EAN", "3017620422003")), next_token="NEXT", total=2)),
        fake.reply(200, catalog(catalog_item("B2", ("EAN", "3017620422003")), total=2)),
    )
    out = make(fake, limiter).identify([EAN])
    assert [c.asin for c in out[EAN.gtin].candidates] == ["B1", "B2"]
    calls = fake.to(CATALOG)
    assert "pageToken" not in params(calls[0]) and params(calls[1])["pageToken"] == "NEXT"


def test_catalog_item_maps_to_a_candidate(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    images = [
        {
            "marketplaceId": FR,
            "images": [
                {
                    "variant": "PT01",
                    "link": "https://m.media-amazon.com/images/I/pt01-small.jpg",
                    "height": 75,
                    "width": 75,
                },
                {
                    "variant": "MAIN",
                    "link": "https://m.media-amazon.com/images/I/main-small.jpg",
                    "height": 75,
                    "width": 75,
                },
                {
                    "variant": "MAIN",
                    "link": "https://m.media-amazon.com/images/I/main-big.jpg",
                    "height": 1500,
                    "width": 1500,
                },
                {
                    "variant": "SWCH",
                    "link": "https://m.media-amazon.com/images/I/swatch.jpg",
                    "height": 30,
                    "width": 30,
                },
                {
                    "variant": "PT01",
                    "link": "https://m.media-amazon.com/images/I/pt01-big.jpg",
                    "height": 500,
                    "width": 500,
                },
            ],
        }
    ]
    ranks = [
        {
            "marketplaceId": FR,
            "classificationRanks": [{"classificationId": "1", "title": "Pâtes à tartiner", "rank": 3}],
            "displayGroupRanks": [{"websiteDisplayGroup": "grocery", "title": "Epicerie", "rank": 120}],
        }
    ]
    item = catalog_item(
        "B1", ("EAN", "3017620422003"), ("UPC", "017620422003"), images=images, salesRanks=ranks
    )
    item["summaries"][0]["packageQuantity"] = 6
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, fake.reply(200, catalog(item)))
    [c] = make(fake, limiter).identify([EAN])[EAN.gtin].candidates
    assert c.source == "spapi" and c.identifiers == {"EAN": ["3017620422003"], "UPC": ["017620422003"]}
    assert (c.title, c.brand, c.item_classification, c.package_quantity) == (
        "Item B1",
        "Acme",
        "BASE_PRODUCT",
        6,
    )
    assert c.images == [
        "https://m.media-amazon.com/images/I/main-big.jpg",
        "https://m.media-amazon.com/images/I/pt01-big.jpg",
    ]
    assert c.sales_rank == 120  # display-group rank wins over the sub-category rank
    assert c.detail_page_url == "https://www.amazon.fr/dp/B1"
    assert c.price is None and c.field_sources["title"] == "spapi" and "price" not in c.field_sources


def test_sales_rank_falls_back_to_classification_ranks(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    ranks = [{"marketplaceId": FR, "classificationRanks": [{"rank": 42}, {"rank": 7}]}]
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, fake.reply(200, catalog(catalog_item("B1", ("EAN", "3017620422003"), salesRanks=ranks))))
    [c] = make(fake, limiter).identify([EAN])[EAN.gtin].candidates
    assert c.sales_rank == 7


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "5"}, 5.0), ({"x-amzn-RateLimit-Limit": "0.5"}, 2.0), (None, 0.5)],
)
def test_429_is_rate_limited_and_pauses_the_catalog_key(
    fake: FakeAmazon, limiter: RecordingLimiter, headers: dict[str, str] | None, expected: float
) -> None:
    fake.on(TOKEN, fake.token())
    body = {
        "errors": [
            {"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}
        ]
    }
    fake.on(CATALOG, fake.reply(429, body, headers))
    out = make(fake, limiter).identify([EAN, UPC])
    for gtin in (EAN.gtin, UPC.gtin):
        error = out[gtin].error
        assert (
            error is not None
            and error.error_type is ErrorType.API_RATE_LIMIT
            and error.retry_after == expected
        )
    assert limiter.penalties[0] == ("spapi:amzn1.application-oa2-client.abc:eu:catalog", expected)


@pytest.mark.parametrize("kind", ["500", "503", "timeout", "connect", "broken_json"])
def test_failures_of_the_transport_or_server_are_network_errors(
    fake: FakeAmazon, limiter: RecordingLimiter, kind: str
) -> None:
    responders = {
        "500": fake.reply(500, {"errors": [{"code": "InternalFailure"}]}),
        "503": fake.raw(503, "Service Unavailable"),
        "timeout": fake.fail(httpx.ReadTimeout),
        "connect": fake.fail(httpx.ConnectError),
        "broken_json": fake.raw(200, '{"items": [{"asin": '),
    }
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, responders[kind])
    error = make(fake, limiter).identify([EAN])[EAN.gtin].error
    assert error is not None and error.error_type is ErrorType.NETWORK


def test_400_invalid_input_marks_that_calls_codes_invalid_only(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    fake.on(TOKEN, fake.token())

    def answer(request: httpx.Request) -> httpx.Response:
        if params(request)["identifiersType"] == "UPC":
            return httpx.Response(
                400, json={"errors": [{"code": "InvalidInput", "message": "Invalid identifier"}]}
            )
        return httpx.Response(200, json=catalog(catalog_item("B1", ("EAN", "3017620422003"))))

    fake.on(CATALOG, answer)
    out = make(fake, limiter).identify([EAN, UPC])
    upc_error = out[UPC.gtin].error
    assert upc_error is not None and upc_error.error_type is ErrorType.INVALID_DATA
    assert out[EAN.gtin].error is None and [c.asin for c in out[EAN.gtin].candidates] == ["B1"]


def test_403_unauthorized_is_a_configuration_error_naming_the_setting(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    fake.on(TOKEN, fake.token())
    body = {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]}
    fake.on(CATALOG, fake.reply(403, body))
    with pytest.raises(ConfigurationError, match=r"Product Listing.*CODE2ASIN_SPAPI_REFRESH_TOKEN") as info:
        make(fake, limiter).identify([EAN])
    assert "TOKEN-1" not in str(info.value) and REFRESH not in str(info.value)


def test_403_for_an_expired_token_refreshes_once_and_retries(
    fake: FakeAmazon, limiter: RecordingLimiter
) -> None:
    fake.on(TOKEN, fake.token())
    expired = {
        "errors": [
            {
                "code": "Unauthorized",
                "message": "Access denied",
                "details": "The access token you provided has expired.",
            }
        ]
    }
    fake.on(CATALOG, fake.reply(403, expired), fake.reply(200, catalog()))
    out = make(fake, limiter).identify([EAN])
    assert out[EAN.gtin].error is None and fake.token_counter == 2
    assert [r.headers["x-amz-access-token"] for r in fake.to(CATALOG)] == ["TOKEN-1", "TOKEN-2"]


@pytest.mark.parametrize(
    ("error", "setting"),
    [("invalid_grant", "CODE2ASIN_SPAPI_REFRESH_TOKEN"), ("invalid_client", "CODE2ASIN_SPAPI_CLIENT_SECRET")],
)
def test_refused_lwa_grant_is_a_configuration_error_naming_the_setting(
    fake: FakeAmazon, limiter: RecordingLimiter, error: str, setting: str
) -> None:
    fake.on(
        TOKEN,
        fake.reply(400, {"error": error, "error_description": "The request has an invalid grant parameter"}),
    )
    with pytest.raises(ConfigurationError, match=setting) as info:
        make(fake, limiter).identify([EAN])
    assert SECRET not in str(info.value) and REFRESH not in str(info.value)


def test_token_is_cached_and_refreshed_60_seconds_before_expiry(
    fake: FakeAmazon, limiter: RecordingLimiter, clock: FakeClock, tokens: TokenCache
) -> None:
    fake.on(TOKEN, fake.token(expires_in=3600))
    fake.on(CATALOG, fake.reply(200, catalog()))
    fake.on(PRICING, fake.reply(200, {"payload": []}))
    client = make(fake, limiter, tokens)
    client.identify([EAN])
    client.prices(["B1"])
    clock.now += 3539
    client.identify([EAN])
    assert fake.token_counter == 1
    clock.now += 2
    client.identify([EAN])
    assert fake.token_counter == 2


def test_api_response_holds_no_secret_or_token(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(CATALOG, fake.reply(200, catalog(catalog_item("B1", ("EAN", "3017620422003")))))
    outcome = make(fake, limiter).identify([EAN])[EAN.gtin]
    dumped = json.dumps(outcome.api_response)
    assert "B1" in dumped
    assert SECRET not in dumped and REFRESH not in dumped and "TOKEN-1" not in dumped


def pricing_entry(asin: str, price_id: str = "1", landed: float | None = 12.5) -> dict[str, Any]:
    price: dict[str, Any] = {"ListingPrice": {"CurrencyCode": "EUR", "Amount": 11.0}}
    if landed is not None:
        price["LandedPrice"] = {"CurrencyCode": "EUR", "Amount": landed}
    return {
        "ASIN": asin,
        "status": "Success",
        "Product": {
            "Identifiers": {"MarketplaceASIN": {"MarketplaceId": FR, "ASIN": asin}},
            "CompetitivePricing": {
                "CompetitivePrices": [{"CompetitivePriceId": price_id, "Price": price, "condition": "New"}]
            },
        },
    }


def test_prices_request_and_buy_box_price(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    fake.on(TOKEN, fake.token())
    payload = [pricing_entry("B2", landed=None), pricing_entry("B1"), pricing_entry("B3", price_id="2")]
    fake.on(PRICING, fake.reply(200, {"payload": payload}))
    out = SpapiPricing(make(fake, limiter)).enrich(["B1", "B2", "B3", "B4"])
    call = fake.to(PRICING)[0]
    assert params(call) == {"MarketplaceId": FR, "ItemType": "Asin", "Asins": "B1,B2,B3,B4"}
    b1, b2, b3, b4 = (out[a] for a in ("B1", "B2", "B3", "B4"))
    assert not isinstance(b1, ProviderError) and (b1.price, b1.currency, b1.buy_box) == (
        Decimal("12.5"),
        "EUR",
        True,
    )
    assert not isinstance(b2, ProviderError) and b2.price == Decimal(
        "11.0"
    )  # ListingPrice without LandedPrice
    assert not isinstance(b3, ProviderError) and b3.price is None  # used buy box only: no new price
    assert isinstance(b4, ProviderError) and b4.error_type is ErrorType.INVALID_DATA
    assert b1.field_sources == {"price": "spapi", "currency": "spapi", "buy_box": "spapi"}
    assert limiter.acquired == ["spapi:amzn1.application-oa2-client.abc:eu:pricing"]


def test_prices_go_twenty_asins_per_call(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(
        PRICING,
        lambda r: httpx.Response(
            200, json={"payload": [pricing_entry(a) for a in params(r)["Asins"].split(",")]}
        ),
    )
    asins = [f"B{i:09d}" for i in range(45)]
    out = make(fake, limiter).prices(asins)
    assert [len(params(r)["Asins"].split(",")) for r in fake.to(PRICING)] == [20, 20, 5]
    assert all(not isinstance(v, ProviderError) for v in out.values()) and len(out) == 45


def test_prices_429_pauses_the_pricing_key(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(PRICING, fake.reply(429, {"errors": [{"code": "QuotaExceeded"}]}))
    out = make(fake, limiter).prices(["B1"])
    error = out["B1"]
    assert (
        isinstance(error, ProviderError)
        and error.error_type is ErrorType.API_RATE_LIMIT
        and error.retry_after == 2.0
    )
    assert limiter.penalties == [("spapi:amzn1.application-oa2-client.abc:eu:pricing", 2.0)]


def test_prices_403_names_the_pricing_role(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    fake.on(TOKEN, fake.token())
    fake.on(PRICING, fake.reply(403, {"errors": [{"code": "Unauthorized", "message": "Access denied"}]}))
    with pytest.raises(ConfigurationError, match="Pricing role"):
        make(fake, limiter).prices(["B1"])


def test_from_settings_requires_the_three_credentials(fake: FakeAmazon, limiter: RecordingLimiter) -> None:
    with pytest.raises(ConfigurationError, match="CODE2ASIN_SPAPI_REFRESH_TOKEN"):
        SpapiClient.from_settings(
            SpapiSettings(client_id="x"), marketplace="FR", http=fake.client(), limiter=limiter
        )
