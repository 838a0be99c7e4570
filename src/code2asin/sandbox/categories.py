"""Which category each barcode falls in, and the ASIN each item role gets, computed not stored.

A SHA-256 of the GTIN-14 decides everything, so every process (and every machine) sees the same
catalogue: about 85 % of valid EAN-8/UPC-A/EAN-13 codes are known, the hard cases (design section 5)
each at the rate ``CATEGORY_RATES`` gives. ASINs are reversible: ``"B0"`` + 8 base-36 characters
encoding ``(role, EAN-13 data digits)`` through a keyed Feistel permutation (``sandbox.encoding``);
print books with a 978 ISBN use the ISBN-10, like Amazon.
"""

from __future__ import annotations

from code2asin.sandbox.encoding import (
    ean13_of,
    encode_asin,
    gs1_check_digit,
    isbn10_of,
    stable_hash,
    to_gtin14,
)

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


_h = stable_hash




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

