"""The sandbox's generated Amazon items: ``SandboxItem`` and how each role's item is built for a code.

A code's primary item (or book), its duplicate listing, its multipack and its variation parent are all
derived from hashes of the GTIN-14; an item's price on a marketplace comes from ``sandbox.prices``.
"""

from __future__ import annotations

from dataclasses import dataclass

from code2asin.sandbox import words
from code2asin.sandbox.categories import (
    _gtin_of_data,
    _is_ean8,
    _multipack_carries_single,
    _pack_gtin14,
    _parent_asin,
    asin_for,
    code_category,
)
from code2asin.sandbox.encoding import ean13_of, image_id_for, isbn10_of, stable_hash, to_gtin14
from code2asin.sandbox.marketplaces import Marketplace
from code2asin.sandbox.prices import price_of

_h = stable_hash


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
