from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from code2asin.export import RESULT_COLUMNS, distinct_headers, results_filename, write_results
from code2asin.tiles import Tile

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
    count = write_results(path, _rows(), ["Code EAN", "Désignation", "Prix"], [Tile("Total Codes", 7)])
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
    assert wb["Summary"]["B2"].value == 7 and wb["Summary"]["B2"].data_type == "n"


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
        path,
        _market_rows(),
        ["EAN", "Désignation"],
        [Tile("Total Codes", 9)],
        marketplaces=["FR", "DE", "IT"],
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


# --- a workbook a catalogue manager can trust (issue 12) --------------------------------------------------


def test_summary_counts_and_shares_are_numbers_with_number_formats(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    tiles = [Tile("Total Codes", 12345), Tile("Avg Confidence", 0.9466, "percent")]
    tiles.append(Tile("Job", "abc", "text"))
    write_results(path, _rows(), ["Code EAN", "Désignation", "Prix"], tiles, [Tile("Failed", 0)])
    ws = openpyxl.load_workbook(path)["Summary"]
    values = {row[0].value: row[1] for row in ws.iter_rows(min_row=2)}
    assert values["Total Codes"].value == 12345 and values["Total Codes"].number_format == "#,##0"
    assert values["Avg Confidence"].value == pytest.approx(0.9466)
    assert values["Avg Confidence"].number_format == "0.0%"
    assert values["Failed"].value == 0 and values["Failed"].data_type == "n"
    assert values["Job"].value == "abc" and values["Job"].data_type == "s"


def test_input_headers_that_collide_with_ours_are_renamed_visibly_in_xlsx_and_csv(tmp_path: Path) -> None:
    headers = ["ROW", "gtin", " Status ", "asin", "Désignation", "gtin (input)", "Prix"]
    expected = ["ROW (input)", "gtin (input 2)", " Status  (input)", "asin (input)", "Désignation",
                "gtin (input)", "Prix"]
    # "gtin (input)" is the file's own header: the renamed "gtin" must not take it
    assert distinct_headers(RESULT_COLUMNS, headers) == expected
    assert distinct_headers([], ["Prix", "prix", "Prix "]) == ["Prix", "prix (input)", "Prix  (input 2)"]
    rows = [{**_rows()[0], "input_values": ["1", "x", "ok", "B0", "Nutella", "y", "3"]}]
    xlsx = tmp_path / "out.xlsx"
    write_results(xlsx, rows, headers, [])
    header = [c.value for c in openpyxl.load_workbook(xlsx)["Results"][1]]
    assert len({str(h).strip().casefold() for h in header}) == len(header)
    assert header[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    csv_path = tmp_path / "out.csv"
    write_results(csv_path, rows, headers, [])
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        csv_header = next(csv.reader(handle))
    assert len({h.strip().casefold() for h in csv_header}) == len(csv_header)
    assert csv_header[len(RESULT_COLUMNS):] == header[len(RESULT_COLUMNS):]


def test_the_inputs_own_cells_keep_their_type(tmp_path: Path) -> None:
    import datetime as dt

    values = ["3615366690252", 10, 32.47, True, {"date": "2026-11-30"}, "0036000291452", "=1+1"]
    rows = [{**_rows()[0], "input_values": values}]
    path = tmp_path / "out.xlsx"
    write_results(path, rows, ["EAN", "Qté", "Prix", "Actif", "Date", "UPC", "Note"], [])
    cells = list(openpyxl.load_workbook(path)["Results"][2])[len(RESULT_COLUMNS):]
    assert [c.value for c in cells[:4]] == ["3615366690252", 10, pytest.approx(32.47), True]
    assert [c.data_type for c in cells[:4]] == ["s", "n", "n", "b"]
    assert cells[4].value == dt.datetime(2026, 11, 30) and cells[4].is_date
    assert cells[5].value == "0036000291452" and cells[5].data_type == "s"
    assert cells[6].value == "=1+1" and cells[6].data_type == "s" and cells[6].quotePrefix
    csv_path = tmp_path / "out.csv"
    write_results(csv_path, rows, ["EAN", "Qté", "Prix", "Actif", "Date", "UPC", "Note"], [])
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        line = list(csv.reader(handle))[1][len(RESULT_COLUMNS):]
    assert line == ["3615366690252", "10", "32.47", "TRUE", "2026-11-30", "0036000291452", "'=1+1"]


@pytest.mark.parametrize(("source", "suffix", "name"), [
    ("fournisseur.csv", ".xlsx", "fournisseur.results.xlsx"),
    ("fournisseur_fr.csv", ".csv", "fournisseur_fr.results.csv"),
    ("Tarif 2026.v2.xlsx", ".xlsx", "Tarif 2026.v2.results.xlsx"),
    ("", ".xlsx", "results.results.xlsx"),
])
def test_a_results_file_is_named_after_its_source_without_the_extension(
    source: str, suffix: str, name: str
) -> None:
    assert results_filename(source, suffix) == name
