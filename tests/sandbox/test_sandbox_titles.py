"""The title-search catalogue and its labelled supplier rows; the three APIs answering keyword searches."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.sandbox.conftest import cognito_token, spapi_token

from code2asin.barcodes import parse_code
from code2asin.sandbox import catalogue, title_cases, titles
from code2asin.sandbox.encoding import decode_asin
from code2asin.sandbox.keepa_search import SEARCH_PAGE_TOKENS
from code2asin.sandbox.marketplaces import BY_COUNTRY
from code2asin.sandbox.server import DEFAULT_KEEPA_KEY, DEFAULT_PARTNER_TAG, SandboxQuotas, SandboxServer
from code2asin.sandbox.title_families import FAMILIES

CASES = title_cases.title_cases()
FR = BY_COUNTRY["FR"].marketplace_id
ITEMS = "/catalog/2022-04-01/items"
SOLD = {
    (o.family.key, o.brand, o.size, o.count)
    for o in (titles.offer_of(i.asin) for i in titles.title_items())
    if o is not None
}


def _key(offer: titles.Offer) -> tuple[str, str, float, int]:
    return offer.family.key, offer.brand, offer.size, offer.count


def _matches() -> list[title_cases.TitleCase]:
    return [c for c in CASES if c.expected_asin]


# --- the catalogue --------------------------------------------------------------------------------------


def test_the_catalogue_spans_forty_families_on_seven_shelves_with_rival_brands() -> None:
    assert len(FAMILIES) >= 40
    shelves = Counter(f.department.key for f in FAMILIES)
    assert {"grocery", "beauty", "health", "pets", "diy", "baby"} <= shelves.keys()
    for family in FAMILIES:
        assert len({family.brand, family.rival, family.ghost}) == 3 and 2 <= len(family.sizes) <= 4
    kinds = Counter(o.kind for o in (titles.offer_of(i.asin) for i in titles.title_items()) if o)
    assert kinds["rival"] == len(FAMILIES) and kinds["multipack"] >= len(FAMILIES)


def test_title_asins_are_in_a_reserved_range_and_resolve_on_every_marketplace() -> None:
    for item in titles.title_items():
        value = decode_asin(item.asin)
        assert value is not None and value >= titles.TITLE_ASIN_BASE
        assert catalogue._reference_item(item.asin) is None  # no generated item owns the slot
        assert catalogue.sandbox_item(item.asin) == item
        assert catalogue.sandbox_item(item.asin, "DE") == item
        for ean in item.eans:  # their own EANs find them, as SP-API's identifier search would
            assert item in catalogue.products_for_gtin(ean)


def test_prices_are_consistent_between_sizes_and_packs() -> None:
    for item in titles.title_items():
        offer = titles.offer_of(item.asin)
        assert offer is not None and item.base_price_eur is not None
        if offer.kind == "multipack":
            unit = titles.unit_price(offer.family, offer.size)
            assert 0.9 * offer.count * unit <= item.base_price_eur <= offer.count * unit
            assert str(offer.count) in item.title
    for family in FAMILIES:
        prices = [titles.unit_price(family, s) for s in family.sizes]
        assert prices == sorted(prices)
    buy_box = Counter(i.buy_box for i in titles.title_items())
    assert buy_box[True] > buy_box[False] > 0


def test_pack_quantity_is_sometimes_only_in_the_title() -> None:
    packs = [i for i in titles.title_items() if (o := titles.offer_of(i.asin)) and o.count > 1]
    assert {i.package_quantity > 1 for i in packs} == {True, False}


# --- the labelled rows ----------------------------------------------------------------------------------


def test_at_least_350_cases_about_55_percent_matches_every_trap_present() -> None:
    traps = Counter(c.trap for c in CASES)
    assert len(CASES) >= 350 and set(traps) == set(title_cases.TRAPS)
    assert 0.50 <= (traps["match"] + traps["pack_match"]) / len(CASES) <= 0.60
    assert len(title_cases.SAMPLE) == 12 and {c.trap for c in title_cases.SAMPLE} == set(title_cases.TRAPS)


def test_case_codes_are_distinct_valid_eans_no_identifier_search_finds() -> None:
    codes = [c.code for c in CASES]
    assert len(set(codes)) == len(codes)
    title_eans = {e for i in titles.title_items() for e in i.eans}
    for code in codes:
        parsed = parse_code(code)
        assert parsed.gtin is not None and len(code) == 13
        assert catalogue.products_for_gtin(code) == () and catalogue.search_keywords(code) == ()
        assert code not in title_eans


def test_expected_asins_are_what_the_row_asks_for() -> None:
    for case in _matches():
        assert case.expected_asin is not None
        item = catalogue.sandbox_item(case.expected_asin)
        offer = titles.offer_of(case.expected_asin)
        wanted = title_cases.wanted_offer(case.code)
        assert item is not None and offer is not None and wanted is not None
        assert _key(offer) == _key(wanted)
        assert (offer.count > 1) == (case.trap == "pack_match")


def test_traps_have_no_right_answer_in_the_catalogue() -> None:
    for case in CASES:
        if case.expected_asin is None:
            wanted = title_cases.wanted_offer(case.code)
            assert wanted is not None and _key(wanted) not in SOLD, case


def test_the_brand_is_always_in_the_title_or_the_column_and_sometimes_only_in_one() -> None:
    where: Counter[tuple[bool, bool]] = Counter()
    for case in CASES:
        wanted = title_cases.wanted_offer(case.code)
        assert wanted is not None
        plain = titles.normalise(case.title)
        in_title = " ".join(titles.normalise(wanted.brand)) in " ".join(plain)
        assert in_title or case.brand == wanted.brand
        where[(in_title, case.brand is not None)] += 1
    assert where[(True, False)] and where[(False, True)] and where[(True, True)]


def test_supplier_prices_are_wholesale_and_some_are_missing() -> None:
    missing = 0
    for case in _matches():
        item = catalogue.sandbox_item(case.expected_asin or "")
        assert item is not None and item.base_price_eur is not None
        if case.price is None:
            missing += 1
            continue
        ratio = case.price / Decimal(str(item.base_price_eur))
        assert Decimal("0.54") <= ratio <= Decimal("0.96"), case
    assert 0 < missing < len(_matches()) // 4


def test_supplier_titles_are_worded_their_own_way() -> None:
    amazon = {i.title.casefold() for i in titles.title_items()}
    same = [c for c in CASES if c.title.casefold() in amazon]  # a supplier may copy Amazon now and then
    assert len(same) < len(CASES) // 50
    assert any(c.title.isupper() for c in CASES) and any("X" in c.title for c in CASES)


def test_a_fresh_process_builds_the_same_cases_and_items() -> None:
    script = (
        "from code2asin.sandbox import title_cases, titles;"
        "print(hash(0), repr(title_cases.title_cases()) + repr(titles.title_items()))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": ":".join(sys.path)},
        )
        for seed in ("1", "2")
    ]
    outputs = [r.stdout.split(" ", 1)[1] for r in runs]
    assert outputs[0] == outputs[1] == repr(CASES) + repr(titles.title_items()) + "\n"


# --- search ---------------------------------------------------------------------------------------------


def test_search_normalises_case_accents_punctuation_and_sizes() -> None:
    assert titles.normalise("NORVELLA - Pâte à Tartiner, 6X400G") == titles.normalise(
        "norvella pate a tartiner 6 x 400 g"
    )
    assert titles.normalise("1,5 L") == titles.normalise("1.5l") == ["1.5l"]


def test_every_match_is_found_among_near_misses() -> None:
    for case in _matches():
        found = titles.search_titles(f"{case.brand or ''} {case.title}", limit=10)
        asins = [i.asin for i in found]
        assert case.expected_asin in asins, case
        assert len(asins) > 1  # other sizes, packs and brands come back too


def test_traps_bring_near_misses_but_not_what_was_asked() -> None:
    for case in CASES:
        if case.trap in ("other_size", "other_pack"):
            wanted = title_cases.wanted_offer(case.code)
            assert wanted is not None
            found = titles.search_titles(case.title, case.brand, limit=10)
            families = {o.family.key for i in found if (o := titles.offer_of(i.asin))}
            assert wanted.family.key in families, case


def test_the_brand_filter_keeps_only_that_brand() -> None:
    family = FAMILIES[0]
    both = titles.search_titles(family.words)
    assert {family.brand, family.rival} <= {i.brand for i in both}
    rival = titles.search_titles(family.words, family.rival.upper())
    assert rival and {i.brand for i in rival} == {family.rival}
    ghost = [titles.offer_of(i.asin) for i in titles.search_titles(family.words, family.ghost)]
    assert all(o is not None and o.family.key != family.key for o in ghost)


def test_nothing_comes_back_without_a_meaningful_shared_word() -> None:
    assert titles.search_titles("zorglub 400 g lot de 6") == ()
    assert titles.search_titles("de la 12") == ()


# --- over HTTP ------------------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    quotas = SandboxQuotas(
        creators_rps=1000,
        creators_burst=1000,
        spapi_catalog_rps=1000,
        spapi_catalog_burst=1000,
        keepa_tokens=25,
        keepa_refill_rate=5,
    )
    with SandboxServer(quotas=quotas) as sb:
        yield sb


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def _creators(http: httpx.Client, **body: Any) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {cognito_token(http)}, Version 2.2",
        "x-marketplace": "www.amazon.fr",
    }
    payload = {
        "partnerTag": DEFAULT_PARTNER_TAG,
        "resources": ["itemInfo.title", "itemInfo.byLineInfo"],
        **body,
    }
    return http.post("/catalog/v1/searchItems", headers=headers, json=payload)


def test_creators_search_items_answers_words_with_a_brand_filter(http: httpx.Client) -> None:
    family = FAMILIES[0]
    answer = _creators(http, keywords=family.words)
    assert answer.status_code == 200
    items = answer.json()["searchResult"]["items"]
    assert 1 < len(items) <= 10
    expected = [i.asin for i in titles.search_titles(family.words)][:10]
    assert [i["asin"] for i in items] == expected
    branded = _creators(http, keywords=family.words, brand=family.rival)
    brands = {
        i["itemInfo"]["byLineInfo"]["brand"]["displayValue"] for i in branded.json()["searchResult"]["items"]
    }
    assert brands == {family.rival}
    assert _creators(http, title=family.words, brand=family.brand).status_code == 200
    miss = _creators(http, keywords="zorglub intergalactique")
    assert miss.status_code == 404 and miss.json()["resourceType"] == "SearchResult"


def test_creators_barcode_keywords_keep_the_identifier_search(
    http: httpx.Client, examples: dict[str, list[str]]
) -> None:
    code = examples["single"][0]
    answer = _creators(http, keywords=code)
    assert [i["asin"] for i in answer.json()["searchResult"]["items"]] == [
        i.asin for i in catalogue.search_keywords(code)
    ]


def test_creators_get_items_serves_title_asins(http: httpx.Client) -> None:
    asins = [i.asin for i in titles.title_items()[:10]]
    headers = {
        "Authorization": f"Bearer {cognito_token(http)}, Version 2.2",
        "x-marketplace": "www.amazon.fr",
    }
    body = {"partnerTag": DEFAULT_PARTNER_TAG, "itemIds": asins, "resources": ["itemInfo.title"]}
    answer = http.post("/catalog/v1/getItems", headers=headers, json=body)
    assert [i["asin"] for i in answer.json()["itemsResult"]["items"]] == asins


def _spapi(http: httpx.Client, **params: str) -> httpx.Response:
    query = {
        "marketplaceIds": FR,
        "includedData": "identifiers,summaries,images,salesRanks",
        "pageSize": "20",
    }
    return http.get(ITEMS, headers={"x-amz-access-token": spapi_token(http)}, params={**query, **params})


def test_spapi_keywords_search_with_brand_names_and_limits(http: httpx.Client) -> None:
    family = FAMILIES[3]
    keywords = ",".join(family.words.split())
    answer = _spapi(http, keywords=keywords)
    assert answer.status_code == 200
    body = answer.json()
    assert body["items"] and body["items"][0]["summaries"][0]["itemName"]
    assert {r["brandName"] for r in body["refinements"]["brands"]} >= {family.brand, family.rival}
    branded = _spapi(http, keywords=keywords, brandNames=family.brand).json()
    assert {i["summaries"][0]["brand"] for i in branded["items"]} == {family.brand}
    assert _spapi(http, keywords="zorglub").json()["numberOfResults"] == 0
    assert _spapi(http, keywords=",".join(f"w{n}" for n in range(21))).status_code == 400
    assert _spapi(http, keywords="3017620422003").status_code == 400  # barcodes go through identifiers


def test_spapi_pricing_serves_title_asins(http: httpx.Client) -> None:
    asins = [i.asin for i in titles.title_items()[:5]]
    params = {"MarketplaceId": FR, "ItemType": "Asin", "Asins": ",".join(asins)}
    answer = http.get(
        "/products/pricing/v0/competitivePrice",
        headers={"x-amz-access-token": spapi_token(http)},
        params=params,
    )
    assert [p["status"] for p in answer.json()["payload"]] == ["Success"] * 5


def test_keepa_search_costs_ten_tokens_a_page_and_429s_like_product(
    http: httpx.Client, server: SandboxServer
) -> None:
    family = FAMILIES[5]
    term = f"{family.brand} {family.words}"
    params = {"key": DEFAULT_KEEPA_KEY, "domain": "4", "type": "product", "term": term, "stats": "1"}
    first = http.get("/search", params={**params, "page": "0"}).json()
    assert first["tokensConsumed"] == SEARCH_PAGE_TOKENS and first["tokensLeft"] == 25 - SEARCH_PAGE_TOKENS
    expected = titles.search_titles(term)
    assert [p["asin"] for p in first["products"]] == [i.asin for i in expected[:10]]
    assert first["products"][0]["title"] and first["products"][0]["stats"]["current"]
    http.get("/search", params={**params, "page": "1"})
    http.get("/search", params={**params, "page": "2"})  # served: the balance was still positive
    refused = http.get("/search", params=params)
    assert refused.status_code == 429 and refused.json()["error"]["type"] == "NOT_ENOUGH_TOKEN"
    assert http.get("/search", params={**params, "type": "category"}).status_code == 400
    by_asin = http.get("/product", params={"key": DEFAULT_KEEPA_KEY, "domain": "4", "asin": expected[0].asin})
    assert by_asin.status_code == 429  # same bucket as /product
    server.keepa_tokens.set_balance(DEFAULT_KEEPA_KEY, 10)
    by_asin = http.get("/product", params={"key": DEFAULT_KEEPA_KEY, "domain": "4", "asin": expected[0].asin})
    assert [p["asin"] for p in by_asin.json()["products"]] == [expected[0].asin]
