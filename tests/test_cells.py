"""Input cells keep their type: JSON both ways, and a CSV's text read back as the number it shows."""

from __future__ import annotations

import datetime as dt

import pytest

from code2asin import cells


@pytest.mark.parametrize(
    ("text", "comma", "expected"),
    [
        ("10", False, 10),
        ("-3", False, -3),
        ("0", False, 0),
        ("32.47", False, 32.47),
        ("32,47", True, 32.47),
        ("0.5", False, 0.5),
        (" 12 ", False, 12),
        # text stays text: codes, leading zeros, long digit strings, grouping, units, empty
        ("32,47", False, "32,47"),
        ("0036000291452", False, "0036000291452"),
        ("3017620422003", False, "3017620422003"),
        ("012", False, "012"),
        ("1,234.5", False, "1,234.5"),
        ("1.2.3", False, "1.2.3"),
        ("12 €", False, "12 €"),
        ("1e5", False, "1e5"),
        ("", False, ""),
        ("B00KWB94LS", False, "B00KWB94LS"),
        ("12345678901", False, "12345678901"),
    ],
)
def test_csv_text_becomes_a_number_only_when_it_plainly_is_one(
    text: str, comma: bool, expected: object
) -> None:
    value = cells.from_text(text, decimal_comma=comma)
    assert value == expected and type(value) is type(expected)


def test_workbook_cells_round_trip_with_their_type() -> None:
    for cell, stored in [(3615366690252.0, 3615366690252), (32.47, 32.47), (True, True), ("x", "x"),
                         (dt.date(2026, 11, 30), {"date": "2026-11-30"})]:  # fmt: skip
        assert cells.to_json(cell) == stored
        whole = isinstance(cell, float) and cell.is_integer()
        assert cells.from_json(stored) == (int(cell) if whole else cell)
