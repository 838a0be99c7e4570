"""Results to ``.xlsx`` or ``.csv``: one row per input data row, in input order (the results contract).

Sheet ``Results``: the contract's columns, then the input's own columns under their original headers.
Sheet ``Summary``: the statistics tiles. Codes are written as text so Excel never turns them back into
numbers; every text cell that a spreadsheet could read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR)
is neutralised: in xlsx it is a string cell with Excel's quote prefix, in CSV it gets a leading ``'``.
Rows are streamed from the database and written in xlsxwriter's constant-memory mode.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

RESULT_COLUMNS: tuple[str, ...] = (
    "row",
    "input_code",
    "code_type",
    "gtin",
    "product_ean",
    "status",
    "asin",
    "match_type",
    "match_confidence",
    "amazon_title",
    "amazon_brand",
    "amazon_price",
    "amazon_currency",
    "amazon_rating",
    "amazon_review_count",
    "amazon_sales_rank",
    "amazon_images",
    "stored_images",
    "detail_page_url",
    "candidate_asins",
    "supplier_price",
    "price_difference_percent",
    "error_type",
    "error_message",
)

#: columns written as numbers; everything else is text
NUMERIC_COLUMNS = frozenset(
    {
        "row",
        "match_confidence",
        "amazon_price",
        "amazon_rating",
        "amazon_review_count",
        "amazon_sales_rank",
        "supplier_price",
        "price_difference_percent",
    }
)

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
LIST_SEPARATOR = "|"


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def neutralise_csv(text: str) -> str:
    """Prefix text a spreadsheet would evaluate with ``'`` (OWASP CSV injection advice)."""
    return "'" + text if is_formula_like(text) else text


def format_list(values: Iterable[Any] | None) -> str:
    return LIST_SEPARATOR.join(str(v) for v in values or ())


def _number(value: Any) -> float | int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        return float(value)
    return None


def write_results(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    input_headers: Sequence[str],
    tiles: Sequence[tuple[str, str]],
    extra_summary: Sequence[tuple[str, str]] = (),
) -> int:
    """Write ``rows`` (mappings with the contract's keys plus ``input_values``) to ``path``.

    The format follows the suffix (``.xlsx`` or ``.csv``). Returns the number of data rows written.
    """
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        return _write_csv(path, rows, input_headers)
    if suffix == ".xlsx":
        return _write_xlsx(path, rows, input_headers, [*tiles, *extra_summary])
    raise ValueError(f"Unsupported output format {path.suffix!r}: use .xlsx or .csv.")


def _cells(row: Mapping[str, Any], n_inputs: int) -> Iterator[tuple[str, Any]]:
    for name in RESULT_COLUMNS:
        yield name, row.get(name)
    values = list(row.get("input_values") or ())
    values += [""] * (n_inputs - len(values))
    for value in values[:n_inputs]:
        yield "", value


def _write_csv(path: Path, rows: Iterable[Mapping[str, Any]], input_headers: Sequence[str]) -> int:
    count = 0
    # UTF-8 with BOM so Excel opens accents correctly
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*RESULT_COLUMNS, *(neutralise_csv(h) for h in input_headers)])
        for row in rows:
            out: list[str] = []
            for name, value in _cells(row, len(input_headers)):
                if value is None:
                    out.append("")
                elif name in NUMERIC_COLUMNS:
                    out.append(str(value))
                else:
                    out.append(neutralise_csv(str(value)))
            writer.writerow(out)
            count += 1
    return count


def _write_xlsx(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    input_headers: Sequence[str],
    summary: Sequence[tuple[str, str]],
) -> int:
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    try:
        header_fmt = workbook.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
        quoted = workbook.add_format({"quote_prefix": True})
        confidence_fmt = workbook.add_format({"num_format": "0.00"})
        sheet = workbook.add_worksheet("Results")
        headers = [*RESULT_COLUMNS, *input_headers]
        for col, name in enumerate(headers):
            sheet.write_string(0, col, name, header_fmt)
        sheet.freeze_panes(1, 0)
        sheet.set_column(0, 0, 7)
        sheet.set_column(1, 4, 16)
        sheet.set_column(9, 9, 40)
        count = 0
        n_inputs = len(input_headers)
        for row in rows:
            count += 1
            r = count
            for col, (name, value) in enumerate(_cells(row, n_inputs)):
                if value is None or value == "":
                    continue
                if name in NUMERIC_COLUMNS:
                    number = _number(value)
                    if number is not None:
                        fmt = confidence_fmt if name == "match_confidence" else None
                        sheet.write_number(r, col, number, fmt)
                    continue
                text = str(value)
                if is_formula_like(text):
                    sheet.write_string(r, col, text, quoted)
                else:
                    sheet.write_string(r, col, text)
        summary_sheet = workbook.add_worksheet("Summary")
        summary_sheet.write_string(0, 0, "Tile", header_fmt)
        summary_sheet.write_string(0, 1, "Value", header_fmt)
        summary_sheet.set_column(0, 0, 24)
        summary_sheet.set_column(1, 1, 40)
        for i, (label, value) in enumerate(summary, start=1):
            summary_sheet.write_string(i, 0, label)
            summary_sheet.write_string(i, 1, value, quoted if is_formula_like(value) else None)
    finally:
        workbook.close()
    return count
