"""Creators API simulation over real HTTP: tokens, auth, validation, search and getItems shapes."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest
from tests.sandbox.conftest import cognito_token, lwa_creators_token

from code2asin.sandbox.catalogue import products_for_gtin, search_keywords, to_gtin14
from code2asin.sandbox.server import (
    DEFAULT_CREDENTIAL_ID,
    DEFAULT_CREDENTIAL_SECRET,
    DEFAULT_PARTNER_TAG,
    INELIGIBLE_CREDENTIAL_ID,
    SandboxServer,
)

Headers = Callable[..., dict[str, str]]
ALL = [
    "itemInfo.title",
    "itemInfo.externalIds",
    "itemInfo.byLineInfo",
    "offersV2.listings.price",
    "offersV2.listings.isBuyBoxWinner",
    "offersV2.listings.availability",
    "images.primary.large",
    "images.variants.small",
    "browseNodeInfo.websiteSalesRank",
    "parentASIN",
    "itemInfo.productInfo",
]


def _search(http: httpx.Client, headers: dict[str, str], keywords: str, **extra: object) -> httpx.Response:
    body = {"partnerTag": DEFAULT_PARTNER_TAG, "keywords": keywords, "resources": ALL, **extra}
    return http.post("/catalog/v1/searchItems", headers=headers, json=body)


def test_cognito_token_form_and_basic(client: httpx.Client) -> None:
    basic = base64.b64encode(f"{DEFAULT_CREDENTIAL_ID}:{DEFAULT_CREDENTIAL_SECRET}".encode()).decode()
    response = client.post(
        "/oauth2/token",
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "client_credentials", "scope": "creatorsapi/default"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"]
    bad = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CREDENTIAL_ID,
            "client_secret": "wrong",
            "scope": "creatorsapi/default",
        },
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    scope = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CREDENTIAL_ID,
            "client_secret": DEFAULT_CREDENTIAL_SECRET,
            "scope": "creatorsapi::default",
        },
    )
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    as_json = client.post("/oauth2/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400


def test_lwa_creators_token(client: httpx.Client) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CREDENTIAL_ID,
        "client_secret": DEFAULT_CREDENTIAL_SECRET,
        "scope": "creatorsapi::default",
    }
    response = client.post("/auth/o2/token", json=body)
    assert response.status_code == 200
    assert response.json()["scope"] == "creatorsapi::default" and response.json()["token_type"] == "bearer"
    bad = client.post("/auth/o2/token", json={**body, "client_secret": "nope"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "MissingCredential"),
        ("Bearer not-a-token, Version 2.2", "InvalidToken"),
        ("Bearer {cognito}", "InvalidIssuer"),  # Cognito token without its version
        ("Bearer {lwa}, Version 2.2", "InvalidIssuer"),  # LwA (3.x) token presented as a 2.x one
        ("Bearer {cognito}, Version 3.2", "InvalidIssuer"),
        ("Bearer {cognito}, Version 2.1", "InvalidIssuer"),  # NA credentials on amazon.fr
    ],
)
def test_auth_failures(
    client: httpx.Client, examples: dict[str, list[str]], authorization: str | None, reason: str
) -> None:
    headers = {"x-marketplace": "www.amazon.fr"}
    if authorization:
        headers["Authorization"] = authorization.format(
            cognito=cognito_token(client), lwa=lwa_creators_token(client)
        )
    response = _search(client, headers, examples["single"][0])
    assert response.status_code == 401
    assert response.json()["type"] == "UnauthorizedException" and response.json()["reason"] == reason


def test_expired_token(examples: dict[str, list[str]]) -> None:
    with SandboxServer() as server, httpx.Client(base_url=server.base_url) as http:
        headers = {
            "Authorization": f"Bearer {cognito_token(http)}, Version 2.2",
            "x-marketplace": "www.amazon.fr",
        }
        server.expire_tokens()
        response = _search(http, headers, examples["single"][0])
        assert response.status_code == 401 and response.json()["reason"] == "TokenExpired"


def test_ineligible_associate(client: httpx.Client, examples: dict[str, list[str]]) -> None:
    token = cognito_token(client, INELIGIBLE_CREDENTIAL_ID)
    headers = {"Authorization": f"Bearer {token}, Version 2.2", "x-marketplace": "www.amazon.fr"}
    response = _search(client, headers, examples["single"][0])
    assert response.status_code == 403
    assert response.json()["type"] == "AccessDeniedException"
    assert response.json()["reason"] == "AssociateNotEligible"


def test_header_and_body_validation(
    client: httpx.Client, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    headers = creators_headers()
    code = examples["single"][0]
    no_marketplace = {"Authorization": headers["Authorization"]}
    cases: list[tuple[httpx.Response, str]] = [
        (_search(client, no_marketplace, code), "FieldValidationFailed"),
        (_search(client, {**headers, "x-marketplace": "www.amazon.xx"}, code), "FieldValidationFailed"),
        (
            client.post(
                "/catalog/v1/searchItems", headers={**headers, "Content-Type": "text/plain"}, content=b"{}"
            ),
            "CannotParse",
        ),
        (
            client.post(
                "/catalog/v1/searchItems",
                headers={**headers, "Content-Type": "application/json"},
                content=b"{not json",
            ),
            "CannotParse",
        ),
        (_search(client, headers, code, partnerTag="someone-else-21"), "InvalidPartnerTag"),
        (_search(client, headers, code, resources=["itemInfo.Title"]), "FieldValidationFailed"),
        (_search(client, headers, code, itemCount=11), "FieldValidationFailed"),
        (_search(client, headers, code, PartnerType="Associates"), "FieldValidationFailed"),
        (
            client.post(
                "/catalog/v1/getItems",
                headers=headers,
                json={"partnerTag": DEFAULT_PARTNER_TAG, "itemIds": [f"B0000000{i:02d}" for i in range(11)]},
            ),
            "FieldValidationFailed",
        ),
    ]
    for response, reason in cases:
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["type"] == "ValidationException" and body["reason"] == reason
    tag_error = cases[4][0].json()
    assert tag_error["fieldList"][0]["name"] == "partnerTag"


def test_search_hit_returns_only_requested_resources(
    client: httpx.Client, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    code = examples["single"][0]
    response = _search(client, creators_headers(), code, resources=["itemInfo.title", "itemInfo.externalIds"])
    assert response.status_code == 200
    result = response.json()["searchResult"]
    assert result["totalResultCount"] == 1
    (item,) = result["items"]
    assert set(item) == {"asin", "detailPageURL", "itemInfo"}
    assert set(item["itemInfo"]) == {"title", "externalIds"}
    assert item["itemInfo"]["externalIds"]["eans"]["displayValues"] == [code]
    assert item["detailPageURL"] == (
        f"https://www.amazon.fr/dp/{item['asin']}?tag={DEFAULT_PARTNER_TAG}&linkCode=ogi&th=1&psc=1"
    )


def test_search_full_item_shape(
    client: httpx.Client, sandbox: SandboxServer, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    (item,) = _search(client, creators_headers(lwa=True), examples["single"][0]).json()["searchResult"][
        "items"
    ]
    listing = item["offersV2"]["listings"][0]
    assert listing["isBuyBoxWinner"] is True
    money = listing["price"]["money"]
    assert money["currency"] == "EUR" and isinstance(money["amount"], float)
    assert money["displayAmount"].endswith(" €")
    assert item["images"]["primary"]["large"]["url"].startswith(f"{sandbox.base_url}/images/I/")
    assert "_SL500_" in item["images"]["primary"]["large"]["url"]
    assert item["browseNodeInfo"]["websiteSalesRank"]["salesRank"] >= 1
    assert item["itemInfo"]["byLineInfo"]["brand"]["displayValue"]


def test_prices_follow_the_marketplace(
    client: httpx.Client, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    code = examples["single"][0]
    uk = _search(client, creators_headers("www.amazon.co.uk"), code).json()["searchResult"]["items"][0]
    us = _search(client, creators_headers("www.amazon.com", version="2.1"), code).json()["searchResult"][
        "items"
    ][0]
    assert uk["offersV2"]["listings"][0]["price"]["money"]["currency"] == "GBP"
    assert us["offersV2"]["listings"][0]["price"]["money"]["displayAmount"].startswith("$")


def test_search_miss_is_404(
    client: httpx.Client, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    code = examples["unknown"][0]
    response = _search(client, creators_headers(), code)
    assert response.status_code == 404
    body = response.json()
    assert body["type"] == "ResourceNotFoundException"
    assert body["resourceType"] == "SearchResult" and body["resourceId"] == code


def test_near_miss_and_several_asins(
    client: httpx.Client, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    headers = creators_headers()
    code = examples["near_miss"][0]
    items = _search(client, headers, code).json()["searchResult"]["items"]
    assert items
    gtin = to_gtin14(code)
    for item in items:
        assert all(to_gtin14(v) != gtin for v in item["itemInfo"]["externalIds"]["eans"]["displayValues"])
    several = _search(client, headers, examples["several_asins"][0]).json()["searchResult"]["items"]
    assert len(several) >= 2
    winners = [i for i in several if i.get("offersV2") and i["offersV2"]["listings"][0]["isBuyBoxWinner"]]
    assert len(winners) == 1


def test_variation_and_multipack_in_search(
    client: httpx.Client, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    headers = creators_headers()
    items = _search(client, headers, examples["variation"][0]).json()["searchResult"]["items"]
    child = items[0]
    assert child["parentASIN"] in {i["asin"] for i in items}
    packs = _search(client, headers, examples["multipack"][0]).json()["searchResult"]["items"]
    assert any(i["itemInfo"]["productInfo"]["unitCount"]["displayValue"] > 1 for i in packs)


def test_get_items_with_partial_errors(
    client: httpx.Client, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    asins = [i.asin for i in search_keywords(examples["several_asins"][0])]
    body = {"partnerTag": DEFAULT_PARTNER_TAG, "itemIds": [*asins, "B0ZZZZZZZZ"], "resources": ALL}
    response = client.post("/catalog/v1/getItems", headers=creators_headers(), json=body)
    assert response.status_code == 200
    payload = response.json()
    assert sorted(i["asin"] for i in payload["itemsResult"]["items"]) == sorted(asins)
    assert payload["errors"] == [
        {
            "code": "InvalidParameterValue",
            "message": "The ItemIds B0ZZZZZZZZ provided in the request is invalid.",
        }
    ]
    none = client.post(
        "/catalog/v1/getItems",
        headers=creators_headers(),
        json={"partnerTag": DEFAULT_PARTNER_TAG, "itemIds": ["B0ZZZZZZZZ"]},
    )
    assert none.status_code == 404 and none.json()["resourceType"] == "Item"


def test_get_items_book_by_isbn10_and_item_results_option(examples: dict[str, list[str]]) -> None:
    book = next(products_for_gtin(c)[0] for c in examples["book"] if c.startswith("978"))
    with (
        SandboxServer(get_items_result_key="itemResults") as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        headers = {
            "Authorization": f"Bearer {cognito_token(http)}, Version 2.2",
            "x-marketplace": "www.amazon.fr",
        }
        response = http.post(
            "/catalog/v1/getItems",
            headers=headers,
            json={
                "partnerTag": DEFAULT_PARTNER_TAG,
                "itemIds": [book.asin],
                "resources": ["itemInfo.externalIds"],
            },
        )
        assert response.status_code == 200
        (item,) = response.json()["itemResults"]["items"]
        assert item["itemInfo"]["externalIds"]["isbns"]["displayValues"] == [book.asin]


def test_items_without_offers_or_images(
    client: httpx.Client, creators_headers: Headers, examples: dict[str, list[str]]
) -> None:
    headers = creators_headers()
    no_offer = _search(client, headers, examples["no_offers"][0]).json()["searchResult"]["items"][0]
    assert "offersV2" not in no_offer
    no_image = _search(client, headers, examples["no_images"][0]).json()["searchResult"]["items"][0]
    assert "images" not in no_image
