from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from code2asin.export import RESULT_COLUMNS, write_results

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n, title in enumerate(["Nutella 400 g", *HOSTILE], start=1):
        rows.append(
            {
                "row": n,
                "input_code": "0036000291452" if n == 1 else "3017620422003",
                "gtin": "00036000291452",
                "status": "matched",
                "asin": "B00KWB94LS",
                "match_confidence": 0.98,
                "amazon_title": title,
                "amazon_price": Decimal("5.99"),
                "candidate_asins": "B00KWB94LS (exact 0.98)|B000000002 (partial 0.80)",
                "input_values": ["0036000291452", title, "12,50"],
            }
        )
    return rows


def test_xlsx_has_contract_columns_text_codes_and_no_formula_cells(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    count = write_results(path, _rows(), ["Code EAN", "Désignation", "Prix"], [("Total Codes", "7")])
    assert count == 7
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Results", "Summary"]
    ws = wb["Results"]
    header = [c.value for c in ws[1]]
    assert header == [*RESULT_COLUMNS, "Code EAN", "Désignation", "Prix"]
    assert ws.max_row == 1 + 7
    codes = [ws.cell(row=r, column=2) for r in range(2, 9)]
    assert all(c.data_type == "s" for c in codes)
    assert codes[0].value == "0036000291452"
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f"
    titles = [ws.cell(row=r, column=RESULT_COLUMNS.index("amazon_title") + 1) for r in range(3, 9)]
    # openpyxl does not decode Excel's _x000D_ escape of a carriage return; Excel and calamine do
    assert [str(c.value).replace("_x000D_", "\r") for c in titles] == HOSTILE
    assert all(c.quotePrefix for c in titles)
    assert ws.cell(row=2, column=RESULT_COLUMNS.index("amazon_price") + 1).value == pytest.approx(5.99)
    assert wb["Summary"]["A2"].value == "Total Codes"


def test_csv_is_utf8_with_bom_and_neutralises_formulas(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_results(path, _rows(), ["Code EAN", "Désignation", "Prix"], [])
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][-2] == "Désignation"
    assert len(rows) == 8
    title_col = RESULT_COLUMNS.index("amazon_title")
    for row in rows[2:]:
        assert row[title_col].startswith("'")
        assert row[-2].startswith("'")
    assert rows[1][1] == "0036000291452"


def test_unknown_output_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"use \.xlsx or \.csv"):
        write_results(tmp_path / "out.ods", [], [], [])
