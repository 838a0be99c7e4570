"""Tests of code2asin.barcodes.

The property tests check the parser against oracles written here from the published algorithms, not
against python-stdnum or the module's own helpers.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from code2asin.barcodes import CodeType, ParsedCode, gtin14, is_valid_asin, normalise_asin, parse_code

REPO_ROOT = Path(__file__).resolve().parents[1]
OFF_FILE = REPO_ROOT / "tests" / "fixtures" / "openfoodfacts" / "real_barcodes_openfoodfacts.csv"
REASONS = {
    "empty", "not_a_code", "scientific_notation", "letters", "length", "check_digit", "all_zero",
    "restricted_prefix", "coupon_prefix", "reserved_prefix",
}


# --- oracles -------------------------------------------------------------------------------------------

def oracle_gs1_check(data: str) -> str:
    """GS1 mod 10, weights 3,1,3,... taken from the left after aligning the data on an odd length."""
    padded = data if len(data) % 2 else "0" + data  # the rightmost data digit must get weight 3
    total = sum(int(d) * (1 if i % 2 else 3) for i, d in enumerate(padded))
    return str(-total % 10)


def oracle_isbn10_check(data: str) -> str:
    """ISBN-10: weights 10..2 on the nine data digits, the check makes the total divisible by 11."""
    remainder = (11 - sum((10 - i) * int(d) for i, d in enumerate(data)) % 11) % 11
    return "X" if remainder == 10 else str(remainder)


def oracle_upce_to_upca(upce: str) -> str:
    """UPC-E expansion written as templates over the data digits a..f."""
    templates = {
        "0": "ab{f}0000cde", "1": "ab{f}0000cde", "2": "ab{f}0000cde",
        "3": "abc00000de", "4": "abcd00000e",
    }
    a, b, c, d, e, f = upce[1:7]
    template = templates.get(f, "abcde0000{f}")
    body = "".join({"a": a, "b": b, "c": c, "d": d, "e": e}.get(ch, ch) for ch in template.format(f=f))
    return upce[0] + body + upce[7]


def oracle_excluded_reason(gtin13: str) -> str | None:
    """The GS1 ranges of the GTIN-13 form that are never products on Amazon (amazon-apis.md 5.3)."""
    prefix = int(gtin13[:3])
    if prefix in range(20, 30) or prefix in range(40, 50) or prefix in range(200, 300):
        return "restricted_prefix"
    if prefix in range(50, 60) or prefix in (951, 952):
        return "reserved_prefix"
    if prefix in range(980, 985) or prefix in range(990, 1000):
        return "coupon_prefix"
    return None


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def digit_strings(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=size, max_size=size)


def same_verdict(left: ParsedCode, right: ParsedCode) -> bool:
    """Everything but ``raw`` (and the note, which may quote the raw cell) agrees."""
    return (left.valid, left.code, left.code_type, left.gtin, left.product_ean, left.reason) == (
        right.valid, right.code, right.code_type, right.gtin, right.product_ean, right.reason
    )


# --- properties ----------------------------------------------------------------------------------------

@given(digit_strings(12))
def test_twelve_random_digits_plus_oracle_check_digit_are_an_ean13_unless_prefix_excluded(data: str) -> None:
    assume(not data.startswith("00000"))  # that range is EAN-8 space, tested on its own
    code = data + oracle_gs1_check(data)
    parsed = parse_code(code)
    excluded = oracle_excluded_reason(code)
    if excluded:
        assert (parsed.valid, parsed.reason, parsed.gtin) == (False, excluded, None)
        assert parsed.message is not None and code in parsed.message
        return
    is_book = code[:3] in ("978", "979") and not code.startswith("9790")
    assert parsed.valid and parsed.reason is None
    assert parsed.code == parsed.product_ean == code
    assert parsed.gtin == "0" + code
    assert parsed.code_type is (CodeType.ISBN13 if is_book else CodeType.EAN)


@pytest.mark.parametrize(("length", "name"), [(12, "a UPC-A"), (13, "an EAN-13"), (14, "a GTIN-14")])
@given(data=st.data())
def test_a_wrong_gs1_check_digit_is_rejected_naming_the_expected_digit(
    length: int, name: str, data: st.DataObject
) -> None:
    body = data.draw(digit_strings(length - 1))
    right = oracle_gs1_check(body)
    wrong = data.draw(digits.filter(lambda d: d != right))
    code = body + wrong
    assume(code.strip("0"))  # all zeros has its own reason
    parsed = parse_code(code)
    assert (parsed.valid, parsed.reason, parsed.gtin) == (False, "check_digit", None)
    if length == 13 and code[:3] in ("978", "979") and not code.startswith("9790"):
        name = "an ISBN-13"
    assert parsed.message == f"Check digit is {wrong} but should be {right} for {name} ({code})."


@given(data=st.data())
def test_a_wrong_isbn10_check_digit_is_rejected_naming_the_expected_digit_even_x(data: st.DataObject) -> None:
    body = data.draw(digit_strings(9))
    right = oracle_isbn10_check(body)
    wrong = data.draw(st.sampled_from("0123456789X").filter(lambda d: d != right))
    # a numeric string that is no ISBN-10 may still be a UPC-A that lost two zeros: not this test's case
    assume(wrong == "X" or body.startswith("0") or oracle_gs1_check(body) != wrong)
    parsed = parse_code(body + wrong)
    assert (parsed.valid, parsed.reason, parsed.code_type) == (False, "check_digit", CodeType.ISBN10)
    expected = f"Check digit is {wrong} but should be {right} for an ISBN-10 ({body + wrong})"
    assert parsed.message is not None and parsed.message.startswith(expected)


@given(
    data=digit_strings(12),
    separator=st.sampled_from([" ", "-", "\u00a0", "\u202f", "\t", "\u2013"]),
    cut=st.integers(min_value=1, max_value=12),
    wrapper=st.sampled_from(
        ["{}", "'{}", '"{}"', " {} ", "{}.0", "{}.00", "{}\r\n", '="{}"', "\u00a0'{}'\t", "“{}”"]
    ),
)
def test_spaces_hyphens_quotes_apostrophe_and_trailing_decimal_give_the_same_gtin(
    data: str, separator: str, cut: int, wrapper: str
) -> None:
    code = data + oracle_gs1_check(data)
    plain = parse_code(code)
    variant = parse_code(wrapper.format(code[:cut] + separator + code[cut:]))
    assert same_verdict(plain, variant)


@given(digit_strings(11))
def test_a_upca_and_its_ean13_with_a_leading_zero_share_the_gtin_and_verdict(data: str) -> None:
    upc = data + oracle_gs1_check(data)
    as_upc, as_ean = parse_code(upc), parse_code("0" + upc)
    assert (as_upc.valid, as_upc.gtin, as_upc.reason) == (as_ean.valid, as_ean.gtin, as_ean.reason)
    if as_upc.valid and as_upc.code_type is CodeType.UPC:
        assert as_ean.code_type is CodeType.EAN
        assert as_upc.gtin == "00" + upc and as_upc.product_ean == as_ean.product_ean == "0" + upc


@given(digit_strings(9))
def test_an_isbn10_has_the_gtin_of_the_same_books_isbn13(body: str) -> None:
    assume(body.strip("0"))  # 0000000000 is all zeros
    isbn10 = body + oracle_isbn10_check(body)
    isbn13 = "978" + body + oracle_gs1_check("978" + body)
    parsed = parse_code(isbn10)
    assert parsed.valid and parsed.code_type is CodeType.ISBN10 and parsed.code == isbn10
    assert parsed.gtin == parse_code(isbn13).gtin == "0" + isbn13
    assert parsed.product_ean == isbn13


@given(system=st.sampled_from("01"), data=digit_strings(6))
def test_a_upce_parses_to_the_gtin_of_its_oracle_expanded_upca(system: str, data: str) -> None:
    upca_body = oracle_upce_to_upca(system + data + "0")[:11]
    upce = system + data + oracle_gs1_check(upca_body)
    upca = upca_body + upce[7]
    assume(not upca.startswith("0000"))  # its GTIN-14 would start with six zeros: EAN-8 space
    parsed = parse_code(upce)
    assert parsed.valid
    if system == "1" and oracle_gs1_check(upce[:7]) == upce[7]:
        assert parsed.code_type is CodeType.EAN8  # EAN-8 is tried first; documented precedence
        return
    assert parsed.code_type is CodeType.UPC_E and parsed.code == upce
    assert parsed.gtin == "00" + upca == parse_code(upca).gtin
    assert parsed.product_ean == "0" + upca


@given(st.integers(min_value=1, max_value=10**14 - 1))
def test_int_float_and_decimal_cells_parse_like_the_same_digits_as_text(number: int) -> None:
    text = parse_code(str(number))
    assert same_verdict(parse_code(number), text)
    assert same_verdict(parse_code(float(number)), text)
    assert same_verdict(parse_code(Decimal(number)), text)


@given(zeros=st.integers(min_value=1, max_value=2), rest=digit_strings(10))
def test_leading_zeros_a_spreadsheet_dropped_are_restored_when_the_check_digit_proves_them(
    zeros: int, rest: str
) -> None:
    data = ("0" * zeros + rest)[:11]
    assume(data[zeros] != "0")
    upc = data + oracle_gs1_check(data)
    short = upc.lstrip("0")
    assume(len(short) == 11 or oracle_isbn10_check(short[:9]) != short[9])  # 10 digits: ISBN-10 comes first
    parsed = parse_code(int(short))
    excluded = oracle_excluded_reason("0" + upc)
    if excluded:
        assert (parsed.valid, parsed.reason, parsed.code) == (False, excluded, upc)
        return
    assert (parsed.valid, parsed.code, parsed.code_type, parsed.gtin) == (True, upc, CodeType.UPC, "00" + upc)
    zero_word = "zero" if zeros == 1 else "zeros"
    restored = f"{zeros} leading {zero_word} restored (spreadsheets drop them): {short} -> {upc}."
    assert parsed.message == restored


@given(digit_strings(11).filter(lambda s: s[0] != "0"))
def test_an_eleven_digit_string_is_only_accepted_when_the_restored_upca_checks(data: str) -> None:
    parsed = parse_code(data)
    if oracle_gs1_check(data[:-1]) != data[-1]:
        assert (parsed.valid, parsed.reason) == (False, "length")
    else:
        assert parsed.gtin == "000" + data or parsed.reason in REASONS - {"length", "check_digit"}


# --- examples: valid codes -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("cell", "code", "code_type", "gtin", "product_ean"),
    [
        ("3017620422003", "3017620422003", CodeType.EAN, "03017620422003", "3017620422003"),  # Nutella
        ("5449000000996", "5449000000996", CodeType.EAN, "05449000000996", "5449000000996"),  # Coca-Cola
        ("4901234567894", "4901234567894", CodeType.EAN, "04901234567894", "4901234567894"),  # JAN is an EAN
        ("036000291452", "036000291452", CodeType.UPC, "00036000291452", "0036000291452"),
        ("0-306-40615-2", "0306406152", CodeType.ISBN10, "09780306406157", "9780306406157"),
        ("080442957x", "080442957X", CodeType.ISBN10, "09780804429573", "9780804429573"),
        ("9780306406157", "9780306406157", CodeType.ISBN13, "09780306406157", "9780306406157"),
        ("ISBN 978-0-306-40615-7", "9780306406157", CodeType.ISBN13, "09780306406157", "9780306406157"),
        ("9790230671187", "9790230671187", CodeType.EAN, "09790230671187", "9790230671187"),  # ISMN
        ("04252614", "04252614", CodeType.UPC_E, "00042100005264", "0042100005264"),
        ("96385074", "96385074", CodeType.EAN8, "00000096385074", None),
        ("00012345678905", "00012345678905", CodeType.GTIN14, "00012345678905", "0012345678905"),
        ("10012345678902", "10012345678902", CodeType.GTIN14, "10012345678902", None),
        ("0000096385074", "96385074", CodeType.EAN8, "00000096385074", None),  # EAN-8 written long
        ("\u00a03017620422003\u202f", "3017620422003", CodeType.EAN, "03017620422003", "3017620422003"),
        ("３０１７６２０４２２００３", "3017620422003", CodeType.EAN, "03017620422003", "3017620422003"),
        ("3.017620422003E+12", "3017620422003", CodeType.EAN, "03017620422003", "3017620422003"),
        (3017620422003.0, "3017620422003", CodeType.EAN, "03017620422003", "3017620422003"),
        (36000291452, "036000291452", CodeType.UPC, "00036000291452", "0036000291452"),
        (306406152, "0306406152", CodeType.ISBN10, "09780306406157", "9780306406157"),
    ],
)
def test_real_looking_codes_parse_to_their_code_type_gtin_and_product_ean(
    cell: object, code: str, code_type: CodeType, gtin: str, product_ean: str | None
) -> None:
    parsed = parse_code(cell)
    assert (parsed.valid, parsed.reason) == (True, None), parsed.message
    verdict = (parsed.code, parsed.code_type, parsed.gtin, parsed.product_ean)
    assert verdict == (code, code_type, gtin, product_ean)


def test_a_restored_leading_zero_is_reported_in_the_message() -> None:
    parsed = parse_code("36000291452")
    assert parsed.message == "1 leading zero restored (spreadsheets drop them): 36000291452 -> 036000291452."


def test_the_raw_field_keeps_the_cell_as_text() -> None:
    assert parse_code(None).raw == ""
    assert parse_code(3017620422003).raw == "3017620422003"
    assert parse_code(" '3017620422003 ").raw == " '3017620422003 "


# --- examples: every reject reason ---------------------------------------------------------------------

@pytest.mark.parametrize("cell", [None, "", "   ", "\u00a0", "'", '""', float("nan"), Decimal("NaN")])
def test_empty_cells_are_rejected_as_empty(cell: object) -> None:
    parsed = parse_code(cell)
    assert (parsed.valid, parsed.reason, parsed.code) == (False, "empty", None)


@pytest.mark.parametrize("cell", ["3,01762E+12", "3.01762E+12", "3.01762e12", "3E+12", 1e20])
def test_scientific_notation_that_lost_digits_is_rejected_with_the_fix(cell: object) -> None:
    parsed = parse_code(cell)
    assert (parsed.valid, parsed.reason) == (False, "scientific_notation")
    assert parsed.message == (
        f"Scientific notation ({cell}): the spreadsheet rounded this code and its digits are lost; "
        "format the column as Text in the source file and export again."
    )


def test_a_wrong_ean13_check_digit_names_the_expected_one() -> None:
    parsed = parse_code("3017620422004")
    assert (parsed.valid, parsed.reason, parsed.code, parsed.code_type) == (
        False, "check_digit", "3017620422004", CodeType.EAN
    )
    assert parsed.message == "Check digit is 4 but should be 3 for an EAN-13 (3017620422004)."


def test_a_wrong_isbn10_check_digit_can_expect_x() -> None:
    parsed = parse_code("0804429571")
    assert parsed.reason == "check_digit"
    assert parsed.message is not None and "should be X for an ISBN-10 (0804429571)" in parsed.message


def test_an_eight_digit_code_failing_both_readings_names_both_expected_digits() -> None:
    parsed = parse_code("04252615")
    assert parsed.message == "Check digit is 5 but should be 0 for an EAN-8 (or 4 for a UPC-E) (04252615)."


def test_a_twelve_digit_code_with_a_wrong_check_digit_is_never_fixed_by_padding() -> None:
    parsed = parse_code("036000291453")
    assert (parsed.valid, parsed.reason, parsed.code_type) == (False, "check_digit", CodeType.UPC)


@pytest.mark.parametrize(("cell", "digit_count"), [("1234567", 7), ("7005", 4), ("301762042200399", 15)])
def test_a_wrong_length_is_rejected_listing_the_expected_lengths(cell: str, digit_count: int) -> None:
    parsed = parse_code(cell)
    assert (parsed.valid, parsed.reason) == (False, "length")
    assert parsed.message is not None and parsed.message.startswith(
        "13 digits expected for EAN-13, 12 for UPC-A, 8 for EAN-8/UPC-E, 14 for GTIN-14, 10 for ISBN-10; "
        f"got {digit_count} digits ({cell})"
    )


def test_a_short_code_still_starting_with_zero_is_truncated_not_restored() -> None:
    # 0 + "6000291452" would check as a UPC-A, but a spreadsheet drops every leading zero, not some
    data = "0600029145"
    code = data + oracle_gs1_check(data)
    assert parse_code(code).reason == "length"


@pytest.mark.parametrize(
    ("cell", "shown"), [("ABC123", "'A', 'B', 'C'"), ("30176204220O3", "'O'"), ("3017620422003.5", "'.'")]
)
def test_letters_are_rejected_naming_the_characters(cell: str, shown: str) -> None:
    parsed = parse_code(cell)
    assert (parsed.valid, parsed.reason) == (False, "letters")
    assert parsed.message == f"Only digits are allowed in a barcode, not {shown} ({cell})."


@pytest.mark.parametrize("cell", ["0000000000000", "000000000000", "00000000", 0])
def test_all_zero_codes_are_rejected(cell: object) -> None:
    assert parse_code(cell).reason == "all_zero"


def with_check(data: str) -> str:
    return data + oracle_gs1_check(data)


@pytest.mark.parametrize(
    ("cell", "reason", "words"),
    [
        (with_check("200123456789"), "restricted_prefix", "prefix 200"),
        (with_check("299000012345"), "restricted_prefix", "prefix 299"),
        (with_check("21234567890"), "restricted_prefix", "UPC number system 2"),  # UPC-A 2...
        (with_check("023456789012"), "restricted_prefix", "UPC number system 2"),  # its EAN-13 form
        (with_check("41234567890"), "restricted_prefix", "UPC number system 4"),
        (with_check("2012345"), "restricted_prefix", "RCN-8"),  # EAN-8 starting with 2
        (with_check("0765432"), "restricted_prefix", "RCN-8"),  # EAN-8 with 0 that is no UPC-E
        (with_check("000002012345"), "restricted_prefix", "RCN-8"),  # that EAN-8 written long
        (with_check("981234567890"), "coupon_prefix", "coupon"),
        (with_check("980000001234"), "coupon_prefix", "refund"),
        (with_check("995123456789"), "coupon_prefix", "coupon"),
        (with_check("952012345678"), "reserved_prefix", "demonstration"),
        (with_check("051234567890"), "reserved_prefix", "reserved"),
    ],
)
def test_codes_that_are_never_products_are_rejected_by_prefix(cell: str, reason: str, words: str) -> None:
    parsed = parse_code(cell)
    assert (parsed.valid, parsed.reason, parsed.gtin) == (False, reason, None)
    assert parsed.message is not None and words in parsed.message and parsed.message.endswith(".")


@pytest.mark.parametrize("cell", [True, False, -3017620422003, 1.5, date(2024, 3, 1), float("inf")])
def test_booleans_dates_negative_and_fractional_numbers_are_not_codes(cell: object) -> None:
    assert parse_code(cell).reason == "not_a_code"


def test_an_invalid_result_never_carries_a_gtin_and_a_valid_one_always_has_fourteen_digits() -> None:
    for cell in ["3017620422003", "3017620422004", "2000000000008", "", "abc", "04252614", "0306406152"]:
        parsed = parse_code(cell)
        assert (parsed.gtin is not None) == parsed.valid
        assert (parsed.reason is None) == parsed.valid
        if parsed.gtin is not None:
            assert len(parsed.gtin) == 14 and parsed.gtin.isdigit()


# --- gtin14 and ASINs ----------------------------------------------------------------------------------

def test_gtin14_left_pads_and_refuses_what_is_not_a_digit_string() -> None:
    assert gtin14("036000291452") == "00036000291452"
    assert gtin14("96385074") == "00000096385074"
    for bad in ("", "12a4", "123456789012345"):
        with pytest.raises(ValueError, match="not a GTIN digit string"):
            gtin14(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("B00EXAMPLE", True), ("B0CX23V2ZK", True), ("080442957X", True), ("0306406152", True),
     ("0306406153", False), ("b0cx23v2zk", False), ("B0CX23V2Z", False), ("A0CX23V2ZK", False),
     ("B0CX23V2Z!", False), ("1234567890", False)],
)
def test_is_valid_asin_accepts_b0_asins_and_isbn10s_only(value: str, expected: bool) -> None:
    assert is_valid_asin(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" b0cx23v2zk ", "B0CX23V2ZK"), ("'B0CX23V2ZK", "B0CX23V2ZK"), ("0-8044-2957-x", "080442957X"),
     ("B0CX23V2Z", None), (None, None), (True, None), (3017620422003, None), ("", None)],
)
def test_normalise_asin_cleans_and_upper_cases_or_returns_none(value: object, expected: str | None) -> None:
    assert normalise_asin(value) == expected


# --- the real Open Food Facts sample -------------------------------------------------------------------

def test_open_food_facts_barcodes_all_parse_with_sane_verdicts() -> None:
    assert OFF_FILE.is_file(), f"test data missing: {OFF_FILE}"
    with OFF_FILE.open(newline="", encoding="utf-8") as handle:
        cells = [row[0] for row in csv.reader(handle)][1:]
    assert len(cells) == 4920
    results = [parse_code(cell) for cell in cells]
    reasons = Counter(result.reason for result in results)
    assert set(reasons) <= REASONS | {None}
    assert reasons[None] / len(results) > 0.8  # a food database is mostly real products
    for cell, result in zip(cells, results, strict=True):
        if result.valid:
            assert result.gtin is not None and len(result.gtin) == 14
            assert oracle_gs1_check(result.gtin[:13]) == result.gtin[13], cell
        # every well-formed in-store EAN-13 (2xx) is rejected for its prefix, never accepted
        if len(cell) == 13 and cell[0] == "2" and oracle_gs1_check(cell[:12]) == cell[12]:
            assert result.reason == "restricted_prefix", cell
        # a 13-digit code with a wrong check digit is rejected as such, never repaired
        if len(cell) == 13 and oracle_gs1_check(cell[:12]) != cell[12]:
            assert result.reason == "check_digit", cell
    assert reasons["restricted_prefix"] > 400  # the sample holds hundreds of 02x/2xx store labels
    assert 0 < reasons["check_digit"] < 0.05 * len(results)


def test_a_numeric_cell_keeps_what_the_user_typed_as_its_input_code() -> None:
    # Excel stores a typed 3615366690252 as the float 3615366690252.0: the user never typed ".0"
    parsed = parse_code(3615366690252.0)
    assert parsed.raw == "3615366690252" and parsed.gtin == "03615366690252"
    assert parse_code(36000291452.0).raw == "36000291452"
    assert parse_code(3615366690252).raw == "3615366690252"
