"""Barcode arithmetic, the reversible ASIN encoding and self-checking image ids of the sandbox."""

from __future__ import annotations

import hashlib

_SALT = "code2asin-sandbox-v1"
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HALF = 36**4


def stable_hash(*parts: object) -> int:
    """64-bit SHA-256 based hash, identical in every process (unlike ``hash()``)."""
    data = "|".join([_SALT, *map(str, parts)]).encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


_h = stable_hash


# --- barcodes -------------------------------------------------------------------------------------------


def gs1_check_digit(data: str) -> str:
    """GS1 mod-10 check digit of the data digits (weights 3,1,... from the right)."""
    total = sum((3, 1)[i % 2] * int(d) for i, d in enumerate(reversed(data)))
    return str((10 - total % 10) % 10)


def isbn10_check_digit(data9: str) -> str:
    value = sum(i * int(d) for i, d in enumerate(data9, start=1)) % 11
    return "X" if value == 10 else str(value)


def to_gtin14(code: str) -> str | None:
    """GTIN-14 of an EAN-8/UPC-A/EAN-13/GTIN-14/ISBN-10 string with a valid check digit, else None."""
    code = code.strip().replace("-", "").replace(" ", "").upper()
    if len(code) == 10 and code[:9].isdigit() and code[9] in "0123456789X":
        if isbn10_check_digit(code[:9]) != code[9]:
            return None
        data = "978" + code[:9]
        return "0" + data + gs1_check_digit(data)
    if not code.isdigit() or len(code) not in (8, 12, 13, 14):
        return None
    if gs1_check_digit(code[:-1]) != code[-1]:
        return None
    return code.zfill(14)


def ean13_of(gtin14: str) -> str:
    return gtin14[1:]


def isbn10_of(gtin14: str) -> str | None:
    ean = ean13_of(gtin14)
    if not ean.startswith("978"):
        return None
    return ean[3:12] + isbn10_check_digit(ean[3:12])


# --- ASIN encoding --------------------------------------------------------------------------------------


def _feistel(value: int, *, decode: bool = False) -> int:
    left, right = divmod(value, _HALF)
    rounds = range(3, -1, -1) if decode else range(4)
    for i in rounds:
        if decode:
            left, right = (right - _h("feistel", i, left)) % _HALF, left
        else:
            left, right = right, (left + _h("feistel", i, right)) % _HALF
    return left * _HALF + right


def encode_asin(value: int) -> str:
    value = _feistel(value)
    chars = []
    for _ in range(8):
        value, digit = divmod(value, 36)
        chars.append(_B36[digit])
    return "B0" + "".join(reversed(chars))


def decode_asin(asin: str) -> int | None:
    if len(asin) != 10 or not asin.startswith("B0") or any(c not in _B36 for c in asin[2:]):
        return None
    value = 0
    for char in asin[2:]:
        value = value * 36 + _B36.index(char)
    return _feistel(value, decode=True)


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b62(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 62)
        chars.append(_B62[digit])
    return "".join(chars)


def image_id_for(asin: str, index: int) -> str:
    """An Amazon-looking image id (``61s4tTAizUL``) whose last characters are a checksum of the rest."""
    head = str(1 + _h("img", asin, index) % 9) + _b62(_h("imgb", asin, index), 7)
    return head + _b62(_h("imgsum", head), 2) + "L"


def is_image_id(image_id: str) -> bool:
    """Whether an image id was handed out by the catalogue (checksum valid)."""
    if len(image_id) != 11 or image_id[-1] != "L" or not image_id[0].isdigit():
        return False
    return all(c in _B62 for c in image_id) and _b62(_h("imgsum", image_id[:8]), 2) == image_id[8:10]


