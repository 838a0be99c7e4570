"""How each marketplace lists the reference (FR) catalogue: same ASIN, a local ASIN, or not sold.

An *ordinary* product (category ``single``, EAN-13 spelt) is, from a hash of (GTIN-14, marketplace), not
sold (``NOT_SOLD_PER_MILLE``), listed under a local ASIN (``LOCAL_ASIN_PER_MILLE``) or under its FR
ASIN. Local ASINs live in ASIN slots no product uses (``_local_value``), so they never collide and stay
reversible; a code's two local listings alternate along ``MARKETPLACES``, so neighbours there never share
one and FR never knows one. Hard cases list the same items on every marketplace.
"""

from __future__ import annotations

from dataclasses import replace

from code2asin.sandbox.categories import (
    _MULTIPACK_LIMIT,
    _N_LIMIT,
    _PARENT_BASE,
    _ROLE_BASE,
    _gtin_of_data,
    _is_ean8,
    code_category,
)
from code2asin.sandbox.encoding import ean13_of, encode_asin, stable_hash
from code2asin.sandbox.items import SandboxItem, _image_ids, _primary
from code2asin.sandbox.marketplaces import BY_COUNTRY, MARKETPLACES, Marketplace

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

def _view(item: SandboxItem, country: str) -> SandboxItem | None:
    """A reference item as ``country`` lists it: itself, its local listing, or None (not sold there)."""
    if item.role != "primary" or country == REFERENCE_MARKETPLACE:
        return item
    listing = _listing(item.gtin, country)
    if listing == NOT_SOLD:
        return None
    return _local_item(item.gtin, country) if listing == LOCAL_ASIN else item

