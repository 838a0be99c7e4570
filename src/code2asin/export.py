"""Results to ``.xlsx`` or ``.csv``: one row per input data row, in input order (the results contract).

Sheet ``Results``: the contract's columns, then the input's own columns under their original headers; an
input header equal to one of ours (``gtin``, ``Status``, ... in any case) becomes ``gtin (input)``, so no
two headers are alike. The input's cells keep their type: numbers stay numbers, dates stay dates.
Sheet ``Summary``: the statistics tiles. Codes are written as text so Excel never turns them back into
numbers; every text cell that a spreadsheet could read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR)
is neutralised: in xlsx it is a string cell with Excel's quote prefix, in CSV it gets a leading ``'``.
Rows are streamed from the database and written in xlsxwriter's constant-memory mode.

A job on several marketplaces (see ``write_results``) keeps that promise once per marketplace: sheet
``Available on`` first (one row per input row: where it was found, and each marketplace's status, ASIN and
price side by side), then one sheet ``Results FR``, ``Results DE``, ... per marketplace, each exactly the
contract's columns with one row per input row in input order, then ``Summary``. One sheet per marketplace
rather than a ``marketplace`` column because a seller (and a VLOOKUP) expects row N of a results sheet to
be row N of the input; a CSV has no sheets, so it gets ``marketplace`` and ``available_on`` columns after
``row`` and one line per row and marketplace.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from code2asin import cells as cells_json
from code2asin.tiles import Tile

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
        "found_on_count",
    }
)

#: a several-marketplace CSV: one line per input row and marketplace
MULTI_CSV_COLUMNS: tuple[str, ...] = ("row", "marketplace", "available_on", *RESULT_COLUMNS[1:])
OVERVIEW_SHEET = "Available on"
#: the overview's identity columns, then these per marketplace (``FR status``, ``FR asin``, ...)
OVERVIEW_ID_COLUMNS: tuple[str, ...] = ("row", "input_code", "code_type", "gtin", "product_ean")
OVERVIEW_MARKET_COLUMNS: tuple[str, ...] = ("status", "asin", "match_type", "amazon_price", "amazon_currency")

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
LIST_SEPARATOR = "|"


def distinct_headers(ours: Sequence[str], theirs: Sequence[str]) -> list[str]:
    """The input's headers as written after ``ours``: one that another header already has (ours, or an
    earlier input header; in any case and spacing) is renamed visibly, ``gtin`` -> ``gtin (input)``, then
    ``(input 2)``, ... never taking a name the file itself uses, so no two headers of a sheet are alike."""

    def key(header: str) -> str:
        return " ".join(header.split()).casefold()

    taken = {key(h) for h in ours}
    reserved = {key(h) for h in theirs} - taken  # the file's own names stay theirs
    named: list[str] = []
    for header in theirs:
        shown, n = header, 1
        while key(shown) in taken or (shown is not header and key(shown) in reserved):
            shown = f"{header} (input)" if n == 1 else f"{header} (input {n})"
            n += 1
        taken.add(key(shown))
        named.append(shown)
    return named


def results_filename(source_filename: str, suffix: str = ".xlsx") -> str:
    """``fournisseur.csv`` -> ``fournisseur.results.xlsx``: the one name a results file gets everywhere."""
    stem = Path(source_filename).stem or "results"
    return f"{stem}.results{suffix}"


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
    tiles: Sequence[Tile] | Callable[[], Sequence[Tile]],
    extra_summary: Sequence[Tile] = (),
    marketplaces: Sequence[str] = (),
) -> int:
    """Write ``rows`` (mappings with the contract's keys plus ``input_values``) to ``path``.

    The format follows the suffix (``.xlsx`` or ``.csv``). With several ``marketplaces`` the rows also
    carry ``marketplace`` and come in input-row order (a row's marketplaces next to each other); see the
    module's docstring for the layout. Returns the number of input rows written.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ValueError(f"Unsupported output format {path.suffix!r}: use .xlsx or .csv.")
    path.parent.mkdir(parents=True, exist_ok=True)

    def summary() -> list[Tile]:  # after the rows: a caller may count while they stream (``check``)
        return [*(tiles() if callable(tiles) else tiles), *extra_summary]

    if len(marketplaces) > 1:
        groups = _by_input_row(rows, marketplaces)
        if suffix == ".csv":
            return _write_csv(path, _flattened(groups), input_headers, MULTI_CSV_COLUMNS)
        return _write_xlsx_multi(path, groups, input_headers, summary, marketplaces)
    if suffix == ".csv":
        return _write_csv(path, rows, input_headers)
    return _write_xlsx(path, rows, input_headers, summary)


def _by_input_row(
    rows: Iterable[Mapping[str, Any]], marketplaces: Sequence[str]
) -> Iterator[list[Mapping[str, Any]]]:
    """Group consecutive rows of one input row, in ``marketplaces`` order, each with ``available_on``."""
    order = {m: k for k, m in enumerate(marketplaces)}

    def done(group: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        group.sort(key=lambda r: order.get(r.get("marketplace") or "", len(order)))
        found = format_list(r.get("marketplace") for r in group if r.get("status") == "matched")
        return [{**r, "available_on": found} for r in group]

    group: list[Mapping[str, Any]] = []
    for row in rows:
        if group and row.get("row") != group[0].get("row"):
            yield done(group)
            group = []
        group.append(row)
    if group:
        yield done(group)


class _Counted:
    """Rows of grouped input rows, counting the input rows (what ``write_results`` returns)."""

    def __init__(self, groups: Iterable[list[Mapping[str, Any]]]) -> None:
        self.groups = groups
        self.count = 0

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        for group in self.groups:
            self.count += 1
            yield from group


def _flattened(groups: Iterable[list[Mapping[str, Any]]]) -> _Counted:
    return _Counted(groups)


def _cells(
    row: Mapping[str, Any], n_inputs: int, columns: Sequence[str] = RESULT_COLUMNS
) -> Iterator[tuple[str, Any]]:
    for name in columns:
        yield name, row.get(name)
    values = list(row.get("input_values") or ())
    values += [""] * (n_inputs - len(values))
    for value in values[:n_inputs]:
        yield "", value


def _write_csv(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    input_headers: Sequence[str],
    columns: Sequence[str] = RESULT_COLUMNS,
) -> int:
    count = 0
    # UTF-8 with BOM so Excel opens accents correctly
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, *(neutralise_csv(h) for h in distinct_headers(columns, input_headers))])
        for row in rows:
            out: list[str] = []
            for name, value in _cells(row, len(input_headers), columns):
                if value is None:
                    out.append("")
                elif name in NUMERIC_COLUMNS:
                    out.append(str(value))
                else:
                    out.append(neutralise_csv(value if isinstance(value, str) else cells_json.as_text(value)))
            writer.writerow(out)
            count += 1
    return rows.count if isinstance(rows, _Counted) else count


class _Book:
    """An xlsxwriter workbook in constant-memory mode with the formats every sheet uses."""

    def __init__(self, path: Path) -> None:
        self.workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        self.header = self.workbook.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
        self.quoted = self.workbook.add_format({"quote_prefix": True})
        self.confidence = self.workbook.add_format({"num_format": "0.00"})
        self.count = self.workbook.add_format({"num_format": "#,##0"})
        # Excel's General format shows 12+ digit integers (a code typed as a number) as 3.61537E+12
        self.whole = self.workbook.add_format({"num_format": "0"})
        self.date = self.workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = self.workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.time = self.workbook.add_format({"num_format": "hh:mm:ss"})
        self.percent = self.workbook.add_format({"num_format": "0.0%"})

    def sheet(self, name: str, headers: Sequence[str]) -> Any:
        sheet = self.workbook.add_worksheet(name)
        for col, header in enumerate(headers):
            sheet.write_string(0, col, header, self.header)
        sheet.freeze_panes(1, 0)
        return sheet

    def results_sheet(self, name: str, input_headers: Sequence[str]) -> Any:
        sheet = self.sheet(name, [*RESULT_COLUMNS, *distinct_headers(RESULT_COLUMNS, input_headers)])
        sheet.set_column(0, 0, 7)
        sheet.set_column(1, 4, 16)
        sheet.set_column(9, 9, 40)
        return sheet

    def write_row(self, sheet: Any, r: int, cells: Iterable[tuple[str, Any]]) -> None:
        """Numbers as numbers, everything else as text (formula-like text quote-prefixed); the input's own
        cells (no name) keep their type."""
        for col, (name, value) in enumerate(cells):
            if value is None or value == "":
                continue
            if not name and not isinstance(value, str):
                self._typed(sheet, r, col, cells_json.from_json(value))
                continue
            if name in NUMERIC_COLUMNS:
                number = _number(value)
                if number is not None:
                    fmt = self.confidence if name == "match_confidence" else None
                    sheet.write_number(r, col, number, fmt)
                continue
            self._text(sheet, r, col, str(value))

    def _text(self, sheet: Any, r: int, col: int, text: str) -> None:
        if is_formula_like(text):
            sheet.write_string(r, col, text, self.quoted)
        else:
            sheet.write_string(r, col, text)

    def _typed(self, sheet: Any, r: int, col: int, value: Any) -> None:
        if isinstance(value, bool):
            sheet.write_boolean(r, col, value)
        elif isinstance(value, int):
            sheet.write_number(r, col, value, self.whole if abs(value) >= 10**11 else None)
        elif isinstance(value, float):
            sheet.write_number(r, col, value)
        elif isinstance(value, dt.datetime):
            sheet.write_datetime(r, col, value.replace(tzinfo=None), self.datetime)
        elif isinstance(value, dt.date):
            sheet.write_datetime(r, col, dt.datetime.combine(value, dt.time()), self.date)
        elif isinstance(value, dt.time):
            sheet.write_datetime(r, col, value, self.time)
        elif value is not None:
            self._text(sheet, r, col, str(value))

    def summary(self, summary: Sequence[Tile]) -> None:
        """Counts and shares as numbers (with number formats), other lines as text."""
        sheet = self.sheet("Summary", ["Tile", "Value"])
        sheet.set_column(0, 0, 32)
        sheet.set_column(1, 1, 40)
        for i, tile in enumerate(summary, start=1):
            if isinstance(tile.value, int | float) and tile.unit != "text":
                self.write_row(sheet, i, [("", tile.label)])
                sheet.write_number(i, 1, tile.value, self.percent if tile.unit == "percent" else self.count)
            else:
                self.write_row(sheet, i, [("", tile.label), ("", tile.value)])

    def close(self) -> None:
        self.workbook.close()


def _write_xlsx(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    input_headers: Sequence[str],
    summary: Callable[[], Sequence[Tile]],
) -> int:
    book = _Book(path)
    try:
        sheet = book.results_sheet("Results", input_headers)
        count = 0
        n_inputs = len(input_headers)
        for count, row in enumerate(rows, start=1):
            book.write_row(sheet, count, _cells(row, n_inputs))
        book.summary(summary())
    finally:
        book.close()
    return count


def _overview_cells(
    group: list[Mapping[str, Any]], marketplaces: Sequence[str], n_inputs: int
) -> Iterator[tuple[str, Any]]:
    first = group[0]
    by_market = {r.get("marketplace"): r for r in group}
    for name in OVERVIEW_ID_COLUMNS:
        yield name, first.get(name)
    yield "available_on", first.get("available_on")
    yield "found_on_count", sum(1 for r in group if r.get("status") == "matched")
    for market in marketplaces:
        result = by_market.get(market, {})
        for name in OVERVIEW_MARKET_COLUMNS:
            yield name, result.get(name)
    yield "supplier_price", first.get("supplier_price")
    values = list(first.get("input_values") or ())
    values += [""] * (n_inputs - len(values))
    for value in values[:n_inputs]:
        yield "", value


def _write_xlsx_multi(
    path: Path,
    groups: Iterable[list[Mapping[str, Any]]],
    input_headers: Sequence[str],
    summary: Callable[[], Sequence[Tile]],
    marketplaces: Sequence[str],
) -> int:
    book = _Book(path)
    try:
        ours = [
            *OVERVIEW_ID_COLUMNS,
            "available_on",
            "found_on_count",
            *(f"{m} {name}" for m in marketplaces for name in OVERVIEW_MARKET_COLUMNS),
            "supplier_price",
        ]
        overview = book.sheet(OVERVIEW_SHEET, [*ours, *distinct_headers(ours, input_headers)])
        overview.set_column(0, 0, 7)
        overview.set_column(1, 5, 16)
        # constant-memory mode writes each sheet row by row; the sheets may take turns
        sheets = {m: book.results_sheet(f"Results {m}", input_headers) for m in marketplaces}
        count = 0
        n_inputs = len(input_headers)
        for count, group in enumerate(groups, start=1):
            book.write_row(overview, count, _overview_cells(group, marketplaces, n_inputs))
            for result in group:
                sheet = sheets.get(result.get("marketplace") or "")
                if sheet is not None:
                    book.write_row(sheet, count, _cells(result, n_inputs))
        book.summary(summary())
    finally:
        book.close()
    return count
