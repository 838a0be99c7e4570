"""The table ``ingest.open_table`` returns: its limits, column map and rows, streamed from the file.

Every cell is kept as text exactly as the file holds it, plus typed as a JSON value (``code2asin.cells``).
Blank rows (every cell empty or spaces) are not data rows: they are skipped and ``row_no`` counts only the
data rows that remain, so row N of the results is the N-th non-blank row under the header.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from code2asin import cells as cells_json
from code2asin.errors import IngestError

# Each call re-reads the file: (every cell as text, the raw cells) per physical row.
_RowSource = Callable[[], Iterator[tuple[list[str], Sequence[object]]]]


@dataclass(frozen=True)
class IngestLimits:
    """Ceilings that protect the service from huge or hostile files."""

    max_bytes: int = 100 * 1024 * 1024
    max_rows: int = 1_000_000
    max_columns: int = 500
    max_uncompressed_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """0-based indexes of the columns Code2ASIN uses."""

    code: int
    title: int | None = None
    price: int | None = None
    sku: int | None = None
    asin: int | None = None
    brand: int | None = None


@dataclass(frozen=True, slots=True)
class InputRow:
    """One data row; ``values`` holds every cell as text, padded to the header width, and ``cells`` the
    same cells typed as JSON values (``code2asin.cells``): what goes back into the results file."""

    row_no: int
    values: tuple[str, ...]
    code_value: object
    title: str | None
    price: Decimal | None
    price_raw: str | None
    sku: str | None
    asin: str | None
    cells: tuple[Any, ...] = ()
    brand: str | None = None


@dataclass
class InputTable:
    """A detected table; ``rows()`` re-reads the file on each call and streams its data rows."""

    path: Path
    file_format: str
    sheet_name: str | None
    encoding: str | None
    delimiter: str | None  # None for a one-column text file (nothing to split on)
    header_row: int | None
    headers: list[str]
    columns: ColumnMap
    limits: IngestLimits = field(default_factory=IngestLimits, repr=False)
    _raw_rows: _RowSource = field(default=lambda: iter(()), repr=False, compare=False)

    def rows(self) -> Iterator[InputRow]:
        """Yield the data rows under the header; raise ``IngestError`` past ``limits.max_rows``."""
        cols, width, limits = self.columns, len(self.headers), self.limits
        first = -1 if self.header_row is None else self.header_row
        decimal_comma = self.delimiter != ","
        text_columns = {i for i in (cols.code, cols.sku, cols.asin) if i is not None}
        row_no = 0
        for phys, (texts, raw) in enumerate(self._raw_rows()):
            if phys <= first or not "".join(texts).strip():
                continue
            row_no += 1
            if row_no > limits.max_rows:
                raise IngestError(f"{self.path.name} has more than {limits.max_rows:,} data rows, the limit.")
            if len(texts) > limits.max_columns:
                raise IngestError(f"Row {row_no} of {self.path.name} has more than "
                                  f"{limits.max_columns} columns, the limit.")
            if self.file_format == "csv":
                # a CSV's codes, SKUs and ASINs stay text (an EAN-8 is not a quantity)
                typed = [t if n in text_columns else cells_json.from_text(t, decimal_comma=decimal_comma)
                         for n, t in enumerate(texts)]
            else:
                typed = [cells_json.to_json(c) for c in raw]
            if len(texts) < width:
                texts.extend([""] * (width - len(texts)))
            if len(typed) < width:
                typed.extend([""] * (width - len(typed)))
            price_raw = _opt(texts, cols.price)
            yield InputRow(row_no, tuple(texts), raw[cols.code] if cols.code < len(raw) else "",
                           _opt(texts, cols.title), parse_price(price_raw) if price_raw else None,
                           price_raw, _opt(texts, cols.sku), _opt(texts, cols.asin), tuple(typed),
                           _opt(texts, cols.brand))


def _opt(texts: list[str], idx: int | None) -> str | None:
    return (texts[idx].strip() or None) if idx is not None else None


_PRICE_NOISE = re.compile(r"[€$£\s\u00a0\u202f']|EUR|USD|GBP|CHF|HT|TTC", re.IGNORECASE)
_PRICE_SHAPE = re.compile(r"[-+]?\d[\d.,]*")
_GROUPED = re.compile(r"[-+]?\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*")


@lru_cache(maxsize=16384)  # a price list repeats the same few hundred prices; Decimal is immutable
def parse_price(text: str) -> Decimal | None:
    """Parse a supplier price ("12,50 €", "€12.50", "1 234,56", "1.234,56") or return None.

    A lone separator is the decimal mark; with both ',' and '.', the last one is; a repeated one
    groups thousands.
    """
    t = _PRICE_NOISE.sub("", text)
    if not _PRICE_SHAPE.fullmatch(t):
        return None
    last = max(t.rfind(","), t.rfind("."))
    whole, frac = t, ""
    if last >= 0 and (("," in t and "." in t) or t.count(t[last]) == 1):
        whole, frac = t[:last], t[last + 1:]
    if ("," in whole or "." in whole) and not _GROUPED.fullmatch(whole):
        return None
    try:
        return Decimal(whole.replace(",", "").replace(".", "") + ("." + frac if frac else ""))
    except InvalidOperation:  # pragma: no cover - the shape check leaves only digits and a sign
        return None


