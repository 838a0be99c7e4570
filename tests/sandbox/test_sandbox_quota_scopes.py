"""The sandbox's quotas have Amazon's scopes: SP-API usage plans per application and region, Creators
quotas per credential and marketplace (one Associates store each), as the clients' limiter keys assume."""

from __future__ import annotations

import httpx
from tests.sandbox.conftest import cognito_token, spapi_token

from code2asin.sandbox.marketplaces import BY_COUNTRY
from code2asin.sandbox.server import DEFAULT_PARTNER_TAG, SandboxQuotas, SandboxServer


def test_spapi_catalog_quota_is_shared_by_a_region_and_separate_between_regions(
    examples: dict[str, list[str]],
) -> None:
    quotas = SandboxQuotas(spapi_catalog_rps=0.001, spapi_catalog_burst=1, spapi_pricing_rps=0.001)
    with SandboxServer(quotas=quotas) as server, httpx.Client(base_url=server.base_url) as http:
        headers = {"x-amz-access-token": spapi_token(http)}

        def search(country: str) -> int:
            params = {"identifiers": examples["single"][0], "identifiersType": "EAN",
                      "marketplaceIds": BY_COUNTRY[country].marketplace_id}
            return http.get("/catalog/2022-04-01/items", headers=headers, params=params).status_code

        def price(country: str) -> int:
            params = {"MarketplaceId": BY_COUNTRY[country].marketplace_id, "ItemType": "Asin",
                      "Asins": "B000000000"}
            response = http.get("/products/pricing/v0/competitivePrice", headers=headers, params=params)
            return response.status_code

        assert [search(c) for c in ("FR", "DE", "IT", "US", "CA", "JP")] == [200, 429, 429, 200, 429, 200]
        assert [price(c) for c in ("DE", "FR", "UK", "US", "MX", "AU")] == [200, 429, 429, 200, 429, 200]


def test_creators_quota_is_per_credential_and_marketplace(examples: dict[str, list[str]]) -> None:
    quotas = SandboxQuotas(creators_rps=0.001, creators_burst=1)
    with SandboxServer(quotas=quotas) as server, httpx.Client(base_url=server.base_url) as http:
        token = cognito_token(http)

        def search(host: str) -> int:
            headers = {"Authorization": f"Bearer {token}, Version 2.2", "x-marketplace": host}
            body = {"partnerTag": DEFAULT_PARTNER_TAG, "keywords": examples["several_asins"][0]}
            return http.post("/catalog/v1/searchItems", headers=headers, json=body).status_code

        hosts = ("www.amazon.fr", "www.amazon.fr", "www.amazon.de", "www.amazon.de", "www.amazon.it")
        assert [search(host) for host in hosts] == [200, 429, 200, 429, 200]
