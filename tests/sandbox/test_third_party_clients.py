"""Fidelity: third-party Amazon clients, pointed at the sandbox, must work unmodified.

* python-amazon-paapi 7.1.0 (``amazon_creatorsapi``): ``host=`` and ``auth_endpoint=`` constructor arguments.
* python-amazon-sp-api: ``auth_token_client_class=`` (a subclass of its ``AccessTokenClient`` whose
  ``scheme``/``host`` class attributes name the sandbox) and the client's public ``endpoint`` attribute
  (the ``Marketplaces`` enum only knows Amazon hosts). No library internals are patched.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from amazon_creatorsapi import AmazonCreatorsApi
from amazon_creatorsapi.errors import ItemsNotFoundError, TooManyRequestsError
from sp_api.api import CatalogItems, Products
from sp_api.api.catalog_items.catalog_items import CatalogItemsVersion
from sp_api.auth import AccessTokenClient
from sp_api.base import Marketplaces, SellingApiRequestThrottledException

from code2asin.sandbox.catalogue import products_for_gtin
from code2asin.sandbox.server import (
    DEFAULT_CREDENTIAL_ID,
    DEFAULT_CREDENTIAL_SECRET,
    DEFAULT_LWA_CLIENT_ID,
    DEFAULT_LWA_CLIENT_SECRET,
    DEFAULT_PARTNER_TAG,
    SandboxQuotas,
    SandboxServer,
)

REFRESH_TOKEN = "Atzr|third-party-client-test"  # own token: sp_api caches access tokens per refresh token


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(refresh_token=REFRESH_TOKEN) as sandbox:
        yield sandbox


def _creators(server: SandboxServer, version: str) -> AmazonCreatorsApi:
    token_url = server.cognito_token_url if version.startswith("2.") else server.lwa_token_url
    return AmazonCreatorsApi(
        DEFAULT_CREDENTIAL_ID,
        DEFAULT_CREDENTIAL_SECRET,
        version,
        DEFAULT_PARTNER_TAG,
        country="FR",
        throttling=0,
        retries=0,
        host=server.base_url,
        auth_endpoint=token_url,
    )


@pytest.mark.parametrize("version", ["2.2", "3.2"])
def test_python_amazon_paapi_search_and_get_items(
    server: SandboxServer, examples: dict[str, list[str]], version: str
) -> None:
    code = examples["several_asins"][0]
    with _creators(server, version) as api:
        result = api.search_items(keywords=code)
        assert result.items
        for item in result.items:
            assert code in item.item_info.external_ids.eans.display_values
            assert item.detail_page_url.endswith("&linkCode=ogi&th=1&psc=1")
        asins = [item.asin for item in result.items]
        items = api.get_items([*asins, "B0ZZZZZZZZ"])
        assert [item.asin for item in items] == asins
        assert items.errors and items.errors[0].code == "InvalidParameterValue"
        winner = items[0].offers_v2.listings[0]
        assert winner.is_buy_box_winner is True and winner.price.money.currency == "EUR"
        with pytest.raises(ItemsNotFoundError):
            api.search_items(keywords=examples["unknown"][0])


def test_python_amazon_paapi_sees_throttling(examples: dict[str, list[str]]) -> None:
    with (
        SandboxServer(quotas=SandboxQuotas(creators_rps=0.001, creators_burst=1)) as sandbox,
        _creators(sandbox, "2.2") as api,
    ):
        api.search_items(keywords=examples["single"][0])
        with pytest.raises(TooManyRequestsError):
            api.search_items(keywords=examples["single"][0])


def _token_client(server: SandboxServer) -> type[AccessTokenClient]:
    class SandboxAccessTokenClient(AccessTokenClient):  # type: ignore[misc]
        scheme = "http://"
        host = server.base_url.removeprefix("http://")

    return SandboxAccessTokenClient


def _credentials() -> dict[str, str]:
    return {
        "refresh_token": REFRESH_TOKEN,
        "lwa_app_id": DEFAULT_LWA_CLIENT_ID,
        "lwa_client_secret": DEFAULT_LWA_CLIENT_SECRET,
    }


def test_python_amazon_sp_api_search_catalog_items(
    server: SandboxServer, examples: dict[str, list[str]]
) -> None:
    codes = (
        examples["single"][:5]
        + examples["several_asins"][:5]
        + examples["upc_spelling"][:5]
        + examples["unknown"][:5]
    )
    catalog = CatalogItems(
        credentials=_credentials(),
        marketplace=Marketplaces.FR,
        version=CatalogItemsVersion.V_2022_04_01,
        auth_token_client_class=_token_client(server),
    )
    catalog.endpoint = server.base_url
    try:
        response = catalog.search_catalog_items(
            identifiers=",".join(codes),
            identifiersType="EAN",
            includedData=["identifiers", "summaries", "images", "salesRanks"],
            pageSize=20,
        )
    finally:
        catalog.close()
    expected = {i.asin for c in codes for i in products_for_gtin(c)}
    assert response.payload["numberOfResults"] == len(expected)
    assert {item["asin"] for item in response.payload["items"]} <= expected
    assert response.headers["x-amzn-RateLimit-Limit"] == "2.0"
    (logged,) = [e for e in server.request_log if e.operation == "searchCatalogItems"]
    assert logged.codes == tuple(codes) and logged.marketplace == Marketplaces.FR.marketplace_id


def test_python_amazon_sp_api_competitive_pricing_and_throttling(
    server: SandboxServer, examples: dict[str, list[str]]
) -> None:
    asins = [i.asin for i in products_for_gtin(examples["single"][0])]
    products = Products(
        credentials=_credentials(), marketplace=Marketplaces.FR, auth_token_client_class=_token_client(server)
    )
    products.endpoint = server.base_url
    try:
        response = products.get_competitive_pricing_for_asins(asins)
        (price,) = response.payload
        assert price["status"] == "Success"
        assert (
            price["Product"]["CompetitivePricing"]["CompetitivePrices"][0]["Price"]["ListingPrice"][
                "CurrencyCode"
            ]
            == "EUR"
        )
        server.inject_faults("getCompetitivePricing", "429")
        with pytest.raises(SellingApiRequestThrottledException):
            products.get_competitive_pricing_for_asins(asins)
    finally:
        products.close()
