"""A second look at a match an identifier proved: does the supplier's own data agree? Pure.

An identifier (EAN, UPC, ISBN) proves which item Amazon lists under a code, but catalogues hold mistakes:
a code reused for another product, a listing merged with another one, a multipack priced like a unit.
When the supplier's file says something that disagrees with the chosen item, the match keeps its type,
its confidence drops and its reason says what to check:

* ``title``: the supplier title and Amazon's share almost nothing (similarity below ``TITLE_FLOOR``,
  the same measure as fuzzy matching; a title-based match is never flagged for its title);
* ``price``: Amazon's price is more than ``PRICE_FACTOR`` times the supplier's, or less than its
  ``1 / PRICE_FACTOR`` (a wholesale price is usually a half to a third of the retail one);
* ``supplier_asin``: the supplier's own ASIN column names another ASIN.

Each flag multiplies the confidence by ``FLAG_FACTOR``; the clause reads, for example,
``title similarity 0.40, price +499 %: check``. Flagged rows are the "needs review" list.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

REVIEW_TITLE = "title"
REVIEW_PRICE = "price"
REVIEW_SUPPLIER_ASIN = "supplier_asin"
TITLE_FLOOR = 0.5
PRICE_FACTOR = 4.0
FLAG_FACTOR = 0.85


@dataclass(frozen=True, slots=True)
class Review:
    flags: tuple[str, ...] = ()
    clause: str | None = None

    @property
    def factor(self) -> float:
        return FLAG_FACTOR ** len(self.flags)


def price_difference_percent(
    amazon_price: Decimal | float | None, supplier_price: Decimal | float | None
) -> float | None:
    """(Amazon price - supplier price) / supplier price x 100, rounded to 2 decimals, when both are known."""
    if amazon_price is None or not supplier_price:
        return None
    return round(
        float(
            (Decimal(str(amazon_price)) - Decimal(str(supplier_price))) / Decimal(str(supplier_price)) * 100
        ),
        2,
    )


def review_match(
    *,
    asin: str,
    title_checked: bool,
    title_similarity: float | None,
    amazon_price: Decimal | None,
    supplier_price: Decimal | None,
    supplier_asin: str | None,
) -> Review:
    """The flags of a chosen ``asin`` and the clause that says why (see the module docstring).

    ``title_similarity`` is None when either title is missing; ``title_checked`` is False for a match the
    titles themselves made (fuzzy). ``supplier_asin`` is the supplier's normalised ASIN, if any.
    """
    flags: list[str] = []
    parts: list[str] = []
    if title_checked and title_similarity is not None and title_similarity < TITLE_FLOOR:
        flags.append(REVIEW_TITLE)
        parts.append(f"title similarity {title_similarity:.2f}")
    difference = price_difference_percent(amazon_price, supplier_price)
    if difference is not None and supplier_price is not None and supplier_price > 0:
        ratio = 1 + difference / 100
        if ratio > PRICE_FACTOR or ratio < 1 / PRICE_FACTOR:
            flags.append(REVIEW_PRICE)
            parts.append(f"price {difference:+.0f} %")
    if supplier_asin and supplier_asin != asin:
        flags.append(REVIEW_SUPPLIER_ASIN)
        parts.append(f"supplier ASIN {supplier_asin} differs")
    if not flags:
        return Review()
    return Review(tuple(flags), ", ".join(parts) + ": check")
