"""SP-API simulation over real HTTP: LWA refresh grant, Catalog Items 2022-04-01, Pricing v0."""

from __future__ import annotations

import httpx
from tests.sandbox.conftest import cognito_token

from code2asin.sandbox.catalogue import products_for_gtin, sandbox_item, search_keywords, to_gtin14
from code2asin.sandbox.marketplaces import BY_COUNTRY
from code2asin.sandbox.server import DEFAULT_LWA_CLIENT_ID, DEFAULT_LWA_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN

FR = BY_COUNTRY["FR"].marketplace_id
ITEMS = "/catalog/2022-04-01/items"
PRICES = "/products/pricing/v0/competitivePrice"


def _search(
    http: httpx.Client, headers: dict[str, str], codes: list[str], id_type: str = "EAN", **extra: str
) -> httpx.Response:
    params = {
        "identifiers": ",".join(codes),
        "identifiersType": id_type,
        "marketplaceIds": FR,
        "includedData": "identifiers,summaries,images,salesRanks",
        "pageSize": "20",
        **extra,
    }
    return http.get(ITEMS, headers=headers, params=params)


def test_refresh_token_grant(client: httpx.Client) -> None:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": DEFAULT_REFRESH_TOKEN,
        "client_id": DEFAULT_LWA_CLIENT_ID,
        "client_secret": DEFAULT_LWA_CLIENT_SECRET,
    }
    ok = client.post("/auth/o2/token", data=form)
    assert ok.status_code == 200 and ok.json()["token_type"] == "bearer" and ok.json()["expires_in"] == 3600
    bad_grant = client.post("/auth/o2/token", data={**form, "refresh_token": "Atzr|other"})
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"
    bad_client = client.post("/auth/o2/token", data={**form, "client_secret": "nope"})
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"


def test_auth_is_required(client: httpx.Client, examples: dict[str, list[str]]) -> None:
    code = examples["single"][0]
    for headers in ({}, {"x-amz-access-token": "Atza|forged"}, {"x-amz-access-token": cognito_token(client)}):
        response = _search(client, headers, [code])
        assert response.status_code == 403
        assert response.json()["errors"][0]["code"] == "Unauthorized"


def test_search_20_identifiers_with_gtin_normalisation(
    client: httpx.Client, spapi_headers: dict[str, str], examples: dict[str, list[str]]
) -> None:
    codes = (
        examples["single"][:4]
        + examples["several_asins"][:4]
        + examples["upc_spelling"][:4]
        + examples["unknown"][:3]
        + examples["near_miss"][:2]
        + examples["book"][:3]
    )
    assert len(codes) == 20
    response = _search(client, spapi_headers, codes)
    assert response.status_code == 200
    assert response.headers["x-amzn-RateLimit-Limit"] == "2.0" and response.headers["x-amzn-RequestId"]
    body = response.json()
    expected = {i.asin for c in codes for i in products_for_gtin(c)}
    assert body["numberOfResults"] == len(expected)
    returned = [item["asin"] for item in body["items"]]
    assert set(returned) <= expected and len(returned) == min(20, len(expected))
    in_input_order = [i.asin for c in codes for i in products_for_gtin(c)][: len(returned)]
    assert returned != in_input_order  # Amazon does not keep the input order
    wanted = {to_gtin14(c) for c in codes}
    for item in body["items"]:
        values = [v["identifier"] for v in item["identifiers"][0]["identifiers"]]
        assert {to_gtin14(v) for v in values} & wanted  # map back through the identifiers
        assert item["summaries"][0]["itemName"] and item["summaries"][0]["marketplaceId"] == FR


def test_upc_sent_as_ean_and_gtin14_still_match(
    client: httpx.Client, spapi_headers: dict[str, str], examples: dict[str, list[str]]
) -> None:
    upc = examples["upc_spelling"][0]
    (item,) = products_for_gtin(upc)
    for code, id_type in ((upc, "EAN"), ("0" + upc, "EAN"), ("00" + upc, "GTIN"), (upc, "UPC")):
        response = _search(client, spapi_headers, [code], id_type)
        assert [i["asin"] for i in response.json()["items"]] == [item.asin], (code, id_type)


def test_pagination(
    client: httpx.Client, spapi_headers: dict[str, str], examples: dict[str, list[str]]
) -> None:
    codes = examples["several_asins"] + examples["single"]
    first = _search(client, spapi_headers, codes, pageSize="3").json()
    assert len(first["items"]) == 3 and first["numberOfResults"] > 3
    second = _search(
        client, spapi_headers, codes, pageSize="3", pageToken=first["pagination"]["nextToken"]
    ).json()
    assert not {i["asin"] for i in first["items"]} & {i["asin"] for i in second["items"]}


def test_validation_errors(
    client: httpx.Client, spapi_headers: dict[str, str], examples: dict[str, list[str]]
) -> None:
    code = examples["single"][0]
    responses = [
        _search(client, spapi_headers, [code] * 21),
        _search(client, spapi_headers, [code], marketplaceIds=f"{FR},A1PA6795UKMFR9"),
        _search(client, spapi_headers, [code], marketplaceIds="XXXX"),
        _search(client, spapi_headers, [code], "BARCODE"),
        _search(client, spapi_headers, [code], includedData="summaries,prices"),
        _search(client, spapi_headers, [code], pageSize="21"),
    ]
    for response in responses:
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["code"] == "InvalidInput"


def test_variation_parent_classification(
    client: httpx.Client, spapi_headers: dict[str, str], examples: dict[str, list[str]]
) -> None:
    parent = next(i for i in search_keywords(examples["variation"][0]) if i.role == "parent")
    response = _search(client, spapi_headers, [parent.asin], "ASIN", includedData="summaries,relationships")
    (item,) = response.json()["items"]
    assert item["summaries"][0]["itemClassification"] == "VARIATION_PARENT"
    child = _search(client, spapi_headers, [examples["variation"][0]], includedData="relationships").json()
    assert child["items"][0]["relationships"][0]["relationships"][0]["parentAsins"] == [parent.asin]


def test_competitive_pricing(
    client: httpx.Client, spapi_headers: dict[str, str], examples: dict[str, list[str]]
) -> None:
    asins = [i.asin for i in products_for_gtin(examples["several_asins"][0])]
    no_offer = products_for_gtin(examples["no_offers"][0])[0].asin
    params = {"MarketplaceId": FR, "ItemType": "Asin", "Asins": ",".join([*asins, no_offer, "B0ZZZZZZZZ"])}
    response = client.get(PRICES, headers=spapi_headers, params=params)
    assert response.status_code == 200 and response.headers["x-amzn-RateLimit-Limit"] == "0.5"
    payload = {p["ASIN"]: p for p in response.json()["payload"]}
    primary = payload[asins[0]]
    assert primary["status"] == "Success"
    assert primary["Product"]["Identifiers"]["MarketplaceASIN"] == {"MarketplaceId": FR, "ASIN": asins[0]}
    (price,) = primary["Product"]["CompetitivePricing"]["CompetitivePrices"]
    assert price["CompetitivePriceId"] == "1"
    item = sandbox_item(asins[0])
    assert item is not None
    expected = item.price(BY_COUNTRY["FR"])
    assert (
        price["Price"]["ListingPrice"]["Amount"],
        price["Price"]["ListingPrice"]["CurrencyCode"],
    ) == expected
    assert primary["Product"]["SalesRankings"][0]["Rank"] >= 1
    assert payload[no_offer]["Product"]["CompetitivePricing"]["CompetitivePrices"] == []
    assert payload["B0ZZZZZZZZ"]["status"] == "ClientError"
    too_many = client.get(
        PRICES, headers=spapi_headers, params={**params, "Asins": ",".join(["B0ZZZZZZZZ"] * 21)}
    )
    assert too_many.status_code == 400
