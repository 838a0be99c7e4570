"""The sandbox's deterministic, generated Amazon catalogue.

Nothing is stored: whether a barcode is known, which ASINs list it and what they look like are computed
from a SHA-256 of the GTIN-14, so every process (and every machine) sees the same catalogue. The space
is every valid EAN-8/UPC-A/EAN-13 code, about 85 % of which are known: far more than the 250,000 products
a demo needs (``generate_codes`` yields as many valid codes as wanted).

ASINs are reversible: ``"B0"`` + 8 base-36 characters encoding ``(role, EAN-13 data digits)`` through a
keyed 4-round Feistel permutation over 36**8, so ``sandbox_item(asin)`` works in a fresh process. Print
books with a 978 ISBN use the ISBN-10 as ASIN, like Amazon.

Hard cases (design section 5), each at a controlled rate over codes of the EAN-13 space and reachable
through ``example_codes()``: see ``CATEGORY_RATES``.

Marketplaces. FR is the reference: everything above describes amazon.fr. On every other marketplace an
*ordinary* product (category ``single``, EAN-13 spelt, so none of the hard cases) is, from a hash of
(GTIN-14, marketplace): not sold there (``NOT_SOLD_PER_MILLE``: no search finds it, its ASIN is unknown
there), listed under a local ASIN (``LOCAL_ASIN_PER_MILLE``: searches find the local listing, same
identifiers and title; the reference ASIN is unknown there and the local one unknown on FR), or the same
ASIN as on FR. Local ASINs live in ASIN slots no product uses (``_local_value``), so they never collide
with another product's ASIN and stay reversible. A code has two local listings and the marketplaces
alternate between them along ``MARKETPLACES``: neighbours there (DE and IT, IT and ES, ES and UK...) never
share one, others may (like a pan-European listing), FR never knows one.
Hard cases list the same items on every marketplace. Prices follow the marketplace's currency
(``sandbox.prices``). ``marketplace_example_codes()`` and ``multi_marketplace_codes()`` give examples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from code2asin.sandbox import words
from code2asin.sandbox.encoding import (
    decode_asin,
    ean13_of,
    encode_asin,
    gs1_check_digit,
    image_id_for,
    isbn10_of,
    stable_hash,
    to_gtin14,
)
from code2asin.sandbox.marketplaces import BY_COUNTRY, MARKETPLACES, Marketplace

_N_LIMIT = 10**12  # EAN-13 data digits (without the check digit)
_ROLE_BASE = {"primary": 0, "duplicate": 10**12, "multipack": 2 * 10**12}
_MULTIPACK_LIMIT = 8 * 10**11  # role 2 only fits for EAN-13 data digits below this
_PARENT_BASE = 28 * 10**11  # variation parents: family = N // 100, 10**10 families

#: share of valid, non-restricted, non-book EAN-13/UPC codes per category (per mille)
CATEGORY_RATES: dict[str, int] = {
    "unknown": 150,
    "near_miss": 50,
    "several_asins": 80,
    "multipack": 70,
    "variation": 70,
    "no_offers": 40,
    "no_images": 40,
    "single": 500,  # "upc_spelling" when the code is a UPC-A (EAN-13 starting with 0)
}
BOOK_UNKNOWN_PER_MILLE = 150
#: categories whose code is carried by at least one ASIN (SP-API identifier search finds them)
KNOWN_CATEGORIES = frozenset(
    {"single", "upc_spelling", "several_asins", "multipack", "variation", "no_offers", "no_images", "book"}
)
_RESTRICTED_PREFIXES = ("02", "04", "05", "2", "980", "981", "982", "983", "984", "99", "951", "952")

#: the marketplace every other one is derived from; its catalogue is the one described above
REFERENCE_MARKETPLACE = "FR"
#: share (per mille) of ordinary products not sold at all on each non-reference marketplace
NOT_SOLD_PER_MILLE = 100
#: share (per mille) of ordinary products listed under a local ASIN on each non-reference marketplace
LOCAL_ASIN_PER_MILLE = 100
#: listing kinds of a code on a marketplace (``listing_kind``)
SAME_ASIN, LOCAL_ASIN, NOT_SOLD, UNKNOWN = "same_asin", "local_asin", "not_sold", "unknown"
_MARKET_INDEX = {m.country: n for n, m in enumerate(MARKETPLACES)}
_ALIASES = {"GB": "UK"}


_h = stable_hash


# --- categories -----------------------------------------------------------------------------------------


def code_category(code: str) -> str:
    """Category of a barcode: ``invalid``, ``unknown``, ``book``, ``pack_gtin14`` or a CATEGORY_RATES key."""
    gtin = to_gtin14(code)
    if gtin is None:
        return "invalid"
    if gtin[0] != "0":
        base = _pack_base(gtin)
        return "pack_gtin14" if base is not None else "unknown"
    ean = ean13_of(gtin)
    if ean.startswith(("978", "979")):
        return "unknown" if _h("book", gtin) % 1000 < BOOK_UNKNOWN_PER_MILLE else "book"
    if not _is_ean8(gtin) and ean.startswith((*_RESTRICTED_PREFIXES, "00000")):
        return "unknown"  # restricted circulation, coupons, demo ranges: never a trade item
    bucket = _h("category", gtin) % 1000
    for name, share in CATEGORY_RATES.items():
        if bucket < share:
            chosen = "single" if name == "multipack" and int(ean[:12]) >= _MULTIPACK_LIMIT else name
            if chosen == "single" and ean.startswith("0") and not _is_ean8(gtin):
                return "upc_spelling"
            return chosen
        bucket -= share
    raise AssertionError("CATEGORY_RATES must sum to 1000")  # pragma: no cover


def _is_ean8(gtin14: str) -> bool:
    return gtin14.startswith("000000") and gtin14[6] != "0"


def _pack_gtin14(single_gtin14: str) -> str:
    """GS1 case-pack GTIN-14 of a single: indicator digit, the single's data digits, new check digit."""
    indicator = str(1 + _h("indicator", single_gtin14) % 8)
    data = indicator + single_gtin14[1:13]
    return data + gs1_check_digit(data)


def _pack_base(gtin14: str) -> str | None:
    data = "0" + gtin14[1:13]
    base = data + gs1_check_digit(data)
    if _pack_gtin14(base) == gtin14 and code_category(base) in {"multipack", "several_asins"}:
        return base if _has_multipack(base) else None
    return None


def _has_multipack(gtin14: str) -> bool:
    category = code_category(gtin14)
    if int(ean13_of(gtin14)[:12]) >= _MULTIPACK_LIMIT:
        return False
    return category == "multipack" or (category == "several_asins" and _h("third", gtin14) % 10 < 3)


def _multipack_carries_single(gtin14: str) -> bool:
    return code_category(gtin14) == "several_asins" or _h("carry", gtin14) % 2 == 0


# --- ASIN roles ---


def asin_for(gtin14: str, role: str) -> str:
    """ASIN of the item playing ``role`` (primary/duplicate/multipack) for a code; 978 books use ISBN-10."""
    isbn10 = isbn10_of(gtin14)
    if role == "primary" and isbn10 is not None:
        return isbn10
    return encode_asin(_ROLE_BASE[role] + int(ean13_of(gtin14)[:12]))


def _parent_asin(gtin14: str) -> str:
    return encode_asin(_PARENT_BASE + int(ean13_of(gtin14)[:12]) // 100)


def _gtin_of_data(data12: int) -> str:
    data = f"{data12:012d}"
    return "0" + data + gs1_check_digit(data)


# --- items ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SandboxItem:
    """One generated Amazon item. Identifier tuples hold values exactly as Amazon would list them."""

    asin: str
    gtin: str  # GTIN-14 of the code the item was generated around
    role: str  # primary | duplicate | multipack | parent
    title: str
    brand: str
    department: words.Department
    eans: tuple[str, ...] = ()
    upcs: tuple[str, ...] = ()
    isbns: tuple[str, ...] = ()
    gtins: tuple[str, ...] = ()  # extra 0-padded GTIN-14 spellings SP-API may return
    base_price_eur: float | None = None  # None: no offer at all
    buy_box: bool = True
    availability: str = "IN_STOCK"
    image_ids: tuple[str, ...] = ()
    sales_rank: int | None = None
    package_quantity: int = 1
    parent_asin: str | None = None
    item_classification: str = "BASE_PRODUCT"
    colour: str | None = None
    contributor: str | None = None

    @property
    def identifier_gtins(self) -> frozenset[str]:
        """Every identifier of the item as a GTIN-14 (what SP-API's GTIN-based index matches on)."""
        out = set()
        for value in (*self.eans, *self.upcs, *self.isbns, *self.gtins):
            gtin = to_gtin14(value)
            if gtin is not None:
                out.add(gtin)
        return frozenset(out)

    def price(self, marketplace: Marketplace) -> tuple[float, str] | None:
        from code2asin.sandbox.prices import price_of  # prices move by date (sandbox.prices)

        return price_of(self, marketplace)


def _pick(seq: tuple[str, ...], *key: object) -> str:
    return seq[_h(*key) % len(seq)]


def _image_ids(asin: str, count: int) -> tuple[str, ...]:
    return tuple(image_id_for(asin, k) for k in range(count))


@dataclass(frozen=True, slots=True)
class _Base:
    department: words.Department
    brand: str
    title: str
    price: float
    rank: int


def _base_item(gtin: str) -> _Base:
    """Fields shared by the primary item of a code and the listings derived from it."""
    dep = words.DEPARTMENTS[_h("dep", gtin) % len(words.DEPARTMENTS)]
    brand = _pick(dep.brands, "brand", gtin)
    title = " ".join(
        (_pick(dep.nouns, "noun", gtin), _pick(dep.qualifiers, "qual", gtin), _pick(dep.sizes, "size", gtin))
    )
    low, high = dep.price_range
    price = round(low + (high - low) * (_h("price", gtin) % 10_000) / 10_000, 2)
    rank = 1 + int(300_000 ** ((_h("rank", gtin) % 10_000) / 10_000))
    return _Base(dep, brand, f"{brand} {title}", price, rank)


def _identifiers(gtin: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(eans, upcs, gtins) of a primary item: UPC-A codes are spelt UPC only, EAN "0"+UPC, or both."""
    ean = ean13_of(gtin)
    if _is_ean8(gtin):
        return (gtin[6:],), (), ()
    if ean.startswith("0"):
        spelling = _h("spelling", gtin) % 3
        if spelling == 0:
            return (), (ean[1:],), ()
        if spelling == 1:
            return (ean,), (), (gtin,)
        return (ean,), (ean[1:],), ()
    return (ean,), (), ()


def _primary(gtin: str, category: str) -> SandboxItem:
    if category == "book":
        return _book(gtin)
    asin = asin_for(gtin, "primary")
    family = int(ean13_of(gtin)[:12]) // 100
    base = _base_item(f"family-{family}" if category == "variation" else gtin)
    images = 0 if category == "no_images" else 1 + _h("nimg", gtin) % 7
    eans, upcs, gtins = _identifiers(gtin)
    availability = ("IN_STOCK", "IN_STOCK", "IN_STOCK", "IN_STOCK_SCARCE", "LEADTIME")[_h("avail", gtin) % 5]
    parent = colour = None
    title = base.title
    if category == "variation":
        parent = _parent_asin(gtin)
        colour = _pick(words.VARIATION_COLOURS, "colour", gtin)
        title = f"{title}, {colour}"
    return SandboxItem(
        asin=asin, gtin=gtin, role="primary", title=title, brand=base.brand, department=base.department,
        base_price_eur=None if category == "no_offers" else base.price,
        availability="UNAVAILABLE" if category == "no_offers" else availability,
        image_ids=_image_ids(asin, images), sales_rank=base.rank, parent_asin=parent, colour=colour,
        eans=eans, upcs=upcs, gtins=gtins,
    )


def _book(gtin: str) -> SandboxItem:
    asin = asin_for(gtin, "primary")
    isbn10 = isbn10_of(gtin)
    title = f"{_pick(words.BOOK_TITLE_HEADS, 'bh', gtin)} {_pick(words.BOOK_TITLE_TAILS, 'bt', gtin)}"
    binding = _pick(words.BOOK_BINDINGS, "binding", gtin)
    low, high = words.BOOKS.price_range
    price = round(low + (high - low) * (_h("price", gtin) % 1000) / 1000, 2)
    return SandboxItem(
        asin=asin, gtin=gtin, role="primary", title=f"{title} ({binding})",
        brand=_pick(words.BOOK_PUBLISHERS, "pub", gtin), department=words.BOOKS,
        eans=(ean13_of(gtin),), isbns=(isbn10,) if isbn10 else (),
        base_price_eur=price, image_ids=_image_ids(asin, 1 + _h("nimg", gtin) % 3),
        sales_rank=1 + _h("rank", gtin) % 900_000, contributor=_pick(words.BOOK_AUTHORS, "author", gtin),
    )


def _duplicate(gtin: str) -> SandboxItem:
    primary = _primary(gtin, "single")
    asin = asin_for(gtin, "duplicate")
    with_offer = _h("dupoffer", gtin) % 2 == 0
    return SandboxItem(
        asin=asin, gtin=gtin, role="duplicate", title=primary.title.upper() if _h("dupt", gtin) % 2 else
        primary.title, brand=primary.brand, department=primary.department, eans=(ean13_of(gtin),),
        base_price_eur=round((primary.base_price_eur or 1) * 1.35, 2) if with_offer else None,
        buy_box=False, availability="IN_STOCK" if with_offer else "UNAVAILABLE",
        image_ids=_image_ids(asin, _h("dupimg", gtin) % 2), sales_rank=(primary.sales_rank or 1) * 20 + 5000,
    )


def _multipack(gtin: str) -> SandboxItem:
    primary = _primary(gtin, "single")
    asin = asin_for(gtin, "multipack")
    qty = words.MULTIPACK_QUANTITIES[_h("qty", gtin) % len(words.MULTIPACK_QUANTITIES)]
    label = _pick(words.MULTIPACK_FORMATS, "mpfmt", gtin).format(n=qty)
    eans = (_pack_gtin14(gtin), ean13_of(gtin)) if _multipack_carries_single(gtin) else (_pack_gtin14(gtin),)
    return SandboxItem(
        asin=asin, gtin=gtin, role="multipack", title=f"{primary.title} {label}", brand=primary.brand,
        department=primary.department, eans=eans,
        base_price_eur=round((primary.base_price_eur or 1) * qty * 0.9, 2),
        image_ids=_image_ids(asin, 1 + _h("mpimg", gtin) % 3),
        sales_rank=(primary.sales_rank or 1) * 3 + 100, package_quantity=qty,
    )


def _family_children(family: int) -> list[str]:
    codes = (_gtin_of_data(family * 100 + i) for i in range(100))
    return [g for g in codes if code_category(g) == "variation"]


def _parent(family: int) -> SandboxItem | None:
    children = _family_children(family)
    if not children:
        return None
    first = _primary(children[0], "variation")
    base = _base_item(f"family-{family}")
    return SandboxItem(
        asin=_parent_asin(children[0]), gtin=children[0], role="parent", title=base.title, brand=first.brand,
        department=first.department, image_ids=first.image_ids[:1], item_classification="VARIATION_PARENT",
    )


# --- marketplaces ---------------------------------------------------------------------------------------


def marketplace_code(marketplace: str | Marketplace) -> str:
    """The sandbox country code of a marketplace (``"fr"``, ``"GB"`` and ``Marketplace`` objects accepted).

    Raises ``ValueError`` for a marketplace the sandbox does not know.
    """
    if isinstance(marketplace, Marketplace):
        return marketplace.country
    code = marketplace.strip().upper()
    code = _ALIASES.get(code, code)
    if code not in BY_COUNTRY:
        raise ValueError(f"Unknown sandbox marketplace {marketplace!r}: use one of {', '.join(BY_COUNTRY)}.")
    return code


def _is_ordinary(gtin14: str) -> bool:
    """Whether a code's product may be missing or listed under another ASIN outside the reference."""
    return not _is_ean8(gtin14) and code_category(gtin14) == "single"


def _listing(gtin14: str, country: str) -> str:
    if country == REFERENCE_MARKETPLACE or not _is_ordinary(gtin14):
        return SAME_ASIN
    bucket = _h("listing", gtin14, country) % 1000
    if bucket < NOT_SOLD_PER_MILLE:
        return NOT_SOLD
    if bucket < NOT_SOLD_PER_MILLE + LOCAL_ASIN_PER_MILLE:
        return LOCAL_ASIN
    return SAME_ASIN


_SPARE_DATA = 2 * 10**11  # EAN-13 data digits 2xxxxxxxxxxx: restricted circulation, never a product


def _local_slot(gtin14: str, country: str) -> int:
    """Which of the code's two local listings (1 or 2) ``country`` uses: they alternate along
    ``MARKETPLACES``, so neighbours there (DE and IT, IT and ES...) never share one."""
    return 1 + (_h("local-slot", gtin14) + _MARKET_INDEX[country]) % 2


def _local_value(data: int, slot: int) -> int:
    """ASIN value of local listing ``slot`` of the ordinary code with data digits ``data``.

    Slot 1 is the code's own "duplicate" role, slot 2 its "multipack" role: ordinary codes use neither.
    Where the multipack role does not fit (data >= 8 * 10**11), slot 2 borrows the primary and duplicate
    roles of the restricted 2xxxxxxxxxxx data digits, which no product uses either."""
    if slot == 1:
        return _ROLE_BASE["duplicate"] + data
    if data < _MULTIPACK_LIMIT:
        return _ROLE_BASE["multipack"] + data
    spare = data - _MULTIPACK_LIMIT  # 0 .. 2 * 10**11
    return (spare // 10**11) * _N_LIMIT + _SPARE_DATA + spare % 10**11


def _local_owner(value: int) -> tuple[str, int] | None:
    """(GTIN-14, slot) of the ordinary code whose local listing would use ASIN value ``value``."""
    if value >= _PARENT_BASE:
        return None
    role_index, data = divmod(value, _N_LIMIT)
    if role_index < 2 and _SPARE_DATA <= data < _SPARE_DATA + 10**11:
        owner, slot = _MULTIPACK_LIMIT + role_index * 10**11 + data - _SPARE_DATA, 2
    elif role_index == 0:
        return None
    else:
        owner, slot = data, role_index
    gtin = _gtin_of_data(owner)
    return (gtin, slot) if _is_ordinary(gtin) else None


def _local_item(gtin14: str, country: str) -> SandboxItem:
    reference = _primary(gtin14, "single")
    asin = encode_asin(_local_value(int(ean13_of(gtin14)[:12]), _local_slot(gtin14, country)))
    return replace(reference, asin=asin, image_ids=_image_ids(asin, len(reference.image_ids)))


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


def _view(item: SandboxItem, country: str) -> SandboxItem | None:
    """A reference item as ``country`` lists it: itself, its local listing, or None (not sold there)."""
    if item.role != "primary" or country == REFERENCE_MARKETPLACE:
        return item
    listing = _listing(item.gtin, country)
    if listing == NOT_SOLD:
        return None
    return _local_item(item.gtin, country) if listing == LOCAL_ASIN else item


@lru_cache(maxsize=65_536)
def products_for_gtin(code: str, marketplace: str = REFERENCE_MARKETPLACE) -> tuple[SandboxItem, ...]:
    """Items whose identifiers carry this code (GTIN-normalised) on ``marketplace`` (a country code):
    what SP-API's identifier search returns."""
    country = marketplace_code(marketplace)
    gtin = to_gtin14(code)
    if gtin is None:
        return ()
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


# --- code generation ------------------------------------------------------------------------------------

_DEMO_PREFIXES = ("30", "31", "32", "33", "34", "35", "36", "37", "40", "41", "42", "43", "50", "80",
                  "84", "87", "54", "76", "00", "01", "03", "06", "07", "08", "09", "978", "979")


def generate_codes(count: int, *, seed: int = 0) -> Iterator[str]:
    """Yield ``count`` distinct-looking valid EAN-13 codes (UPC-A 12-digit for 0-prefixed ones, ~1 in 5)."""
    for i in range(count):
        prefix = _DEMO_PREFIXES[_h("gp", seed, i) % len(_DEMO_PREFIXES)]
        body = f"{_h('gb', seed, i) % 10**12:012d}"
        data = (prefix + body)[:12]
        ean = data + gs1_check_digit(data)
        yield ean[1:] if ean.startswith("0") else ean


@lru_cache(maxsize=1)
def _examples() -> dict[str, tuple[str, ...]]:
    wanted = (*CATEGORY_RATES, "upc_spelling", "book")
    found: dict[str, list[str]] = {name: [] for name in wanted}
    for code in generate_codes(200_000, seed=20_260_601):
        category = code_category(code)
        if category in found and len(found[category]) < 5:
            found[category].append(code)
        if all(len(v) >= 5 for v in found.values()):
            break
    multipacks = [c for c in found["multipack"] if _has_multipack(to_gtin14(c) or "")]
    found["pack_gtin14"] = [_pack_gtin14(to_gtin14(c) or "") for c in multipacks[:3]]
    return {name: tuple(codes) for name, codes in found.items()}


def example_codes() -> dict[str, list[str]]:
    """Category -> a few valid barcodes of that category (stable across processes and versions of this file
    as long as the salt and the rates do not change). ``pack_gtin14`` are GTIN-14 case codes of multipacks."""
    return {name: list(codes) for name, codes in _examples().items()}


# --- per-marketplace examples ---------------------------------------------------------------------------

_MARKET_SEED = 20_260_602
_SEARCH_LIMIT = 400_000


@dataclass(frozen=True, slots=True)
class ListingExample:
    """An ordinary code and how one marketplace lists it (``kind`` is a ``listing_kind`` value)."""

    code: str
    marketplace: str
    kind: str
    reference_asin: str  # its ASIN on FR
    asin: str | None  # its ASIN on ``marketplace``; None when not sold there

    @property
    def local_asin(self) -> str | None:
        """The local ASIN when ``kind`` is ``local_asin``, else None."""
        return self.asin if self.kind == LOCAL_ASIN else None


@dataclass(frozen=True, slots=True)
class MultiMarketplaceCode:
    """An ordinary code with its ASIN on each of several marketplaces (None: not sold there)."""

    code: str
    asins: tuple[tuple[str, str | None], ...]  # (marketplace, ASIN) in the order asked for

    def asin(self, marketplace: str) -> str | None:
        return dict(self.asins)[marketplace_code(marketplace)]

    def kind(self, marketplace: str) -> str:
        return listing_kind(self.code, marketplace)

    @property
    def sold_everywhere(self) -> bool:
        return all(asin is not None for _, asin in self.asins)


def _ordinary_codes() -> Iterator[str]:
    """Ordinary codes (their product sold with a price on FR), in a fixed order."""
    for code in generate_codes(_SEARCH_LIMIT, seed=_MARKET_SEED):
        gtin = to_gtin14(code)
        if gtin is not None and _is_ordinary(gtin):
            yield code


@lru_cache(maxsize=64)
def _listing_examples(country: str, count: int) -> dict[str, tuple[ListingExample, ...]]:
    kinds = (SAME_ASIN,) if country == REFERENCE_MARKETPLACE else (SAME_ASIN, LOCAL_ASIN, NOT_SOLD)
    found: dict[str, list[ListingExample]] = {kind: [] for kind in (SAME_ASIN, LOCAL_ASIN, NOT_SOLD)}
    for code in _ordinary_codes():
        kind = listing_kind(code, country)
        if len(found[kind]) < count:
            reference = marketplace_asin(code, REFERENCE_MARKETPLACE) or ""
            asin = marketplace_asin(code, country)
            found[kind].append(ListingExample(code, country, kind, reference, asin))
        if all(len(found[k]) >= count for k in kinds):
            break
    return {kind: tuple(examples) for kind, examples in found.items()}


def marketplace_example_codes(marketplace: str, count: int = 5) -> dict[str, list[ListingExample]]:
    """Kind (``same_asin``, ``local_asin``, ``not_sold``) -> ``count`` ordinary codes listed that way on
    ``marketplace`` (stable across processes). On FR only ``same_asin`` has codes."""
    examples = _listing_examples(marketplace_code(marketplace), count)
    return {kind: list(codes) for kind, codes in examples.items()}


@lru_cache(maxsize=64)
def _multi_marketplace_codes(
    countries: tuple[str, ...], count: int, not_sold: int
) -> tuple[MultiMarketplaceCode, ...]:
    locals_wanted = count // 3 if any(c != REFERENCE_MARKETPLACE for c in countries) else 0
    same: list[MultiMarketplaceCode] = []
    local: list[MultiMarketplaceCode] = []
    missing: list[MultiMarketplaceCode] = []
    for code in _ordinary_codes():
        entry = MultiMarketplaceCode(code, tuple((c, marketplace_asin(code, c)) for c in countries))
        kinds = {listing_kind(code, c) for c in countries}
        if entry.sold_everywhere:
            bucket = local if LOCAL_ASIN in kinds else same
            wanted = locals_wanted if LOCAL_ASIN in kinds else count - locals_wanted
            if len(bucket) < wanted:
                bucket.append(entry)
        elif len(missing) < not_sold and any(asin for _, asin in entry.asins):
            missing.append(entry)
        if len(same) + len(local) == count and len(missing) == not_sold:
            break
    else:  # pragma: no cover - the code space is far larger than any test needs
        raise ValueError(f"Not enough example codes for {count} + {not_sold} codes on {countries}.")
    mixed = [*same]
    for n, entry in enumerate(local):  # spread the local-ASIN codes among the others
        mixed.insert(min(len(mixed), 1 + 3 * n), entry)
    return (*mixed, *missing)


def multi_marketplace_codes(
    count: int, marketplaces: Sequence[str] = ("FR", "DE", "IT"), *, not_sold: int = 0
) -> list[MultiMarketplaceCode]:
    """``count`` ordinary codes sold with a price on every one of ``marketplaces`` (``count // 3`` of them,
    spread among the others, under a local ASIN on at least one), then ``not_sold`` codes sold on some of
    them but not on at least one (FR, the reference, sells every one). Stable across processes.

    Raises ``ValueError`` when ``not_sold`` codes are asked for but every marketplace is FR.
    """
    countries = tuple(dict.fromkeys(marketplace_code(m) for m in marketplaces))
    if not_sold and all(c == REFERENCE_MARKETPLACE for c in countries):
        raise ValueError("FR sells every ordinary code: ask for another marketplace to get unsold codes.")
    return list(_multi_marketplace_codes(countries, count, not_sold))
