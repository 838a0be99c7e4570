"""Title and brand matching for codes not found by barcode: each trap of a title search is ruled out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from code2asin.providers.base import Candidate
from code2asin.title_match import DEFAULT_THRESHOLD, MAX_SCORE, decide_by_title, title_facts


def item(
    asin: str, title: str, brand: str | None, price: str | None = None, quantity: int | None = None
) -> Candidate:
    return Candidate(
        asin=asin,
        source="creators",
        title=title,
        brand=brand,
        price=Decimal(price) if price else None,
        package_quantity=quantity,
    )


SPREAD_400 = item("B0TM000001", "Norvella Pâte à tartiner noisettes cacao, 400 g", "Norvella", "3.49")
SPREAD_750 = item("B0TM000002", "Norvella Pâte à tartiner noisettes cacao, 750 g", "Norvella", "5.99")
SPREAD_6 = item(
    "B0TM000003", "NORVELLA - Pâte à Tartiner aux Noisettes - Lot de 6 x 400g", "Norvella", "19.90"
)
RIVAL_400 = item("B0TM000004", "Rivalo Pâte à tartiner noisettes, 400 g", "Rivalo", "2.99")
FAMILY = [SPREAD_400, SPREAD_750, SPREAD_6, RIVAL_400]


def test_supplier_shorthand_is_read_for_sizes_and_packs() -> None:
    facts = title_facts("NORVELLA PATE TARTINER NOISETTE 6X400G", supplier=True)
    assert facts.pack == 6
    assert [(s.dimension, s.amount) for s in facts.sizes] == [("g", 400.0)]
    assert title_facts("LOT 6 BIERE 33CL", supplier=True).pack == 6
    assert title_facts("LOT 6 BIERE 33CL").pack is None  # Amazon titles do not use the shorthand
    oil = title_facts("Huile d'olive vierge extra 0,75 L")
    assert [(s.dimension, s.amount) for s in oil.sizes] == [("ml", 750.0)]
    assert [(s.dimension, s.amount) for s in title_facts("Couches taille 4, 32 couches").sizes] == [
        ("pcs", 32.0)
    ]


def test_the_right_size_wins_among_near_misses_and_is_always_fuzzy_below_identifier_scores() -> None:
    decision = decide_by_title(
        FAMILY,
        supplier_title="PATE A TART. NOISET. 400G",
        supplier_brand="NORVELLA",
        supplier_price=Decimal("2.10"),
    )
    assert decision.asin == SPREAD_400.asin and decision.accepted
    assert DEFAULT_THRESHOLD <= decision.confidence <= MAX_SCORE
    ruled = {c.asin: c.ruled_out for c in decision.candidates}
    assert ruled == {
        SPREAD_400.asin: None,
        SPREAD_750.asin: "another size",
        SPREAD_6.asin: "another pack count",
        RIVAL_400.asin: "another brand",
    }
    assert "brand Norvella agrees" in decision.reason and "size 400g = 400 g" in decision.reason
    assert "a title match is never proof: check it" in decision.reason


@pytest.mark.parametrize(
    ("title", "brand", "why"),
    [
        ("Pate a tartiner noisettes 1kg", "Norvella", "another size"),  # no 1 kg jar is sold
        ("KREMO pate tartiner noisettes 400g", "Kremo", "another brand"),
        ("NORVELLA PATE TARTINER NOISETTE LOT 12 X 400G", None, "another pack count"),
    ],
)
def test_a_trap_without_the_right_product_is_not_matched(title: str, brand: str | None, why: str) -> None:
    decision = decide_by_title(FAMILY, supplier_title=title, supplier_brand=brand)
    assert decision.asin is None and not decision.accepted and decision.confidence == 0.0
    assert why in decision.reason and "none of them this product" in decision.reason


def test_the_multipack_is_found_when_the_supplier_sells_the_multipack() -> None:
    decision = decide_by_title(
        FAMILY, supplier_title="NORVELLA PATE A TARTINER NOISETTES 6X400G", supplier_price=Decimal("12.00")
    )
    assert decision.asin == SPREAD_6.asin and decision.accepted


def test_a_brand_only_in_the_supplier_title_still_separates_rival_brands() -> None:
    rival = decide_by_title([RIVAL_400], supplier_title="NORVELLA pate a tartiner noisettes 400g")
    assert not rival.accepted  # the supplier's word "norvella" is not in Rivalo's title
    own = decide_by_title([SPREAD_400], supplier_title="NORVELLA pate a tartiner noisettes cacao 400g")
    assert own.accepted and "brand Norvella agrees" in own.reason


def test_a_price_far_from_the_suppliers_rules_a_candidate_out() -> None:
    decision = decide_by_title(
        [SPREAD_400],
        supplier_title="Norvella pate a tartiner noisettes cacao 400 g",
        supplier_brand="Norvella",
        supplier_price=Decimal("0.50"),
    )
    assert decision.asin is None and "price more than 4 times apart" in decision.reason


def test_without_brand_or_size_a_close_title_is_reported_not_accepted() -> None:
    decision = decide_by_title(FAMILY, supplier_title="pate a tartiner noisettes")
    assert decision.asin is not None and not decision.accepted
    assert "below the title threshold" in decision.reason


def test_two_alike_candidates_lower_the_confidence_and_a_rejected_asin_is_never_chosen() -> None:
    twin = item("B0TM000009", "Norvella pâte à tartiner noisettes cacao 400 g", "Norvella", "3.59")
    alike = decide_by_title(
        [SPREAD_400, twin],
        supplier_title="Norvella pâte à tartiner noisettes cacao 400 g",
        supplier_brand="Norvella",
    )
    assert "scores almost as well" in alike.reason
    assert alike.confidence < max(c.score for c in alike.candidates)
    rejected = decide_by_title(
        [SPREAD_400, twin],
        supplier_title="Norvella pâte à tartiner noisettes cacao 400 g",
        supplier_brand="Norvella",
        rejected={twin.asin},
    )
    assert rejected.asin == SPREAD_400.asin
    assert (
        next(c for c in rejected.candidates if c.asin == twin.asin).ruled_out
        == "rejected by a person for this code"
    )


def test_the_choice_does_not_depend_on_the_order_of_the_answer() -> None:
    forward = decide_by_title(FAMILY, supplier_title="Norvella pate tartiner noisettes 750g")
    backward = decide_by_title(list(reversed(FAMILY)), supplier_title="Norvella pate tartiner noisettes 750g")
    assert forward == backward and forward.asin == SPREAD_750.asin


def test_an_empty_search_says_so() -> None:
    decision = decide_by_title([], supplier_title="Lampe torche LED", supplier_brand="Lumo")
    assert decision.reason == "The title search for 'Lampe torche LED' (brand Lumo) found no item."
