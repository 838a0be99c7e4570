"""Barcode parsing: one spreadsheet cell in, one ``ParsedCode`` out. Pure: no I/O, never raises.

Accepted: EAN-13 (JAN included: it is an EAN-13 from GS1 Japan), EAN-8, UPC-A, UPC-E, GTIN-14, ISBN-10 and
ISBN-13. Every valid code gets its 14-digit ``gtin`` (the key for comparison and storage). The GS1 facts
applied: the GS1 General Specifications (mod-10 check digit, GTIN lengths, UPC-E expansion; restricted
and coupon prefixes, https://www.gs1.org/standards/id-keys/company-prefix) and ISBN's ISO 2108.
Decisions taken where the rules leave room:

* Leading zeros are restored only for 9-11 digit inputs whose first digit is not ``0`` (a spreadsheet
  drops *all* leading zeros, so a short string that still starts with ``0`` was truncated, not stripped).
  Padding never changes a GS1 check digit, so the padded form is the UPC-A (``code_type`` ``UPC``).
  9 digits are first read as an ISBN-10 that lost its ``0`` (English-language books), then as a UPC-A.
  A 12-, 13- or 14-digit code with a wrong check digit is never "fixed".
* 10 digits are an ISBN-10 first; only if that fails, a UPC-A that lost two zeros.
* 8 digits are an EAN-8 first. An EAN-8 starting with ``0`` or ``2`` is an RCN-8 (in-store code), so when
  such a string is also a valid UPC-E it is read as the UPC-E; otherwise it is rejected as in-store.
* A 12-14 digit code whose GTIN-14 starts with six zeros is an EAN-8 written long (GS1 keeps GTIN-13
  prefixes ``0000000``-``0000099`` free for exactly this): it is read as that EAN-8 and its rules apply.
* Prefix rules act on the GTIN-13 form (the GTIN-14 without its indicator digit): 020-029, 040-049 and
  200-299 are restricted circulation (``restricted_prefix``); 980-984 and 990-999 refund receipts and
  coupons (``coupon_prefix``); 050-059 (reserved), 951 (EPC managers) and 952 (demonstration) are never
  products (``reserved_prefix``). EAN-8 has its own rule: prefixes 0 and 2 are RCN-8.
* ``979-0`` is an ISMN (printed music): a valid EAN-13 with ``code_type`` ``EAN``, not ``ISBN13``.
* GTIN-14: indicator 0 gives the ``product_ean`` (its last 13 digits); indicators 1-8 (cases, packs) and
  9 (variable measure) have no ``product_ean``.
* Scientific notation is rejected unless every digit up to the units is written (``3.017620422003E+12``).

Reason keys of invalid codes: ``empty``, ``not_a_code`` (booleans, dates, negative or fractional
numbers), ``scientific_notation``, ``letters`` (any character that is not a digit), ``length``,
``check_digit``, ``all_zero``, ``restricted_prefix``, ``coupon_prefix``, ``reserved_prefix``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal
from enum import StrEnum
from numbers import Integral, Real

from stdnum import isbn as stdnum_isbn


class CodeType(StrEnum):
    EAN = "EAN"
    EAN8 = "EAN8"
    UPC = "UPC"
    UPC_E = "UPC_E"
    GTIN14 = "GTIN14"
    ISBN10 = "ISBN10"
    ISBN13 = "ISBN13"


@dataclass(frozen=True, slots=True)
class ParsedCode:
    """The verdict on one cell.

    ``raw`` is the cell as text; ``code`` the cleaned code as the user meant it (``None`` when nothing usable
    was found); ``gtin`` the 14-digit key and ``product_ean`` the 13-digit form where one exists (both
    ``None`` when invalid); ``message`` a note (valid) or the actionable reason (invalid); ``reason`` the
    machine-readable key of an invalid code.
    """

    raw: str
    valid: bool
    code: str | None
    code_type: CodeType | None
    gtin: str | None
    product_ean: str | None
    message: str | None
    reason: str | None


_NAMES: dict[CodeType, str] = {
    CodeType.EAN: "an EAN-13",
    CodeType.EAN8: "an EAN-8",
    CodeType.UPC: "a UPC-A",
    CodeType.UPC_E: "a UPC-E",
    CodeType.GTIN14: "a GTIN-14",
    CodeType.ISBN10: "an ISBN-10",
    CodeType.ISBN13: "an ISBN-13",
}
_LENGTHS = "13 digits expected for EAN-13, 12 for UPC-A, 8 for EAN-8/UPC-E, 14 for GTIN-14, 10 for ISBN-10"
_STORE_ONLY = "such codes are only valid inside one store or company and are never on Amazon"
_NOT_A_PRODUCT = "not a product, and is never on Amazon"
#: (low, high, reason, explanation) on the first three digits of the GTIN-13 form (amazon-apis.md 5.3)
_PREFIX_RULES: tuple[tuple[int, int, str, str], ...] = (
    (20, 29, "restricted_prefix",
     "an in-store/variable-measure code (UPC number system 2, prefix {prefix}): " + _STORE_ONLY),
    (40, 49, "restricted_prefix", "an in-store code (UPC number system 4, prefix {prefix}): " + _STORE_ONLY),
    (50, 59, "reserved_prefix", "in the reserved prefix {prefix} (formerly UPC coupons), not a product"),
    (200, 299, "restricted_prefix", "an in-store/variable-measure code (prefix {prefix}): " + _STORE_ONLY),
    (951, 951, "reserved_prefix", "an EPC General Manager Number (prefix 951), not a product"),
    (952, 952, "reserved_prefix", "a GS1 demonstration code (prefix 952), not a product"),
    (980, 980, "coupon_prefix", "a refund receipt (prefix 980), " + _NOT_A_PRODUCT),
    (981, 984, "coupon_prefix", "a coupon (prefix {prefix}), " + _NOT_A_PRODUCT),
    (990, 999, "coupon_prefix", "a coupon (prefix {prefix}), " + _NOT_A_PRODUCT),
)
_QUOTES = "\"'‘’“”«»"  # typographic quotes come from word processors
_FORMULA = re.compile(r'=\s*"(.*)"')  # ="0123" is how CSV writers keep leading zeros for Excel
_LABEL = re.compile(r"^(?:ISBN|EAN|UPC|GTIN|JAN)(?:-?1[034])?\s*:?\s*", re.IGNORECASE)
_SCIENTIFIC = re.compile(r"([0-9]+)(?:[.,]([0-9]*))?[eE]\+?([0-9]+)")
_INVISIBLE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]")
_DASHES = re.compile(r"[-\u2010-\u2015\u2212]")
_TRAILING_ZERO_DECIMAL = re.compile(r"([0-9]+)[.,]00?")
_DIGITS = re.compile(r"[0-9]+")
_ISBN10_WITH_X = re.compile(r"[0-9]{9}[Xx]")
_ASIN = re.compile(r"B0[0-9A-Z]{8}")
_MAX_EXACT_FLOAT = 2**53


def gtin14(code: str) -> str:
    """Left-pad a digit string (EAN-13, UPC-A, EAN-8, GTIN-14) with zeros to the 14-digit GTIN form.

    Raises ``ValueError`` when ``code`` is not 1-14 ASCII digits. It does not check the check digit.
    """
    if not _DIGITS.fullmatch(code) or len(code) > 14:
        raise ValueError(f"not a GTIN digit string: {code!r}")
    return code.zfill(14)


def is_valid_asin(value: str) -> bool:
    """Tell whether ``value`` is an ASIN exactly as Amazon writes it.

    That is ``B0`` plus 8 upper-case letters or digits, or a valid ISBN-10 (a book's ASIN is its ISBN-10,
    with an upper-case ``X``). No cleaning is done: use ``normalise_asin`` for cells.
    """
    if _ASIN.fullmatch(value):
        return True
    return bool(re.fullmatch(r"[0-9]{9}[0-9X]", value)) and _isbn10_check(value[:9]) == value[9]


def normalise_asin(value: object) -> str | None:
    """Clean a cell (spaces, quotes, leading apostrophe, hyphens) and upper-case it.

    Returns the ASIN, or ``None`` when the result is not a valid ASIN (see ``is_valid_asin``) or the
    value is neither text nor an integer.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = _DASHES.sub("", _INVISIBLE.sub("", _unquote(str(value)))).upper()
    return text if is_valid_asin(text) else None


def parse_code(value: object) -> ParsedCode:
    """Parse one cell into a ``ParsedCode``; never raises.

    ``value`` may be text, an integer, a float, a ``Decimal`` or ``None``. Text is cleaned of spaces
    (including non-breaking ones), tabs, line breaks, hyphens, surrounding quotes, Excel's leading
    apostrophe and ``="..."`` wrapper, a ``ISBN:``-style label and a trailing ``.0``/``.00``. Integral
    floats below 2**53 and integral Decimals give their exact digits; NaN is an empty cell. See the module
    docstring for the reading rules and reason keys.
    """
    raw = "" if value is None else value if isinstance(value, str) else _typed_text(value)
    if value is None:
        return _bad(raw, "empty", "Empty cell: there is no barcode to look up.")
    if isinstance(value, bool):
        return _bad(raw, "not_a_code", f"{raw} is a yes/no value, not a barcode.")
    if isinstance(value, date | time | timedelta):
        return _bad(raw, "not_a_code", f"{raw} is a date or time, not a barcode: format the column as Text.")
    if isinstance(value, Integral | Decimal | Real) and not isinstance(value, str):
        return _parse_number(raw, value)
    if raw.isascii() and raw.isdigit():  # the common case needs none of the cleaning below
        return _parse_digits(raw, raw, [])
    return _parse_text(raw, raw)


def _typed_text(value: object) -> str:
    """What the user typed into a numeric cell: Excel stores 3615366690252 as 3615366690252.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_EXACT_FLOAT:
        return str(int(value))
    return str(value)


def _parse_number(raw: str, value: Integral | Decimal | Real) -> ParsedCode:
    if isinstance(value, Integral):
        number = int(value)
    else:
        exact = value if isinstance(value, Decimal) else Decimal(float(value))  # Decimal(float) is exact
        if exact.is_nan():  # pandas and friends read an empty cell as NaN
            return _bad(raw, "empty", "Empty cell: there is no barcode to look up.")
        if not exact.is_finite():
            return _bad(raw, "not_a_code", f"{raw} is not a barcode.")
        if exact != exact.to_integral_value():
            return _bad(raw, "not_a_code", f"{raw} is a fractional number, not a barcode.")
        if not isinstance(value, Decimal) and abs(exact) >= _MAX_EXACT_FLOAT:
            return _bad(raw, "scientific_notation", _scientific_message(raw))
        number = int(exact)
    if number < 0:
        return _bad(raw, "not_a_code", f"{raw} is a negative number, not a barcode.")
    return _parse_digits(raw, str(number), [])


def _unquote(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip()
    formula = _FORMULA.fullmatch(text)
    if formula:
        text = formula[1].strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if text[:1] in ("'", "‘", "’"):  # Excel's text prefix, possibly autocorrected
        text = text[1:].strip()
    return text


def _parse_text(raw: str, text: str) -> ParsedCode:
    text = _INVISIBLE.sub("", _LABEL.sub("", _unquote(text), count=1))
    notes: list[str] = []
    scientific = _SCIENTIFIC.fullmatch(text)
    if scientific:
        whole, fraction, exponent = scientific[1], scientific[2] or "", int(scientific[3])
        if len(fraction) != exponent:
            return _bad(raw, "scientific_notation", _scientific_message(raw.strip()))
        text = whole + fraction
        notes.append(f"written in scientific notation but with every digit ({raw.strip()})")
    text = _DASHES.sub("", text)
    trailing = _TRAILING_ZERO_DECIMAL.fullmatch(text)
    if trailing:
        text = trailing[1]
    if not text:
        return _bad(raw, "empty", "Empty cell: there is no barcode to look up.")
    if not _DIGITS.fullmatch(text) and not _ISBN10_WITH_X.fullmatch(text):
        shown = ", ".join(repr(char) for char in dict.fromkeys(text) if not "0" <= char <= "9")
        return _bad(raw, "letters", f"Only digits are allowed in a barcode, not {shown} ({_shorten(raw)}).")
    return _parse_digits(raw, text.upper(), notes)


def _parse_digits(raw: str, digits: str, notes: list[str]) -> ParsedCode:  # noqa: PLR0911
    length = len(digits)
    if digits.strip("0") == "":
        return _bad(raw, "all_zero", f"{digits} is all zeros: a placeholder, not a barcode.", code=digits)
    if length == 10 and digits[-1] == "X":
        return _read_isbn10(raw, digits, notes)
    if length == 13:
        book = digits[:3] in ("978", "979") and not digits.startswith("9790")
        return _read_gs1(raw, digits, CodeType.ISBN13 if book else CodeType.EAN, notes)
    if length == 12:
        return _read_gs1(raw, digits, CodeType.UPC, notes)
    if length == 14:
        return _read_gs1(raw, digits, CodeType.GTIN14, notes)
    if length == 8:
        return _read_eight(raw, digits, notes)
    restorable = length in (9, 10, 11) and digits[0] != "0"
    if length == 10 and _isbn10_check(digits[:9]) == digits[9]:
        if restorable and _gs1_ok(digits):
            notes.append(f"read as ISBN-10; it would also be a valid UPC-A {digits.zfill(12)}")
        return _read_isbn10(raw, digits, notes)
    if length == 9 and restorable and _isbn10_check("0" + digits[:8]) == digits[8]:
        notes.append(_restored(digits, "0" + digits))
        return _read_isbn10(raw, "0" + digits, notes)
    if restorable and _gs1_ok(digits):
        notes.append(_restored(digits, digits.zfill(12)))
        return _read_gs1(raw, digits.zfill(12), CodeType.UPC, notes)
    if length == 10:
        expected = _isbn10_check(digits[:9])
        return _bad(
            raw, "check_digit",
            f"Check digit is {digits[9]} but should be {expected} for an ISBN-10 ({digits})"
            + (", and restoring dropped zeros does not give a valid UPC-A either." if restorable else "."),
            code=digits, code_type=CodeType.ISBN10,
        )
    hint = ", and restoring dropped zeros does not give a valid check digit either" if restorable else ""
    return _bad(raw, "length", f"{_LENGTHS}; got {length} digits ({digits}){hint}.", code=digits)


def _read_eight(raw: str, digits: str, notes: list[str]) -> ParsedCode:
    ean8_ok = _gs1_ok(digits)
    upca = _upce_to_upca(digits) if digits[0] in "01" else None
    upce_ok = upca is not None and _gs1_ok(upca)
    if ean8_ok and digits[0] not in "02":
        if upce_ok:
            notes.append(f"read as EAN-8; as a UPC-E it would be the UPC-A {upca}")
        return _accept(raw, digits, CodeType.EAN8, notes)
    if upce_ok:
        if ean8_ok:
            notes.append("read as UPC-E: an EAN-8 starting with 0 would be an in-store code")
        return _accept(raw, digits, CodeType.UPC_E, notes)
    if ean8_ok:
        return _accept(raw, digits, CodeType.EAN8, notes)  # an RCN-8: the prefix rule rejects it
    expected = _gs1_check(digits[:7])
    also = "" if upca is None else f" (or {_gs1_check(upca[:11])} for a UPC-E)"
    message = f"Check digit is {digits[7]} but should be {expected} for an EAN-8{also} ({digits})."
    return _bad(raw, "check_digit", message, code=digits, code_type=CodeType.EAN8)


def _read_isbn10(raw: str, digits: str, notes: list[str]) -> ParsedCode:
    expected = _isbn10_check(digits[:9])
    if expected != digits[9]:
        message = f"Check digit is {digits[9]} but should be {expected} for an ISBN-10 ({digits})."
        return _bad(raw, "check_digit", message, code=digits, code_type=CodeType.ISBN10)
    return _accept(raw, digits, CodeType.ISBN10, notes)


def _read_gs1(raw: str, digits: str, code_type: CodeType, notes: list[str]) -> ParsedCode:
    expected = _gs1_check(digits[:-1])
    if expected != digits[-1]:
        message = f"Check digit is {digits[-1]} but should be {expected} for {_NAMES[code_type]} ({digits})."
        return _bad(raw, "check_digit", message, code=digits, code_type=code_type)
    if digits.startswith("9790"):
        notes.append("979-0 is an ISMN (printed music), not an ISBN")
    elif digits.startswith("977"):
        notes.append("977 is an ISSN (a periodical)")
    return _accept(raw, digits, code_type, notes)


def _accept(raw: str, code: str, code_type: CodeType, notes: list[str]) -> ParsedCode:
    """Build the valid result, or reject on the prefix rules. ``code`` has a correct check digit."""
    shown = code
    product_ean: str | None
    if code_type is CodeType.ISBN10:
        isbn13 = stdnum_isbn.to_isbn13(code)
        gtin, product_ean = "0" + isbn13, isbn13
    elif code_type is CodeType.UPC_E:
        upca = _upce_to_upca(code)
        gtin, product_ean = "00" + upca, "0" + upca
        if gtin.startswith("000000"):
            message = f"{code} expands to the UPC-A {upca}, a range GS1 keeps free for EAN-8: not a product."
            return _bad(raw, "reserved_prefix", message, code=code, code_type=code_type)
    else:
        gtin = code.zfill(14)
        if code_type is not CodeType.EAN8 and gtin.startswith("000000"):
            notes.append(f"{code} is the EAN-8 {gtin[6:]} written with {len(code) - 8} leading zeros")
            shown = f"{code} (the EAN-8 {gtin[6:]})"
            code, code_type = gtin[6:], CodeType.EAN8
        product_ean = None if code_type is CodeType.EAN8 or gtin[0] != "0" else gtin[1:]
        if code_type is CodeType.GTIN14 and gtin[0] == "9":
            notes.append("indicator digit 9 marks a variable-measure trade item")
    problem = _prefix_problem(gtin)
    if problem is not None:
        reason, why = problem
        return _bad(raw, reason, f"{shown} is {why}.", code=code, code_type=code_type)
    message = "; ".join(notes)
    return ParsedCode(
        raw=raw, valid=True, code=code, code_type=code_type, gtin=gtin, product_ean=product_ean,
        message=message[:1].upper() + message[1:] + "." if message else None, reason=None,
    )


def _prefix_problem(gtin: str) -> tuple[str, str] | None:
    """Return (reason, explanation) when the GTIN's prefix is never a trade item on Amazon."""
    key = gtin[1:]  # the GTIN-13 form, without a GTIN-14 indicator digit
    if key.startswith("00000"):
        if key[5] in "02":
            return "restricted_prefix", f"an in-store code (RCN-8, EAN-8 prefix {key[5]}): {_STORE_ONLY}"
        return None
    prefix = int(key[:3])
    for low, high, reason, explanation in _PREFIX_RULES:
        if low <= prefix <= high:
            return reason, explanation.format(prefix=key[:3])
    return None


def _gs1_check(body: str) -> str:
    """GS1 mod-10 check digit of ``body`` (ASCII digits): weights 3,1,3,... from the right.

    Summing the bytes in C is several times faster than stdnum's per-digit generator; the tests check
    it against an independent oracle.
    """
    data = body.encode("ascii")
    total = 3 * sum(data[-1::-2]) + sum(data[-2::-2]) - 48 * (3 * len(data[-1::-2]) + len(data[-2::-2]))
    return str(-total % 10)


def _gs1_ok(digits: str) -> bool:
    return _gs1_check(digits[:-1]) == digits[-1]


def _isbn10_check(first_nine: str) -> str:
    check = sum(weight * int(digit) for weight, digit in enumerate(first_nine, start=1)) % 11
    return "X" if check == 10 else str(check)


def _upce_to_upca(upce: str) -> str:
    """Expand an 8-digit UPC-E (number system, 6 data digits, check digit) to its 12-digit UPC-A."""
    system, data, check = upce[0], upce[1:7], upce[7]
    last = data[5]
    if last in "012":
        middle = data[0:2] + last + "0000" + data[2:5]
    elif last == "3":
        middle = data[0:3] + "00000" + data[3:5]
    elif last == "4":
        middle = data[0:4] + "00000" + data[4]
    else:
        middle = data[0:5] + "0000" + last
    return system + middle + check


def _restored(short: str, full: str) -> str:
    count = len(full) - len(short)
    zeros = "zero" if count == 1 else "zeros"
    return f"{count} leading {zeros} restored (spreadsheets drop them): {short} -> {full}"


def _scientific_message(shown: str) -> str:
    return (
        f"Scientific notation ({shown}): the spreadsheet rounded this code and its digits are lost; "
        "format the column as Text in the source file and export again."
    )


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= 40 else text[:39] + "…"


def _bad(
    raw: str, reason: str, message: str, *, code: str | None = None, code_type: CodeType | None = None
) -> ParsedCode:
    return ParsedCode(
        raw=raw, valid=False, code=code, code_type=code_type, gtin=None, product_ean=None,
        message=message, reason=reason,
    )
