"""The sandbox's Amazon catalogue as the simulated APIs query it, per marketplace (FR the reference).

Identifier search, keyword search, ASIN look-up and customer ratings over the generated catalogue
(``sandbox.categories``, ``sandbox.items``, ``sandbox.listings``): nothing is stored, so a fresh process
answers the same. Example codes to query it with are in ``sandbox.sample_codes``.
"""

from __future__ import annotations

from functools import lru_cache

from code2asin.sandbox import titles
from code2asin.sandbox.categories import (
    _N_LIMIT,
    _PARENT_BASE,
    KNOWN_CATEGORIES,
    _gtin_of_data,
    _has_multipack,
    _multipack_carries_single,
    _pack_base,
    code_category,
)
from code2asin.sandbox.encoding import (
    decode_asin,
    ean13_of,
    gs1_check_digit,
    isbn10_of,
    stable_hash,
    to_gtin14,
)
from code2asin.sandbox.items import SandboxItem, _book, _duplicate, _multipack, _parent, _primary
from code2asin.sandbox.listings import (
    LOCAL_ASIN,
    NOT_SOLD,
    REFERENCE_MARKETPLACE,
    SAME_ASIN,
    UNKNOWN,
    _listing,
    _local_item,
    _local_owner,
    _local_slot,
    _view,
    marketplace_code,
)
from code2asin.sandbox.marketplaces import Marketplace

_h = stable_hash


@lru_cache(maxsize=65_536)
def products_for_gtin(code: str, marketplace: str = REFERENCE_MARKETPLACE) -> tuple[SandboxItem, ...]:
    """Items whose identifiers carry this code (GTIN-normalised) on ``marketplace`` (a country code):
    what SP-API's identifier search returns."""
    country = marketplace_code(marketplace)
    gtin = to_gtin14(code)
    if gtin is None:
        return ()
    titled = titles.items_for_gtin(gtin)
    if titled:
        return titled  # the title-search catalogue's own EANs (every marketplace lists those items)
    category = code_category(gtin)
    if category == "pack_gtin14":
        base = _pack_base(gtin)
        return (_multipack(base),) if base else ()
    if category not in KNOWN_CATEGORIES:
        return ()
    primary = _view(_primary(gtin, category), country)
    items = [] if primary is None else [primary]
    if category == "several_asins":
        items.append(_duplicate(gtin))
    if _has_multipack(gtin) and _multipack_carries_single(gtin):
        items.append(_multipack(gtin))
    return tuple(items)


def search_keywords(keywords: str, marketplace: str = REFERENCE_MARKETPLACE) -> tuple[SandboxItem, ...]:
    """What Creators ``searchItems(keywords=...)`` returns on ``marketplace``: identifier hits plus
    keyword-only noise.

    A known code also brings its multipack (even one not carrying the code) and its variation parent.
    A ``near_miss`` code brings only items of similar codes (one digit off), none carrying the code.
    """
    country = marketplace_code(marketplace)
    gtin = to_gtin14(keywords)
    if gtin is None:
        return ()
    category = code_category(gtin)
    items = list(products_for_gtin(gtin, country))
    if category in KNOWN_CATEGORIES:
        if _has_multipack(gtin) and not _multipack_carries_single(gtin):
            items.append(_multipack(gtin))
        if category == "variation":
            parent = _parent(int(ean13_of(gtin)[:12]) // 100)
            if parent is not None:
                items.append(parent)
    elif category == "near_miss":
        for neighbour in near_miss_neighbours(gtin, country):
            item = _view(_primary(neighbour, code_category(neighbour)), country)
            if item is not None:
                items.append(item)
    return tuple(items)


def near_miss_neighbours(gtin: str, marketplace: str = REFERENCE_MARKETPLACE) -> list[str]:
    """1–3 known single codes sold on ``marketplace`` that differ from ``gtin`` in one data digit (with
    their own check digit)."""
    country = marketplace_code(marketplace)
    ean = ean13_of(gtin)
    wanted = 1 + _h("nm", gtin) % 3
    out: list[str] = []
    for k in range(200):
        pos = 3 + _h("nmpos", gtin, k) % 9
        digit = str(_h("nmdig", gtin, k) % 10)
        if ean[pos] == digit:
            continue
        data = ean[:pos] + digit + ean[pos + 1 : 12]
        candidate = "0" + data + gs1_check_digit(data)
        if (
            candidate not in out
            and code_category(candidate) in {"single", "no_images"}
            and _listing(candidate, country) != NOT_SOLD
        ):
            out.append(candidate)
            if len(out) == wanted:
                break
    return out


def sandbox_item(asin: str, marketplace: str = REFERENCE_MARKETPLACE) -> SandboxItem | None:
    """Resolve an ASIN handed out by the catalogue back to its item as ``marketplace`` lists it (works in
    a fresh process); None for an ASIN that marketplace does not know."""
    country = marketplace_code(marketplace)
    asin = asin.strip().upper()
    titled = titles.title_item(asin)
    if titled is not None:
        return titled  # the title-search catalogue: the same items on every marketplace
    if country != REFERENCE_MARKETPLACE:
        value = decode_asin(asin)
        owner = None if value is None else _local_owner(value)
        if owner is not None:  # a local listing's slot (no reference item uses it)
            gtin, slot = owner
            listed = _listing(gtin, country) == LOCAL_ASIN and _local_slot(gtin, country) == slot
            return _local_item(gtin, country) if listed else None
    item = _reference_item(asin)
    if item is None or (item.role == "primary" and _listing(item.gtin, country) != SAME_ASIN):
        return None  # not sold there, or sold there under its local ASIN only
    return item


def _reference_item(asin: str) -> SandboxItem | None:
    if len(asin) == 10 and asin[0].isdigit():
        gtin = to_gtin14(asin)
        return _book(gtin) if gtin is not None and code_category(gtin) == "book" else None
    value = decode_asin(asin)
    if value is None:
        return None
    if value >= _PARENT_BASE:
        family = value - _PARENT_BASE
        return _parent(family) if family < _N_LIMIT // 100 else None
    role_index, data = divmod(value, _N_LIMIT)
    gtin = _gtin_of_data(data)
    category = code_category(gtin)
    if role_index == 0:
        known = category in KNOWN_CATEGORIES and not (category == "book" and isbn10_of(gtin))
        return _primary(gtin, category) if known else None
    if role_index == 1:
        return _duplicate(gtin) if category == "several_asins" else None
    return _multipack(gtin) if _has_multipack(gtin) else None


def listing_kind(code: str, marketplace: str | Marketplace) -> str:
    """How ``code``'s product is listed on ``marketplace`` compared with the reference (FR).

    ``same_asin``, ``local_asin`` or ``not_sold``; ``unknown`` for a code no marketplace lists (invalid,
    unknown, near miss). Hard cases (several ASINs, multipacks, variations, books...) are ``same_asin``.
    """
    gtin = to_gtin14(code)
    if gtin is None or not products_for_gtin(gtin):
        return UNKNOWN
    return _listing(gtin, marketplace_code(marketplace))


def marketplace_asin(code: str, marketplace: str | Marketplace) -> str | None:
    """ASIN of the product ``code`` designates (its primary item) on ``marketplace``; None: none there."""
    items = products_for_gtin(code, marketplace_code(marketplace))
    return items[0].asin if items else None


# --- customer reviews (served by the Keepa simulation) --------------------------------------------------

#: share of items (per mille) that have no customer review at all
NO_REVIEWS_PER_MILLE = 80


def rating_for(asin: str, marketplace: str = REFERENCE_MARKETPLACE) -> tuple[float, int] | None:
    """Deterministic ``(star rating, review count)`` of an item, or ``None`` when it has no reviews (or
    ``marketplace`` does not know the ASIN).

    Ratings run from 3.0 to 4.9 stars in tenths (most items 4.0-4.7, like Amazon); review counts from 1 to
    about 60,000 on a log scale. Variation parents never carry reviews of their own here.
    """
    item = sandbox_item(asin, marketplace)
    if item is None or item.role == "parent" or _h("reviews", item.asin) % 1000 < NO_REVIEWS_PER_MILLE:
        return None
    spread = (_h("stars", item.asin) % 100 + _h("stars2", item.asin) % 100) / 200  # 0..1, centred
    stars = round(3.0 + 1.9 * spread**0.6, 1)
    count = int(60_000 ** ((_h("nreviews", item.asin) % 10_000) / 10_000))
    return min(stars, 4.9), max(1, count)

