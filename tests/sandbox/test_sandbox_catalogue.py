"""The generated catalogue: deterministic, reversible ASINs, hard cases at controlled rates."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

from code2asin.sandbox import catalogue
from code2asin.sandbox.catalogue import products_for_gtin, sandbox_item, search_keywords, to_gtin14
from code2asin.sandbox.categories import CATEGORY_RATES, code_category
from code2asin.sandbox.sample_codes import generate_codes

ASIN_RE = re.compile(r"^B0[0-9A-Z]{8}$")

_DIGEST_SCRIPT = """
import json
from code2asin.sandbox.catalogue import search_keywords
from code2asin.sandbox.sample_codes import generate_codes
out = {c: [[i.asin, i.title, list(i.eans), i.base_price_eur, list(i.image_ids)] for i in search_keywords(c)]
       for c in generate_codes(300, seed=7)}
print(json.dumps(out, sort_keys=True))
"""


def _digest() -> str:
    out = {
        c: [[i.asin, i.title, list(i.eans), i.base_price_eur, list(i.image_ids)] for i in search_keywords(c)]
        for c in generate_codes(300, seed=7)
    }
    return json.dumps(out, sort_keys=True)


def test_catalogue_is_identical_in_a_fresh_process() -> None:
    fresh = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == _digest()


def test_example_codes_cover_every_category(examples: dict[str, list[str]]) -> None:
    expected = {*CATEGORY_RATES, "upc_spelling", "book", "pack_gtin14"}
    assert set(examples) == expected
    for category, codes in examples.items():
        assert codes, category
        for code in codes:
            assert to_gtin14(code) is not None
            assert code_category(code) == category


def test_asins_are_reversible_and_amazon_shaped(examples: dict[str, list[str]]) -> None:
    for codes in examples.values():
        for code in codes:
            for item in search_keywords(code):
                assert ASIN_RE.match(item.asin) or item.asin == catalogue.isbn10_of(item.gtin)
                assert sandbox_item(item.asin) == item
    assert sandbox_item("B0ZZZZZZZZ") is None
    assert sandbox_item("not-an-asin") is None


def test_hard_case_rates_over_20000_codes() -> None:
    counts = Counter(code_category(code) for code in generate_codes(20_000, seed=11))
    share = {name: counts[name] / 20_000 for name in counts}
    assert 0.13 <= share["unknown"] <= 0.18  # unknown codes ~15 %, books included
    assert 0.035 <= share["near_miss"] <= 0.06
    assert 0.06 <= share["several_asins"] <= 0.09
    assert 0.04 <= share["multipack"] <= 0.08
    assert 0.05 <= share["variation"] <= 0.08
    assert 0.025 <= share["no_offers"] <= 0.05
    assert 0.025 <= share["no_images"] <= 0.05
    assert 0.05 <= share["book"] <= 0.09
    assert share["upc_spelling"] > 0.05
    assert 0.40 <= share["single"] + share["upc_spelling"] <= 0.55


def test_more_than_250000_distinct_codes_can_be_generated() -> None:
    assert len(set(generate_codes(250_000, seed=1))) > 249_000


def test_single_item_carries_the_code_as_ean13(examples: dict[str, list[str]]) -> None:
    for code in examples["single"]:
        (item,) = products_for_gtin(code)
        assert item.eans == (code,)
        assert item.buy_box and item.base_price_eur and item.image_ids and item.sales_rank


def test_several_asins_one_buy_box_and_a_worse_duplicate(examples: dict[str, list[str]]) -> None:
    for code in examples["several_asins"]:
        items = products_for_gtin(code)
        assert 2 <= len(items) <= 3
        primary, duplicate = items[0], items[1]
        assert primary.buy_box and primary.base_price_eur is not None
        assert not duplicate.buy_box
        assert (duplicate.sales_rank or 0) > (primary.sales_rank or 0)
        assert all(to_gtin14(code) in i.identifier_gtins for i in items)


def test_multipacks_are_packs_of_the_single(examples: dict[str, list[str]]) -> None:
    for code in examples["multipack"]:
        packs = [i for i in search_keywords(code) if i.role == "multipack"]
        assert len(packs) == 1
        pack = packs[0]
        assert pack.package_quantity > 1
        assert re.search(r"(Lot de|Pack de|Pack of|lot de) \d+", pack.title)
    for code in examples["pack_gtin14"]:
        (pack,) = products_for_gtin(code)
        assert pack.role == "multipack" and code in pack.eans


def test_upc_spellings(examples: dict[str, list[str]]) -> None:
    for code in examples["upc_spelling"]:
        assert len(code) == 12
        (item,) = products_for_gtin(code)
        assert code in item.upcs or "0" + code in item.eans


def test_near_miss_results_never_carry_the_code(examples: dict[str, list[str]]) -> None:
    for code in examples["near_miss"]:
        gtin = to_gtin14(code)
        assert products_for_gtin(code) == ()
        results = search_keywords(code)
        assert results
        for item in results:
            assert gtin not in item.identifier_gtins
            (other,) = item.identifier_gtins
            assert sum(a != b for a, b in zip(other, gtin or "", strict=True)) <= 2  # one data digit + check


def test_variation_parent_and_children(examples: dict[str, list[str]]) -> None:
    for code in examples["variation"]:
        results = search_keywords(code)
        child = results[0]
        parents = [i for i in results if i.item_classification == "VARIATION_PARENT"]
        assert len(parents) == 1 and child.parent_asin == parents[0].asin
        assert not parents[0].eans
        assert sandbox_item(parents[0].asin) == parents[0]


def test_unknown_books_offers_images(examples: dict[str, list[str]]) -> None:
    for code in examples["unknown"]:
        assert search_keywords(code) == ()
    for code in examples["book"]:
        (book,) = products_for_gtin(code)
        assert code in book.eans
        if code.startswith("978"):
            assert book.asin == book.isbns[0] and len(book.asin) == 10
    for code in examples["no_offers"]:
        assert products_for_gtin(code)[0].base_price_eur is None
    for code in examples["no_images"]:
        assert products_for_gtin(code)[0].image_ids == ()
