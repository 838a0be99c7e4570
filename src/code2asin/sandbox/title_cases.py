"""Labelled supplier rows for the title + brand search fallback: what a matcher should answer for each.

Each ``TitleCase`` is a supplier row whose barcode Amazon does not find (a valid EAN-13 the sandbox's
identifier and keyword searches both miss), with the supplier's own wording of the product, written
independently of Amazon's title: upper case, abbreviations, words reordered or dropped, ``400G``,
``6X400G``, ``LOT 6``; the brand in the brand column, in the title, or both; a wholesale price (Amazon's
price x 0.55-0.95) on most rows. ``expected_asin`` is the title item it designates, or None for a trap:

* ``match``: the item exists, among near misses of other sizes, packs and brands;
* ``pack_match``: the supplier wants a multipack that exists;
* ``other_size``: the brand sells the product, not in that size;
* ``other_pack``: the wanted pack is not sold (a single unit only sold in packs, or a pack count that
  does not exist);
* ``other_brand``: only other brands sell that product;
* ``absent``: nobody sells that kind of product.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from code2asin.sandbox.categories import code_category
from code2asin.sandbox.encoding import gs1_check_digit, stable_hash
from code2asin.sandbox.title_families import ABSENT, FAMILIES, MEASURE_UNITS, Family
from code2asin.sandbox.titles import (
    Offer,
    family_offers,
    items_for_gtin,
    multipacks,
    number,
    offer_price,
    pack_only_size,
    title_asin,
    title_items,
)

_h = stable_hash

TRAPS = ("match", "pack_match", "other_size", "other_pack", "other_brand", "absent")
#: rows (per mille) whose supplier file has no price
NO_PRICE_PER_MILLE = 150


@dataclass(frozen=True, slots=True)
class TitleCase:
    """One supplier row: its code (unknown to Amazon), words, brand, price, and the right answer."""

    code: str
    title: str
    brand: str | None
    price: Decimal | None
    expected_asin: str | None
    trap: str


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _supplier_words(family: Family, key: tuple[object, ...]) -> str:
    """The product words as a supplier types them: no parentheses, some words cut or dropped."""
    words = [w for w in family.words.split(" ") if not w.startswith("(") and not w.endswith(")")]
    out: list[str] = []
    for position, word in enumerate(words):
        roll = _h("sw", *key, position) % 12
        if position > 0 and roll == 0 and len(words) > 3:
            continue  # dropped
        cut = len(word) > 6 and roll in (1, 2, 3)
        out.append(word[: 4 + roll % 2] if cut else word)  # "noisettes" -> "nois", "tartiner" -> "tart"
    return " ".join(out)


def _supplier_size(family: Family, size: float, count: int, key: tuple[object, ...]) -> str:
    unit = family.unit.upper() if family.unit in MEASURE_UNITS else f" {family.unit.upper()}"
    style = _h("ss", *key) % 4
    one = f"{number(size, '.' if style % 2 else ',')}{unit}"
    if count == 1:
        return one if style else one.replace(unit, f" {unit.strip()}")
    return (f"{count}X{one}", f"LOT {count} x {one}", f"PACK {count} {one}", f"{one} x{count}")[style]


_TEMPLATES = (
    "{BRAND} {WORDS} {size}",
    "{words} {brand} {size}",
    "{WORDS} {size} {BRAND}",
    "{brand} - {words} - {size}",
    "{WORDS} {BRAND} {size}",
)


def supplier_row(family: Family, brand: str, size: float, count: int, *key: object) -> tuple[str, str | None]:
    """``(title, brand column)``: the brand is always somewhere, in the title, the column or both."""
    words = _supplier_words(family, key)
    where = _h("brand-where", *key) % 3  # 0: title only, 1: column only, 2: both
    template = _TEMPLATES[_h("template", *key) % len(_TEMPLATES)]
    if where == 1:
        template = template.replace("{BRAND}", "").replace("{brand}", "").replace(" -  - ", " - ")
    title = template.format(
        BRAND=_plain(brand).upper(),
        brand=brand,
        WORDS=_plain(words).upper(),
        words=words.lower(),
        size=_supplier_size(family, size, count, key),
    )
    return " ".join(title.split()).strip(" -"), (None if where == 0 else brand)


def _supplier_price(amazon_price: float, *key: object) -> Decimal | None:
    if _h("no-price", *key) % 1000 < NO_PRICE_PER_MILLE:
        return None
    factor = 0.55 + (_h("wholesale", *key) % 41) / 100
    return Decimal(str(round(amazon_price * factor, 2))).quantize(Decimal("0.01"))


@lru_cache(maxsize=1)
def _taken_codes() -> frozenset[str]:
    return frozenset(ean for item in title_items() for ean in item.eans)


def supplier_code(*key: object) -> str:
    """A valid EAN-13 (French prefix) neither the generated catalogue nor any title item carries."""
    for k in range(1000):
        data = f"3{_h('supplier-code', *key, k) % 10**11:011d}"
        ean = data + gs1_check_digit(data)
        if (
            code_category(ean) == "unknown"
            and ean not in _taken_codes()
            and not items_for_gtin(ean.zfill(14))
        ):
            return ean
    raise AssertionError("no supplier code found")  # pragma: no cover


def _case(
    family: Family, brand: str, size: float, count: int, asin: str | None, trap: str, variant: int
) -> tuple[TitleCase, Offer]:
    """The row and what it asks for (``Offer``: family, brand, size, count)."""
    key = (family.key, brand, size, count, trap, variant)
    title, column = supplier_row(family, brand, size, count, *key)
    wanted = Offer(family, brand, size, count, "single" if count == 1 else "multipack")
    row = TitleCase(
        supplier_code(*key), title, column, _supplier_price(offer_price(wanted), *key), asin, trap
    )
    return row, wanted


#: sizes shelves carry: a size nobody sells is still one a supplier could list
_SHELF_SIZES = (
    0.25,
    0.33,
    0.5,
    0.75,
    1,
    1.25,
    1.5,
    2,
    2.5,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    15,
    20,
    24,
    25,
    30,
    33,
    36,
    40,
    48,
    50,
    60,
    70,
    75,
    80,
    100,
    120,
    125,
    144,
    150,
    200,
    250,
    300,
    330,
    400,
    500,
    600,
    750,
    800,
    1000,
    1200,
    1500,
    2000,
    2500,
    3000,
)


def _unsold_sizes(family: Family) -> list[float]:
    """One smaller and one bigger shelf size the brand does not sell (whole counts for pieces)."""
    pieces = family.unit not in MEASURE_UNITS
    out: list[float] = []
    for target in (family.sizes[0] / 2, family.sizes[-1] * 1.5):
        size = min(_SHELF_SIZES, key=lambda v: abs(v - target))
        if size not in family.sizes and not (pieces and (size < 2 or not float(size).is_integer())):
            out.append(size)
    return list(dict.fromkeys(out))


def _family_cases(index: int, family: Family) -> list[tuple[TitleCase, Offer]]:
    out: list[tuple[TitleCase, Offer]] = []
    for slot, offer in enumerate(family_offers(family)):
        if offer.kind == "rival":
            continue
        trap = "match" if offer.count == 1 else "pack_match"
        asin = title_asin(index, slot)
        out.append(_case(family, offer.brand, offer.size, offer.count, asin, trap, 0))
        if _h("second-variant", family.key, offer.size, offer.count) % 4:
            out.append(_case(family, offer.brand, offer.size, offer.count, asin, trap, 1))
    for size in _unsold_sizes(family):
        out.append(_case(family, family.brand, size, 1, None, "other_size", 0))
    only_packs = pack_only_size(family)
    if only_packs is not None:
        out.append(_case(family, family.brand, only_packs, 1, None, "other_pack", 0))
    sold_packs = set(multipacks(family))
    size = family.sizes[_h("missing-pack", family.key) % len(family.sizes)]
    count = next(n for n in (*family.packs, 10, 20) if (size, n) not in sold_packs)
    out.append(_case(family, family.brand, size, count, None, "other_pack", 1))
    out.append(_case(family, family.ghost, family.sizes[0], 1, None, "other_brand", 0))
    if _h("ghost-second", family.key) % 2:
        out.append(_case(family, family.ghost, family.sizes[-1], 1, None, "other_brand", 1))
    return out


@lru_cache(maxsize=1)
def _labelled() -> tuple[tuple[TitleCase, Offer], ...]:
    out: list[tuple[TitleCase, Offer]] = []
    for index, family in enumerate(FAMILIES):
        out.extend(_family_cases(index, family))
    for family in ABSENT:
        for variant, size in enumerate(family.sizes):
            out.append(_case(family, family.brand, size, 1, None, "absent", variant))
            out.append(_case(family, family.ghost, size, 1, None, "absent", variant + 10))
    return tuple(out)


def title_cases() -> tuple[TitleCase, ...]:
    """The labelled supplier rows, the same in every process (see the module docstring)."""
    return tuple(case for case, _ in _labelled())


def wanted_offer(code: str) -> Offer | None:
    """What the row of ``code`` asks for (family, brand, size, pack count), whether sold or not."""
    return next((wanted for case, wanted in _labelled() if case.code == code), None)


def _sample() -> tuple[TitleCase, ...]:
    cases = title_cases()
    return tuple(c for trap in TRAPS for c in [x for x in cases if x.trap == trap][:2])


#: a dozen cases, two per trap, for documentation
SAMPLE: tuple[TitleCase, ...] = _sample()
