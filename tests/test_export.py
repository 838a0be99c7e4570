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


def _market_rows() -> list[dict[str, object]]:
    """Three input rows on FR, DE, IT, in the database's order (row, then marketplace alphabetically)."""
    found = {  # (row, marketplace) -> (ASIN, price); missing means not found there
        (1, "FR"): ("B00FR00001", Decimal("10.00")),
        (1, "DE"): ("B00DE00001", Decimal("11.50")),
        (1, "IT"): ("B00FR00001", Decimal("9.90")),
        (2, "FR"): ("B00FR00002", Decimal("20.00")),
        (2, "IT"): ("B00FR00002", Decimal("21.00")),
    }
    rows: list[dict[str, object]] = []
    for n in (1, 2, 3):
        for market in sorted(("FR", "DE", "IT")):
            asin, price = found.get((n, market), (None, None))
            rows.append(
                {
                    "row": n,
                    "marketplace": market,
                    "input_code": f"301762042200{n}",
                    "status": "matched" if asin else "not_found",
                    "asin": asin,
                    "amazon_price": price,
                    "amazon_currency": "EUR" if asin else None,
                    "amazon_title": "=cmd()" if n == 1 else f"Produit {n}",
                    "input_values": [f"301762042200{n}", f"Désignation {n}"],
                }
            )
    return rows


def test_several_marketplaces_give_an_overview_then_a_contract_sheet_per_marketplace(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    count = write_results(
        path, _market_rows(), ["EAN", "Désignation"], [("Total Codes", "9")], marketplaces=["FR", "DE", "IT"]
    )
    assert count == 3
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Available on", "Results FR", "Results DE", "Results IT", "Summary"]
    for market in ("FR", "DE", "IT"):
        ws = wb[f"Results {market}"]
        assert [c.value for c in ws[1]] == [*RESULT_COLUMNS, "EAN", "Désignation"]
        # row N of every sheet is row N of the input
        assert [ws.cell(row=r, column=1).value for r in range(2, ws.max_row + 1)] == [1, 2, 3]
    asin_col = RESULT_COLUMNS.index("asin") + 1
    assert wb["Results DE"].cell(row=2, column=asin_col).value == "B00DE00001"
    assert wb["Results DE"].cell(row=3, column=RESULT_COLUMNS.index("status") + 1).value == "not_found"
    assert wb["Results FR"].cell(row=2, column=RESULT_COLUMNS.index("amazon_title") + 1).quotePrefix

    overview = wb["Available on"]
    header = [c.value for c in overview[1]]
    assert header[:5] == ["row", "input_code", "code_type", "gtin", "product_ean"]
    assert header[5:7] == ["available_on", "found_on_count"]
    assert header[7:12] == ["FR status", "FR asin", "FR match_type", "FR amazon_price", "FR amazon_currency"]
    assert header[-3:] == ["supplier_price", "EAN", "Désignation"]
    lines = {r[0]: dict(zip(header, r, strict=True)) for r in overview.iter_rows(min_row=2, values_only=True)}
    # the marketplaces in the job's order, not the database's
    assert lines[1]["available_on"] == "FR|DE|IT" and lines[1]["found_on_count"] == 3
    assert lines[2]["available_on"] == "FR|IT" and lines[2]["DE status"] == "not_found"
    assert lines[3]["available_on"] is None and lines[3]["found_on_count"] == 0
    assert lines[1]["DE asin"] == "B00DE00001" and lines[1]["IT amazon_price"] == pytest.approx(9.9)
    assert lines[2]["Désignation"] == "Désignation 2"


def test_several_marketplaces_in_csv_get_a_line_per_row_and_marketplace(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    count = write_results(path, _market_rows(), ["EAN", "Désignation"], [], marketplaces=["FR", "DE", "IT"])
    assert count == 3
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0][:3] == ["row", "marketplace", "available_on"]
    assert lines[0][3:] == [*RESULT_COLUMNS[1:], "EAN", "Désignation"]
    assert [(line[0], line[1], line[2]) for line in lines[1:4]] == [
        ("1", "FR", "FR|DE|IT"),
        ("1", "DE", "FR|DE|IT"),
        ("1", "IT", "FR|DE|IT"),
    ]
    assert len(lines) == 1 + 9
    title = lines[0].index("amazon_title")
    assert lines[1][title] == "'=cmd()"
