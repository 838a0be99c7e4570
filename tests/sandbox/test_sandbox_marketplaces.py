"""Per-marketplace catalogue over real HTTP: Creators, SP-API (catalog + pricing), Keepa and the image CDN
agree on what each marketplace lists; FR, the reference, is the catalogue it always was."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from hashlib import sha256
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.sandbox.conftest import cognito_token, spapi_token

from code2asin.sandbox import categories
from code2asin.sandbox.catalogue import (
    listing_kind,
    marketplace_asin,
    products_for_gtin,
    rating_for,
    sandbox_item,
    search_keywords,
    to_gtin14,
)
from code2asin.sandbox.keepa import DOMAINS
from code2asin.sandbox.marketplaces import BY_COUNTRY, MARKETPLACES
from code2asin.sandbox.sample_codes import (
    ListingExample,
    example_codes,
    generate_codes,
    marketplace_example_codes,
    multi_marketplace_codes,
)
from code2asin.sandbox.server import DEFAULT_KEEPA_KEY, DEFAULT_PARTNER_TAG, SandboxServer

ASIN_RE = re.compile(r"^B0[0-9A-Z]{8}$")
KEEPA_DOMAIN = {country: domain for domain, country in DOMAINS.items()}
CREATORS_VERSION = {"EU": "2.2", "NA": "2.1", "FE": "2.3"}
CURRENCY = {"FR": "EUR", "DE": "EUR", "IT": "EUR", "ES": "EUR", "UK": "GBP", "US": "USD"}
RESOURCES = ["itemInfo.title", "itemInfo.externalIds", "offersV2.listings.price", "images.primary.large",
             "images.variants.large"]
HARD_CASES = ("unknown", "near_miss", "several_asins", "multipack", "variation", "no_offers", "no_images",
              "upc_spelling", "book", "pack_gtin14")
#: the FR catalogue as it was before marketplaces differed (computed with that version of the sandbox)
FR_DIGEST = "7aaed7c3b01eb30ffd96cc919627d89cfd34452c085170a8d5bc2e26e7b9ca97"


class Amazon:
    """The three simulated APIs of one running sandbox, asked about one marketplace at a time."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.creators_token = cognito_token(http)
        self.spapi_headers = {"x-amz-access-token": spapi_token(http)}

    def _creators(self, operation: str, country: str, body: dict[str, Any]) -> httpx.Response:
        market = BY_COUNTRY[country]
        version = CREATORS_VERSION[market.region]
        headers = {
            "Authorization": f"Bearer {self.creators_token}, Version {version}",
            "x-marketplace": market.host,
        }
        body = {"partnerTag": DEFAULT_PARTNER_TAG, "resources": RESOURCES, **body}
        return self.http.post(f"/catalog/v1/{operation}", headers=headers, json=body)

    def creators_search(self, country: str, code: str) -> list[dict[str, Any]]:
        response = self._creators("searchItems", country, {"keywords": code})
        if response.status_code == 404:
            assert response.json()["type"] == "ResourceNotFoundException"
            return []
        assert response.status_code == 200, response.text
        return list(response.json()["searchResult"]["items"])

    def creators_get(self, country: str, asins: list[str]) -> dict[str, dict[str, Any]]:
        response = self._creators("getItems", country, {"itemIds": asins})
        if response.status_code == 404:
            return {}
        assert response.status_code == 200, response.text
        return {item["asin"]: item for item in response.json()["itemsResult"]["items"]}

    def spapi_search(self, country: str, code: str) -> list[dict[str, Any]]:
        params = {
            "identifiers": code,
            "identifiersType": "EAN",
            "marketplaceIds": BY_COUNTRY[country].marketplace_id,
            "includedData": "identifiers,summaries,images",
        }
        response = self.http.get("/catalog/2022-04-01/items", headers=self.spapi_headers, params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def spapi_prices(self, country: str, asins: list[str]) -> dict[str, tuple[float, str] | None]:
        """ASIN -> buy-box (amount, currency), None without an offer; unknown ASINs are left out."""
        market_id = BY_COUNTRY[country].marketplace_id
        params = {"MarketplaceId": market_id, "ItemType": "Asin", "Asins": ",".join(asins)}
        response = self.http.get("/products/pricing/v0/competitivePrice", headers=self.spapi_headers,
                                 params=params)
        assert response.status_code == 200, response.text
        out: dict[str, tuple[float, str] | None] = {}
        for entry in response.json()["payload"]:
            if entry["status"] == "Success":
                prices = entry["Product"]["CompetitivePricing"]["CompetitivePrices"]
                landed = prices[0]["Price"]["LandedPrice"] if prices else None
                out[entry["ASIN"]] = (landed["Amount"], landed["CurrencyCode"]) if landed else None
            else:
                assert entry["status"] == "ClientError"
        return out

    def keepa(self, country: str, **query: str) -> list[dict[str, Any]]:
        params = {"key": DEFAULT_KEEPA_KEY, "domain": str(KEEPA_DOMAIN[country]), "stats": "1", **query}
        response = self.http.get("/product", params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["products"])


@pytest.fixture(scope="module")
def amazon(sandbox: SandboxServer) -> Any:
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as http:
        yield Amazon(http)


def _asins(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["asin"]) for item in items]


def _image_id(url: str) -> str:
    return url.rsplit("/", 1)[1].split(".", maxsplit=1)[0]


def _creators_eans(item: dict[str, Any]) -> list[str]:
    return list(item.get("itemInfo", {}).get("externalIds", {}).get("eans", {}).get("displayValues", []))


# --- each API gives the marketplace's answer ---------------------------------------------------------


@pytest.mark.parametrize("country", ["FR", "DE", "IT", "UK"])
def test_the_three_apis_agree_on_what_a_marketplace_lists(amazon: Amazon, country: str) -> None:
    examples = marketplace_example_codes(country, 3)
    if country == "FR":
        assert examples["local_asin"] == [] and examples["not_sold"] == []
    else:
        assert all(len(examples[kind]) == 3 for kind in ("same_asin", "local_asin", "not_sold"))
    for kind, listed in examples.items():
        for example in listed:
            assert example.kind == kind == listing_kind(example.code, country)
            expected = [example.asin] if example.asin else []
            assert _asins(amazon.creators_search(country, example.code)) == expected, example
            assert _asins(amazon.spapi_search(country, example.code)) == expected, example
            assert _asins(amazon.keepa(country, code=example.code)) == expected, example
            asked = list(dict.fromkeys([example.reference_asin, *expected]))
            assert list(amazon.creators_get(country, asked)) == expected, example
            assert list(amazon.spapi_prices(country, asked)) == expected, example
            assert _asins(amazon.keepa(country, asin=",".join(asked))) == expected, example


def test_example_kinds_mean_what_they_say() -> None:
    for country in ("DE", "IT", "UK", "US"):
        examples = marketplace_example_codes(country)
        for same in examples["same_asin"]:
            assert same.asin == same.reference_asin == marketplace_asin(same.code, "FR")
        for local in examples["local_asin"]:
            assert local.local_asin == local.asin and ASIN_RE.match(local.asin or "")
            assert local.asin != local.reference_asin
            assert sandbox_item(local.reference_asin, country) is None  # the FR ASIN is unknown there
            assert sandbox_item(local.asin or "", "FR") is None  # and the local one unknown on FR
        for missing in examples["not_sold"]:
            assert missing.asin is None and missing.local_asin is None
            assert products_for_gtin(missing.code, country) == ()
            assert search_keywords(missing.code, country) == ()
            assert sandbox_item(missing.reference_asin, country) is None
            assert sandbox_item(missing.reference_asin, "FR") is not None


@pytest.mark.parametrize("country", ["DE", "UK"])
def test_a_local_listing_is_the_same_product_with_its_own_asin_and_images(
    amazon: Amazon, sandbox: SandboxServer, country: str
) -> None:
    local: ListingExample = marketplace_example_codes(country)["local_asin"][0]
    (fr,) = amazon.creators_search("FR", local.code)
    (there,) = amazon.creators_search(country, local.code)
    assert there["asin"] == local.asin and fr["asin"] == local.reference_asin
    assert there["itemInfo"]["title"]["displayValue"] == fr["itemInfo"]["title"]["displayValue"]
    assert _creators_eans(there) == _creators_eans(fr) == [local.code]
    (spapi_item,) = amazon.spapi_search(country, local.code)
    identifiers = spapi_item["identifiers"][0]["identifiers"]
    assert {"identifierType": "EAN", "identifier": local.code} in identifiers
    # the image CDN serves every image a marketplace hands out, and Keepa names the same images
    creators_images = [there["images"]["primary"]["large"]["url"]]
    creators_images += [v["large"]["url"] for v in there["images"].get("variants", [])]
    spapi_images = [image["link"] for image in spapi_item["images"][0]["images"]]
    ids = [_image_id(url) for url in spapi_images]
    assert [_image_id(url) for url in creators_images] == ids
    assert _image_id(fr["images"]["primary"]["large"]["url"]) not in ids  # its own images
    (keepa_product,) = amazon.keepa(country, code=local.code)
    assert keepa_product["imagesCSV"].split(",") == [f"{i}.jpg" for i in ids]
    for url in creators_images + spapi_images:
        assert url.startswith(f"{sandbox.base_url}/images/I/")
        image = amazon.http.get(url.removeprefix(sandbox.base_url))
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("country", ["FR", "DE", "IT", "ES", "UK", "US"])
def test_prices_are_in_the_marketplace_currency_and_agree(amazon: Amazon, country: str) -> None:
    examples = marketplace_example_codes(country, 2)
    for example in examples["same_asin"] + examples["local_asin"]:
        asin = example.asin or ""
        (item,) = amazon.creators_search(country, example.code)
        money = item["offersV2"]["listings"][0]["price"]["money"]
        assert money["currency"] == CURRENCY[country]
        assert amazon.spapi_prices(country, [asin]) == {asin: (money["amount"], CURRENCY[country])}
        (product,) = amazon.keepa(country, asin=asin)
        assert product["stats"]["current"][1] == round(money["amount"] * 100)
        listed = sandbox_item(asin, country)
        assert listed is not None
        assert listed.price(BY_COUNTRY[country]) == (money["amount"], CURRENCY[country])
    display = {"UK": "£", "US": "$"}.get(country)
    (item,) = amazon.creators_search(country, examples["same_asin"][0].code)
    shown = item["offersV2"]["listings"][0]["price"]["money"]["displayAmount"]
    assert shown.startswith(display) if display else shown.endswith(" €")


# --- hard cases and the reference ---------------------------------------------------------------------


@pytest.mark.parametrize("country", ["DE", "IT", "UK"])
def test_hard_cases_are_listed_the_same_on_every_marketplace(amazon: Amazon, country: str) -> None:
    examples = example_codes()
    for category in HARD_CASES:
        for code in examples[category][:2]:
            assert listing_kind(code, country) in {"same_asin", "unknown"}
            fr = amazon.creators_search("FR", code)
            there = amazon.creators_search(country, code)
            if category == "near_miss":  # similar codes' items, none carrying the code, as many as on FR
                assert len(there) == len(fr) > 0
                assert all(code not in _creators_eans(item) for item in there)
                assert all(sandbox_item(str(item["asin"]), country) for item in there)
                continue
            assert _asins(there) == _asins(fr), (category, code)
            if category != "pack_gtin14":  # Keepa and SP-API EAN searches take 13-digit codes
                spapi_code = (to_gtin14(code) or "")[-13:]
                assert _asins(amazon.spapi_search(country, spapi_code)) == _asins(
                    amazon.spapi_search("FR", spapi_code)
                )
                assert _asins(amazon.keepa(country, code=code)) == _asins(amazon.keepa("FR", code=code))


def _fr_digest() -> str:
    codes = [*generate_codes(3000, seed=7), *(code for codes in example_codes().values() for code in codes)]
    digest = sha256()
    for code in codes:
        digest.update(json.dumps([code, [i.asin for i in products_for_gtin(code)]]).encode())
        for i in search_keywords(code):
            fields = [i.asin, i.gtin, i.role, i.title, i.brand, i.department.key, i.eans, i.upcs, i.isbns,
                      i.gtins, i.base_price_eur, i.buy_box, i.availability, i.image_ids, i.sales_rank,
                      i.package_quantity, i.parent_asin, i.item_classification, i.colour, i.contributor,
                      rating_for(i.asin), sandbox_item(i.asin) == i]
            digest.update(json.dumps(fields).encode())
    return digest.hexdigest()


def test_fr_is_the_catalogue_it_always_was() -> None:
    assert _fr_digest() == FR_DIGEST
    for code in generate_codes(500, seed=3):
        assert search_keywords(code, "FR") == search_keywords(code)
        assert products_for_gtin(code, "fr") == products_for_gtin(code)
        assert listing_kind(code, "FR") in {"same_asin", "unknown"}


# --- determinism, rates, ASINs ------------------------------------------------------------------------

def _views() -> dict[str, Any]:
    examples = {
        m: {kind: [[e.code, e.reference_asin, e.asin] for e in listed]
            for kind, listed in marketplace_example_codes(m).items()}
        for m in ("DE", "IT", "UK", "US")
    }
    multi = [[e.code, e.asins] for e in multi_marketplace_codes(9, ("FR", "DE", "IT"), not_sold=3)]
    search = {
        m: {code: [i.asin for i in search_keywords(code, m)] for code in generate_codes(300, seed=7)}
        for m in ("FR", "DE", "IT", "ES", "UK", "US", "JP")
    }
    return json.loads(json.dumps({"examples": examples, "multi": multi, "search": search}))


def test_marketplace_views_are_identical_in_a_fresh_process() -> None:
    script = "\n".join([
        "import json",
        "from tests.sandbox.test_sandbox_marketplaces import _views",
        "print(json.dumps(_views()))",
    ])
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # hashlib, never hash(): the seed changes nothing
    root = Path(__file__).resolve().parents[2]
    fresh = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env, cwd=root
    )
    assert json.loads(fresh.stdout) == _views()


def test_rates_over_20000_codes() -> None:
    codes = list(generate_codes(20_000, seed=11))
    ordinary = [c for c in codes if categories.code_category(c) == "single" and len(c) == 13]
    assert len(ordinary) > 5_000
    for country in ("DE", "IT", "ES", "UK", "US", "JP"):
        kinds = Counter(listing_kind(code, country) for code in ordinary)
        assert 0.08 <= kinds["not_sold"] / len(ordinary) <= 0.12, (country, kinds)
        assert 0.08 <= kinds["local_asin"] / len(ordinary) <= 0.12, (country, kinds)
    hard = [c for c in codes[:3000] if categories.code_category(c) not in {"single", "unknown", "near_miss"}]
    assert all(listing_kind(code, m) == "same_asin" for code in hard for m in ("DE", "UK", "US"))


def test_local_asins_are_amazon_shaped_reversible_and_never_anyone_elses() -> None:
    owners: dict[str, tuple[str, str]] = {}  # ASIN -> (GTIN, title) of the item it designates
    local_by_code: dict[tuple[str, str], str] = {}
    for code in generate_codes(1000, seed=5):
        for market in MARKETPLACES:
            for item in search_keywords(code, market.country):
                assert owners.setdefault(item.asin, (item.gtin, item.title)) == (item.gtin, item.title)
                assert sandbox_item(item.asin, market.country) == item
            if listing_kind(code, market.country) == "local_asin":
                asin = marketplace_asin(code, market.country) or ""
                assert ASIN_RE.match(asin) and sandbox_item(asin, "FR") is None
                local_by_code[(code, market.country)] = asin
    assert len(local_by_code) > 300
    for (code, country), asin in local_by_code.items():
        for market in MARKETPLACES:  # known exactly where that marketplace lists it locally
            assert (sandbox_item(asin, market.country) is not None) == (
                local_by_code.get((code, market.country)) == asin
            )
        if country == "DE" and (code, "IT") in local_by_code:
            assert local_by_code[(code, "IT")] != asin  # neighbours never share a local listing


# --- the multi-marketplace helper, over HTTP ---------------------------------------------------------


def test_multi_marketplace_codes_are_sold_with_a_price_where_promised(amazon: Amazon) -> None:
    codes = multi_marketplace_codes(9, ("FR", "DE", "IT"), not_sold=3)
    sold, missing = codes[:9], codes[9:]
    assert len(missing) == 3 and len({c.code for c in codes}) == 12
    assert sum(any(c.kind(m) == "local_asin" for m in ("DE", "IT")) for c in sold) == 3
    assert sum(all(c.kind(m) == "same_asin" for m in ("DE", "IT")) for c in sold) == 6
    for country in ("FR", "DE", "IT"):
        asins = [c.asin(country) or "" for c in sold]
        prices = amazon.spapi_prices(country, asins)
        assert list(prices) == asins
        assert all(price is not None and price[1] == "EUR" and price[0] > 0 for price in prices.values())
    for entry in missing:
        assert entry.asin("FR") is not None and not entry.sold_everywhere
        assert any(entry.kind(m) == "not_sold" for m in ("DE", "IT"))
        for country in ("FR", "DE", "IT"):
            expected = [a for a in [entry.asin(country)] if a]
            assert _asins(amazon.creators_search(country, entry.code)) == expected


def test_listing_kind_of_codes_nobody_sells_and_of_bad_marketplaces() -> None:
    examples = example_codes()
    assert listing_kind(examples["unknown"][0], "DE") == "unknown"
    assert listing_kind(examples["near_miss"][0], "DE") == "unknown"
    assert listing_kind("1234", "DE") == "unknown"
    assert marketplace_asin(examples["unknown"][0], "DE") is None
    assert listing_kind(examples["single"][0], "gb") == listing_kind(examples["single"][0], "UK")
    with pytest.raises(ValueError, match="Unknown sandbox marketplace"):
        listing_kind(examples["single"][0], "XX")
    with pytest.raises(ValueError, match="FR sells every ordinary code"):
        multi_marketplace_codes(2, ("FR",), not_sold=1)
    assert [c.kind("FR") for c in multi_marketplace_codes(2, ("FR",))] == ["same_asin", "same_asin"]
