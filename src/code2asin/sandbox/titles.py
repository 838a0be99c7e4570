"""The sandbox's title-search catalogue: items found by their words, not by the supplier's barcode.

Families (``sandbox.title_families``) become items: each size sold as a single unit (one size of some
families only in packs), one or two multipacks, and a rival brand's same product in one size, with
Amazon-style French titles in varied formats. Their ASINs live in a reserved range no generated item
uses (``TITLE_ASIN_BASE``: above the variation parents, below the end of the 8-character space), so
``catalogue.sandbox_item`` resolves them on every marketplace, and their EANs (about half have one) are
codes the generated catalogue does not know, found through ``items_for_gtin``.

``search_titles`` is the keyword search the three APIs answer with: normalised word overlap (case,
accents and punctuation ignored, ``400g`` == ``400 g``, ``6x400g`` == ``6 x 400 g``, a truncated word
matches the word it starts), an optional brand filter, best first. Nothing is stored or drawn at random:
a fresh process answers the same. The labelled supplier rows to test a matcher with are in
``sandbox.title_cases``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from code2asin.sandbox.categories import code_category
from code2asin.sandbox.encoding import decode_asin, encode_asin, gs1_check_digit, stable_hash, to_gtin14
from code2asin.sandbox.items import SandboxItem, _image_ids
from code2asin.sandbox.listings import REFERENCE_MARKETPLACE, marketplace_code
from code2asin.sandbox.title_families import FAMILIES, MEASURE_UNITS, Family

_h = stable_hash

#: first ASIN value of title items: variation parents use 28 * 10**11 .. 28 * 10**11 + 10**10, and the
#: encodable space ends at 36**8 (about 2.821 * 10**12)
TITLE_ASIN_BASE = 2_810_000_000_000
_SLOTS_PER_FAMILY = 10
#: how many ranked items ``search_titles`` returns at most (the APIs page through fewer)
MAX_RESULTS = 100
_STOPWORDS = frozenset(
    {
        "a",
        "au",
        "aux",
        "avec",
        "d",
        "de",
        "des",
        "du",
        "en",
        "et",
        "l",
        "la",
        "le",
        "les",
        "lot",
        "pack",
        "pour",
        "un",
        "une",
        "x",
        "n",
    }
)


@dataclass(frozen=True, slots=True)
class Offer:
    """What one title item is: ``count`` packs of ``size`` of ``family`` by ``brand``."""

    family: Family
    brand: str
    size: float
    count: int
    kind: str  # single | multipack | rival


# --- sizes and prices -------------------------------------------------------------------------------------


def number(value: float, sep: str = ",") -> str:
    """``400``, ``1,5``: a size as French labels write it."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}".replace(".", sep)


def size_label(family: Family, size: float, compact: bool = False) -> str:
    """``400 g``, ``1,5 L``, ``32 couches``; ``compact``: ``400g``."""
    unit = family.unit
    if unit not in MEASURE_UNITS:
        return f"{number(size)} {unit}"
    shown = "L" if unit == "l" else unit
    return f"{number(size)}{'' if compact else ' '}{shown}"


def unit_price(family: Family, size: float) -> float:
    """The euro price of one unit of ``size``: bigger sizes cost more, a little less per gram."""
    return float(family.price * (size / family.sizes[0]) ** 0.85)


def offer_price(offer: Offer) -> float:
    """A pack of 6 costs about 5.5 times the unit; a rival's price is within 15 % of the brand's."""
    base = unit_price(offer.family, offer.size)
    if offer.kind == "rival":
        base *= 0.85 + (_h("rival-price", offer.family.key) % 31) / 100
    return round(base * offer.count * (0.92 if offer.count > 1 else 1.0), 2)


# --- the items of a family ------------------------------------------------------------------------------


def pack_only_size(family: Family) -> float | None:
    """The size a third of the families sell only in multipacks (no single unit of it)."""
    if _h("pack-only", family.key) % 3:
        return None
    return family.sizes[_h("pack-only-size", family.key) % len(family.sizes)]


def multipacks(family: Family) -> tuple[tuple[float, int], ...]:
    """One or two ``(size, count)`` multipacks of the brand; the pack-only size always has one."""
    sizes, packs = family.sizes, family.packs
    first_size = pack_only_size(family) or sizes[_h("mp-size", family.key) % len(sizes)]
    out = [(first_size, packs[_h("mp-count", family.key) % len(packs)])]
    if _h("mp-second", family.key) % 2:
        second = sizes[(sizes.index(first_size) + 1) % len(sizes)]
        out.append((second, packs[(_h("mp-count2", family.key) + 1) % len(packs)]))
    return tuple(dict.fromkeys(out))


def rival_size(family: Family) -> float:
    return family.sizes[_h("rival-size", family.key) % len(family.sizes)]


def family_offers(family: Family) -> tuple[Offer, ...]:
    only_packs = pack_only_size(family)
    singles = [Offer(family, family.brand, s, 1, "single") for s in family.sizes if s != only_packs]
    packs = [Offer(family, family.brand, s, n, "multipack") for s, n in multipacks(family)]
    return (*singles, *packs, Offer(family, family.rival, rival_size(family), 1, "rival"))


_SINGLE_FORMATS = (
    "{brand} {words}, {size}",
    "{BRAND} - {Words} - {csize}",
    "{words} {brand} {size}",
    "{brand} - {words} ({size})",
    "{brand} {words} {csize}",
)
_PACK_FORMATS = (
    "{brand} {words} - Lot de {n} x {size}",
    "{BRAND} - {Words} - Lot de {n} x {csize}",
    "{brand} {words}, {size} (Pack de {n})",
    "{brand} {words} {size} x{n}",
    "{words} {brand} - {n} x {size}",
)


def _title_case(text: str) -> str:
    small = {"à", "au", "aux", "de", "des", "du", "en", "et", "la", "le", "les", "pour"}
    return " ".join(w if w in small else w[:1].upper() + w[1:] for w in text.split(" "))


def amazon_title(offer: Offer, slot: int) -> str:
    """The item's title in one of a few formats Amazon sellers use."""
    formats = _PACK_FORMATS if offer.count > 1 else _SINGLE_FORMATS
    template = formats[_h("title-format", offer.family.key, slot) % len(formats)]
    text = offer.family.words
    return template.format(
        brand=offer.brand,
        BRAND=offer.brand.upper(),
        words=text,
        Words=_title_case(text),
        size=size_label(offer.family, offer.size),
        csize=size_label(offer.family, offer.size, compact=True),
        n=offer.count,
    )


def _spare_ean(*key: object) -> str:
    """A valid EAN-13 (French GS1 prefix) that the generated catalogue does not know."""
    for k in range(1000):
        data = f"3{_h('title-ean', *key, k) % 10**11:011d}"
        ean = data + gs1_check_digit(data)
        if code_category(ean) == "unknown":
            return ean
    raise AssertionError("no spare EAN found")  # pragma: no cover


def title_asin(family_index: int, slot: int) -> str:
    """The ASIN of offer ``slot`` (its place in ``family_offers``) of family ``family_index``."""
    return encode_asin(TITLE_ASIN_BASE + family_index * _SLOTS_PER_FAMILY + slot)


def _item(family_index: int, slot: int, offer: Offer) -> SandboxItem:
    asin = title_asin(family_index, slot)
    key = offer.family.key
    ean = _spare_ean(key, slot) if _h("has-ean", key, slot) % 2 == 0 else None
    in_column = offer.count > 1 and _h("pq", key, slot) % 2 == 0  # else the count is only in the title
    return SandboxItem(
        asin=asin,
        gtin=(to_gtin14(ean) if ean else None) or "0" * 14,
        role="title",
        title=amazon_title(offer, slot),
        brand=offer.brand,
        department=offer.family.department,
        eans=(ean,) if ean else (),
        base_price_eur=offer_price(offer),
        buy_box=_h("buy-box", key, slot) % 5 != 0,
        availability=("IN_STOCK", "IN_STOCK", "IN_STOCK", "IN_STOCK_SCARCE")[_h("avail", key, slot) % 4],
        image_ids=_image_ids(asin, 1 + _h("nimg", key, slot) % 5),
        sales_rank=1 + int(200_000 ** ((_h("rank", key, slot) % 10_000) / 10_000)),
        package_quantity=offer.count if in_column else 1,
    )


@lru_cache(maxsize=1)
def _catalogue() -> tuple[tuple[SandboxItem, Offer], ...]:
    out: list[tuple[SandboxItem, Offer]] = []
    for index, family in enumerate(FAMILIES):
        for slot, offer in enumerate(family_offers(family)):
            out.append((_item(index, slot, offer), offer))
    return tuple(out)


def title_items() -> tuple[SandboxItem, ...]:
    """Every item of the title-search catalogue (the same on every marketplace)."""
    return tuple(item for item, _ in _catalogue())


@lru_cache(maxsize=1)
def _by_asin() -> dict[str, tuple[SandboxItem, Offer]]:
    return {item.asin: (item, offer) for item, offer in _catalogue()}


def title_item(asin: str) -> SandboxItem | None:
    """The title item of ``asin``, or None when the ASIN is not in the reserved title range."""
    value = decode_asin(asin.strip().upper())
    if value is None or value < TITLE_ASIN_BASE:
        return None
    found = _by_asin().get(asin.strip().upper())
    return found[0] if found else None


def offer_of(asin: str) -> Offer | None:
    """What a title item is (its family, brand, size, count), for tests and docs."""
    found = _by_asin().get(asin.strip().upper())
    return found[1] if found else None


@lru_cache(maxsize=1)
def _by_gtin() -> dict[str, tuple[SandboxItem, ...]]:
    out: dict[str, list[SandboxItem]] = {}
    for item in title_items():
        for ean in item.eans:
            out.setdefault(ean.zfill(14), []).append(item)
    return {gtin: tuple(items) for gtin, items in out.items()}


def items_for_gtin(gtin14: str) -> tuple[SandboxItem, ...]:
    """The title items carrying this GTIN-14 (their own EAN, never a supplier's code)."""
    return _by_gtin().get(gtin14, ())


# --- keyword search -------------------------------------------------------------------------------------

_PACK_RE = re.compile(r"(\d)\s*[x×*]\s*(\d)")
_UNIT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(kg|gr|g|ml|cl|l)\b")
_COUNT_RE = re.compile(r"(?<![a-z0-9])x(\d)")
_SPLIT_RE = re.compile(r"[^a-z0-9.]+")


def normalise(text: str) -> list[str]:
    """Search tokens of ``text``: lower case, no accents, ``1,5 L`` -> ``1.5l``, ``6X400G`` -> ``6 400g``."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    plain = re.sub(r"(\d),(\d)", r"\1.\2", plain)
    plain = _PACK_RE.sub(r"\1 x \2", _PACK_RE.sub(r"\1 x \2", plain))
    plain = _COUNT_RE.sub(r" \1", plain)  # "x12" -> "12"
    plain = _UNIT_RE.sub(lambda m: m.group(1) + ("g" if m.group(2) == "gr" else m.group(2)), plain)
    tokens = (t.strip(".") for t in _SPLIT_RE.split(plain))
    return [t for t in tokens if t and t not in _STOPWORDS]


def _is_word(token: str) -> bool:
    """A word that can make a hit on its own (not a bare number or size like ``400g``)."""
    return sum(c.isalpha() for c in token) >= 2 and not _UNIT_RE.fullmatch(token)


@lru_cache(maxsize=1)
def _index() -> tuple[tuple[SandboxItem, frozenset[str], str], ...]:
    return tuple(
        (item, frozenset(normalise(f"{item.brand} {item.title}")), " ".join(normalise(item.brand)))
        for item in title_items()
    )


def _score(query: list[str], tokens: frozenset[str]) -> float:
    score, words = 0.0, 0
    for q in query:
        weight = 2.0 if _is_word(q) else 1.0
        if q in tokens:
            score += weight
            words += _is_word(q)
        elif _is_word(q) and len(q) >= 4 and any(len(t) >= 4 and t.startswith(q) for t in tokens):
            score += 1.5
            words += 1
    return score if words else 0.0


def search_titles(
    words: str,
    brand: str | None = None,
    marketplace: str = REFERENCE_MARKETPLACE,
    *,
    limit: int = MAX_RESULTS,
) -> tuple[SandboxItem, ...]:
    """Items sharing a meaningful word with ``words``, best overlap first (then sales rank, ASIN).

    ``brand`` filters on the item's brand (normalised), as SP-API ``brandNames`` and Creators ``brand``
    do. Near misses (other sizes, packs, brands) come back like a real search engine's; nothing comes
    back when no word but stopwords or sizes is shared. Raises ``ValueError`` for an unknown marketplace.
    """
    marketplace_code(marketplace)  # the same titles are listed on every marketplace
    query = list(dict.fromkeys(normalise(words)))
    wanted = " ".join(normalise(brand)) if brand else None
    scored: list[tuple[float, int, str, SandboxItem]] = []
    for item, tokens, item_brand in _index():
        if wanted is not None and item_brand != wanted:
            continue
        score = _score(query, tokens)
        if score > 0:
            scored.append((-score, item.sales_rank or 0, item.asin, item))
    scored.sort(key=lambda entry: entry[:3])
    return tuple(entry[3] for entry in scored[:limit])


def is_title_query(keywords: str) -> bool:
    """Whether ``keywords`` are words to search titles with rather than a barcode."""
    compact = keywords.strip().replace("-", "").replace(" ", "")
    return not (compact.isdigit() or to_gtin14(compact) is not None)
