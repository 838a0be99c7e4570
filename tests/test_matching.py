"""Matching rules of design section 6: identifier proof, packs, variations, tie-breaks and confidence."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from code2asin.matching import (
    MatchDecision,
    MatchType,
    decide,
    pack_quantity_from_title,
    same_gtin,
)
from code2asin.providers.base import Candidate, LookupCode

NUTELLA = LookupCode(gtin="03017620422003", code="3017620422003", code_type="EAN")
COKE_UPC = LookupCode(gtin="00036000291452", code="036000291452", code_type="UPC")
COKE_EAN = LookupCode(gtin="00036000291452", code="0036000291452", code_type="EAN")
BOOK_ISBN10 = LookupCode(gtin="09780545162074", code="0545162076", code_type="ISBN10")
BOOK_ISBN13 = LookupCode(gtin="09780545162074", code="9780545162074", code_type="ISBN13")
NUTELLA_IDS = {"EAN": ["3017620422003"]}


def item(asin: str, **fields: object) -> Candidate:
    """A candidate with a buy-box offer unless the test says otherwise."""
    defaults: dict[str, Any] = {"source": "test", "buy_box": True, "price": Decimal("3.99")}
    defaults.update(fields)
    return Candidate(asin=asin, **defaults)


def by_asin(decision: MatchDecision, asin: str) -> tuple[MatchType | None, float, tuple[str, ...]]:
    found = next(c for c in decision.candidates if c.asin == asin)
    return found.match_type, found.score, found.reasons


def test_exact_match_when_the_candidate_lists_the_ean_as_written() -> None:
    decision = decide(NUTELLA, [item("B000NUTELA", identifiers=NUTELLA_IDS)])
    assert (decision.asin, decision.match_type, decision.accepted) == ("B000NUTELA", MatchType.EXACT, True)
    assert decision.confidence == 0.99
    assert "identifier proof: EAN 3017620422003" in decision.candidates[0].reasons
    assert "as written" in decision.reason


def test_exact_match_when_sp_api_returns_the_14_digit_padded_gtin() -> None:
    for code in (NUTELLA, COKE_UPC):
        padded = code.code.zfill(14)
        decision = decide(code, [item("B0PADDED01", identifiers={"GTIN": [padded]})])
        assert decision.match_type is MatchType.EXACT, code


def test_partial_match_for_a_upc_code_against_the_ean_form() -> None:
    decision = decide(COKE_UPC, [item("B0COKE0001", identifiers={"EAN": ["0036000291452"]})])
    assert decision.match_type is MatchType.PARTIAL
    assert 0.75 <= decision.confidence <= 0.9
    assert "EAN 0036000291452 equals the code after normalisation" in decision.candidates[0].reasons


def test_partial_match_for_an_ean_code_against_the_upc_form() -> None:
    decision = decide(COKE_EAN, [item("B0COKE0001", identifiers={"UPC": ["036000291452"]})])
    assert decision.match_type is MatchType.PARTIAL
    assert decision.asin == "B0COKE0001"


def test_partial_match_between_isbn10_and_isbn13_in_both_directions() -> None:
    from_10 = decide(BOOK_ISBN10, [item("0545162076", identifiers={"EAN": ["9780545162074"]})])
    from_13 = decide(BOOK_ISBN13, [item("0545162076", identifiers={"ISBN": ["0545162076"]})])
    assert from_10.match_type is MatchType.PARTIAL
    assert from_13.match_type is MatchType.PARTIAL
    as_written = decide(BOOK_ISBN10, [item("0545162076", identifiers={"ISBN": ["0-545-16207-6"]})])
    assert as_written.match_type is MatchType.EXACT


def test_near_miss_identifier_is_never_exact_and_not_matched_without_a_title() -> None:
    near = item("B0NEARMISS", identifiers={"EAN": ["3017620422010"]}, title="Nutella 400 g")
    decision = decide(NUTELLA, [near])
    assert (decision.asin, decision.match_type, decision.confidence) == (None, None, 0.0)
    assert not decision.accepted
    assert "no identifier agrees with the code" in decision.candidates[0].reasons
    assert "None of the 1 Amazon item carries EAN 3017620422003" in decision.reason


def test_fuzzy_match_needs_a_supplier_title_close_to_the_amazon_title() -> None:
    found = item("B0FUZZY001", identifiers={}, title="Nutella Pâte à tartiner aux noisettes 400 g")
    assert decide(NUTELLA, [found]).match_type is None
    close = decide(NUTELLA, [found], supplier_title="NUTELLA pate a tartiner noisettes 400G")
    assert close.match_type is MatchType.FUZZY
    assert 0.5 <= close.confidence <= 0.75
    far = decide(NUTELLA, [found], supplier_title="Confiture de fraises Bonne Maman 370 g")
    assert far.match_type is None


def test_single_unit_is_chosen_over_a_multipack_with_a_better_sales_rank() -> None:
    single = item("B0SINGLE01", identifiers=NUTELLA_IDS, sales_rank=5000)
    pack = item("B0PACK0006", identifiers=NUTELLA_IDS, sales_rank=12, title="Nutella Lot de 6")
    decision = decide(NUTELLA, [pack, single])
    assert (decision.asin, decision.match_type) == ("B0SINGLE01", MatchType.EXACT)
    assert decision.confidence == 0.99  # a multipack does not contest the unit
    assert by_asin(decision, "B0PACK0006")[0] is MatchType.PARTIAL
    assert "multipack x6 (title 'Lot de 6')" in by_asin(decision, "B0PACK0006")[2]
    assert "B0PACK0006" in decision.reason


def test_multipack_carrying_the_code_alone_is_partial_not_exact() -> None:
    pack = item("B0PACK0006", identifiers=NUTELLA_IDS, package_quantity=6)
    decision = decide(NUTELLA, [pack])
    assert (decision.match_type, decision.confidence) == (MatchType.PARTIAL, 0.85)
    assert decision.candidates[0].is_multipack and decision.candidates[0].pack_quantity == 6


def test_contested_exact_choice_lowers_the_confidence_and_says_why() -> None:
    first = item("B0AAAAAAAA", identifiers=NUTELLA_IDS, sales_rank=100)
    second = item("B0BBBBBBBB", identifiers=NUTELLA_IDS, sales_rank=900)
    decision = decide(NUTELLA, [second, first])
    assert decision.match_type is MatchType.EXACT
    assert 0.8 <= decision.confidence <= 0.9
    assert decision.confidence < decision.candidates[0].score
    assert "2 ASINs carry this code" in decision.reason


def test_buy_box_breaks_a_tie_between_exact_candidates() -> None:
    with_box = item("B0ZZZZZZZZ", identifiers=NUTELLA_IDS, sales_rank=900)
    without = item("B0AAAAAAAA", identifiers=NUTELLA_IDS, sales_rank=10, buy_box=False, price=None)
    decision = decide(NUTELLA, [without, with_box])
    assert decision.asin == "B0ZZZZZZZZ"
    assert decision.confidence == 0.88
    assert "buy box" in decision.reason
    assert "no offer" in by_asin(decision, "B0AAAAAAAA")[2]


def test_sales_rank_breaks_a_tie_when_offers_are_equal() -> None:
    better = item("B0ZZZZZZZZ", identifiers=NUTELLA_IDS, sales_rank=1234)
    worse = item("B0AAAAAAAA", identifiers=NUTELLA_IDS, sales_rank=99999)
    decision = decide(NUTELLA, [worse, better])
    assert (decision.asin, decision.confidence) == ("B0ZZZZZZZZ", 0.85)
    assert "sales rank 1 234" in decision.candidates[0].reasons


def test_asin_order_breaks_a_full_tie_with_the_lowest_confidence() -> None:
    twins = [item(asin, identifiers=NUTELLA_IDS) for asin in ("B0BBBBBBBB", "B0AAAAAAAA")]
    decision = decide(NUTELLA, twins)
    assert (decision.asin, decision.confidence) == ("B0AAAAAAAA", 0.8)


def test_no_offer_is_a_slight_penalty_but_still_an_exact_match() -> None:
    unpriced = item("B0NOOFFER1", identifiers=NUTELLA_IDS, buy_box=None, price=None)
    decision = decide(NUTELLA, [unpriced])
    assert (decision.match_type, decision.confidence, decision.accepted) == (MatchType.EXACT, 0.96, True)
    assert "no offer" in decision.candidates[0].reasons


def test_variation_child_is_preferred_over_its_parent() -> None:
    parent = item("B0PARENT01", identifiers=NUTELLA_IDS, item_classification="VARIATION_PARENT",
                  buy_box=None, price=None, sales_rank=1)
    child = item("B0CHILD001", identifiers={"GTIN": ["03017620422003"]}, parent_asin="B0PARENT01",
                 sales_rank=800)
    decision = decide(NUTELLA, [parent, child])
    assert (decision.asin, decision.match_type) == ("B0CHILD001", MatchType.EXACT)
    assert "variation parent" in by_asin(decision, "B0PARENT01")[2]


def test_variation_parent_alone_is_partial_with_low_confidence() -> None:
    parent = item("B0PARENT01", identifiers=NUTELLA_IDS, item_classification="VARIATION_PARENT")
    decision = decide(NUTELLA, [parent])
    assert (decision.match_type, decision.confidence) == (MatchType.PARTIAL, 0.75)
    assert "variation parent" in decision.reason


def test_below_the_threshold_the_best_asin_is_reported_but_not_accepted() -> None:
    decision = decide(COKE_UPC, [item("B0COKE0001", identifiers={"EAN": ["0036000291452"]})], threshold=0.95)
    assert (decision.asin, decision.match_type, decision.accepted) == ("B0COKE0001", MatchType.PARTIAL, False)
    assert "below the threshold 0.95" in decision.reason


def test_no_candidates_gives_no_match_with_a_reason() -> None:
    decision = decide(NUTELLA, [])
    reason = "Amazon returned no item for EAN 3017620422003."
    assert decision == MatchDecision(None, None, 0.0, False, (), reason)


@pytest.mark.parametrize(
    ("title", "quantity"),
    [
        ("Nutella Lot de 6", 6),
        ("Nutella lot de 6 x 400g", 6),
        ("Bière blonde (Pack de 4)", 4),
        ("Paquet de 12 biscuits", 12),
        ("Carton de 24 bouteilles", 24),
        ("Eau minérale 6 x 33 cl", 6),
        ("Evian 6x1,5L", 6),
        ("Nutella 400 g", None),
        ("Nutella x 400g", None),
        ("Puzzle 1000 pièces", None),
        ("Lot de 1", None),
        ("Cadre photo 30 x 40 cm", None),
        ("Coca-Cola Pack of 6", 6),
        ("Coca-Cola 12-Pack", 12),
        ("Glass tumblers, Set of 3", 3),
        ("Energy drink x6", 6),
        ("Jeep 4x4 model", None),
        ("Mazda MX5 keyring", None),
        ("Haribo Goldbären 6er Pack", 6),
        ("Haribo Goldbären 6er", 6),
        ("Club-Mate 20er-Packung", 20),
        ("Haribo Goldbären 10 x 200 g", 10),
        ("Tempo Taschentücher 500 Stück", None),
    ],
)
def test_pack_quantity_from_title_in_french_english_and_german(title: str, quantity: int | None) -> None:
    assert pack_quantity_from_title(title) == quantity


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("036000291452", "0036000291452", True),
        ("036000291452", "00036000291452", True),
        ("0-545-16207-6", "978-0-545-16207-4", True),
        ("080442957X", "9780804429573", True),
        ("0545162077", "9780545162074", False),  # bad ISBN-10 check digit: not converted
        ("3017620422003", "3017620422010", False),
        ("", "", False),
    ],
)
def test_same_gtin_compares_as_gtin14(a: str, b: str, same: bool) -> None:
    assert same_gtin(a, b) is same


CODES = [NUTELLA, COKE_UPC, COKE_EAN, BOOK_ISBN10, BOOK_ISBN13]
IDENTIFIER_VALUES = ["3017620422003", "03017620422003", "3017620422010", "036000291452", "0036000291452",
                     "00036000291452", "0545162076", "9780545162074", "4006381333931"]
candidates_strategy = st.builds(
    item,
    st.sampled_from(["B0AAAAAAAA", "B0BBBBBBBB", "B0CCCCCCCC", "0545162076"]),
    identifiers=st.dictionaries(st.sampled_from(["EAN", "UPC", "GTIN", "ISBN"]),
                                st.lists(st.sampled_from(IDENTIFIER_VALUES), max_size=2), max_size=2),
    title=st.sampled_from([None, "Nutella 400 g", "Nutella Lot de 6", "Coca-Cola 6 x 33 cl", "Harry Potter"]),
    package_quantity=st.sampled_from([None, 1, 6]),
    buy_box=st.sampled_from([None, True, False]),
    price=st.sampled_from([None, Decimal("9.99")]),
    sales_rank=st.sampled_from([None, 1, 500]),
    item_classification=st.sampled_from([None, "BASE_PRODUCT", "VARIATION_PARENT", "PRODUCT_BUNDLE"]),
)


def has_written_proof(code: LookupCode, candidate: Candidate) -> bool:
    written = re.sub(r"[^0-9X]", "", code.code)
    values = [re.sub(r"[^0-9X]", "", v) for vs in candidate.identifiers.values() for v in vs]
    return any(v == written or (v == code.gtin and code.gtin == written.zfill(14)) for v in values)


@given(
    code=st.sampled_from(CODES),
    candidates=st.lists(candidates_strategy, max_size=5),
    supplier_title=st.sampled_from([None, "Nutella 400g", "Harry Potter"]),
    data=st.data(),
)
def test_exact_always_has_identifier_proof_and_order_does_not_matter(
    code: LookupCode, candidates: list[Candidate], supplier_title: str | None, data: st.DataObject
) -> None:
    decision = decide(code, candidates, supplier_title=supplier_title)
    for scored in decision.candidates:
        if scored.match_type is MatchType.EXACT:
            assert any(has_written_proof(code, c) for c in candidates if c.asin == scored.asin)
            assert not scored.is_multipack
    if decision.match_type is MatchType.EXACT:
        assert any(has_written_proof(code, c) for c in candidates if c.asin == decision.asin)
    assert 0.0 <= decision.confidence <= 1.0
    assert decision.accepted == (decision.asin is not None and decision.confidence >= 0.5)
    shuffled = data.draw(st.permutations(candidates))
    assert decide(code, shuffled, supplier_title=supplier_title) == decision


# --- the second look at a proven match (issue 12) -------------------------------------------------------

def test_a_proven_match_whose_title_and_price_disagree_keeps_its_type_but_asks_for_a_check() -> None:
    found = item("B000NUTELA", identifiers=NUTELLA_IDS, title="Nutella pâte à tartiner 400 g",
                 price=Decimal("5.99"))
    decision = decide(NUTELLA, [found], supplier_title="Tournevis cruciforme PH2 acier",
                      supplier_price=Decimal("1.00"))
    assert (decision.match_type, decision.accepted) == (MatchType.EXACT, True)
    assert decision.review == ("title", "price")
    assert decision.confidence == round(0.99 * 0.85 * 0.85, 2)
    assert re.search(r"title similarity 0\.\d\d, price \+499 %: check\.$", decision.reason), decision.reason


def test_a_close_title_and_a_usual_retail_margin_raise_no_flag() -> None:
    found = item("B000NUTELA", identifiers=NUTELLA_IDS, title="Nutella Pâte à Tartiner aux Noisettes 400g",
                 price=Decimal("5.99"))
    decision = decide(NUTELLA, [found], supplier_title="NUTELLA 400G", supplier_price=Decimal("2.40"))
    assert decision.review == () and decision.confidence == 0.99 and "check" not in decision.reason


@pytest.mark.parametrize(("supplier", "amazon", "flagged"), [
    ("1.00", "4.00", False), ("1.00", "4.01", True), ("10.00", "2.50", False), ("10.00", "2.49", True),
])
def test_the_price_flag_starts_past_a_factor_of_four(supplier: str, amazon: str, flagged: bool) -> None:
    found = item("B000NUTELA", identifiers=NUTELLA_IDS, price=Decimal(amazon))
    decision = decide(NUTELLA, [found], supplier_price=Decimal(supplier))
    assert ("price" in decision.review) is flagged


def test_a_supplier_asin_that_differs_is_flagged_and_one_that_agrees_is_not() -> None:
    found = item("B000NUTELA", identifiers=NUTELLA_IDS)
    differs = decide(NUTELLA, [found], supplier_asin=" b0cx23v2zk ")
    assert differs.review == ("supplier_asin",)
    assert differs.reason.endswith("supplier ASIN B0CX23V2ZK differs: check.")
    assert decide(NUTELLA, [found], supplier_asin="B000NUTELA").review == ()


def test_a_title_based_match_is_not_flagged_for_its_title() -> None:
    found = item("B0FUZZY001", identifiers={"EAN": ["4006381333931"]}, title="Stabilo Boss Original jaune")
    decision = decide(NUTELLA, [found], supplier_title="Stabilo Boss Original jaune fluo")
    assert decision.match_type is MatchType.FUZZY and decision.review == ()
