"""An input cell's value as JSON and back, keeping its type (pure).

A supplier's own columns go back into the results file as they came: numbers as numbers, yes/no as
yes/no, dates as dates, text as text. Items store them as JSON, which has no dates, so a date travels as
``{"date": "2026-12-05"}`` (also ``datetime``, ``time``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

_EXACT_FLOAT = 2**53
# A CSV has no types: a cell is a number only when it plainly is one. Whole numbers of up to 10 digits
# without a leading zero (longer digit strings are codes, phone numbers, references), decimals with one
# separator; anything else (grouping, units, exponents, leading zeros) stays the text it is.
_CSV_INTEGER = re.compile(r"[-+]?(?:0|[1-9]\d{0,9})")
_CSV_DECIMAL_POINT = re.compile(r"[-+]?(?:0|[1-9]\d{0,11})\.\d{1,10}")
_CSV_DECIMAL_COMMA = re.compile(r"[-+]?(?:0|[1-9]\d{0,11}),\d{1,10}")


_DATE_KINDS: tuple[tuple[type, str], ...] = ((dt.datetime, "datetime"), (dt.date, "date"), (dt.time, "time"))


def to_json(cell: object) -> Any:
    """A cell as read from a workbook (or CSV text) -> a JSON value that keeps its type."""
    if isinstance(cell, Decimal):
        cell = float(cell)
    if isinstance(cell, float):
        if not math.isfinite(cell):
            return None
        # a whole number Excel stored as a float is the integer the user typed (10, not 10.0)
        return int(cell) if cell.is_integer() and abs(cell) < _EXACT_FLOAT else cell
    if isinstance(cell, dt.date | dt.time):  # a datetime is also a date: the first kind that fits
        return {next(n for k, n in _DATE_KINDS if isinstance(cell, k)): cell.isoformat()}
    if cell is None or isinstance(cell, str | bool | int):
        return cell
    return str(cell)


def from_text(text: str, *, decimal_comma: bool) -> str | int | float:
    """A CSV cell -> an ``int`` or ``float`` when it plainly is one, else the text unchanged.

    ``decimal_comma``: a comma is a decimal separator (a file whose columns are not split on commas)."""
    shown = text.strip()
    if _CSV_INTEGER.fullmatch(shown):
        return int(shown)
    if _CSV_DECIMAL_POINT.fullmatch(shown):
        return float(shown)
    if decimal_comma and _CSV_DECIMAL_COMMA.fullmatch(shown):
        return float(shown.replace(",", "."))
    return text


def from_json(value: Any) -> Any:
    """A stored JSON value -> the Python value to write (``str``, ``int``, ``float``, ``bool``, a date)."""
    if isinstance(value, dict) and len(value) == 1:
        kind, text = next(iter(value.items()))
        try:
            if kind == "datetime":
                return dt.datetime.fromisoformat(text)
            if kind == "date":
                return dt.date.fromisoformat(text)
            if kind == "time":
                return dt.time.fromisoformat(text)
        except (TypeError, ValueError):
            return str(text)
    if isinstance(value, dict | list):
        return str(value)
    return value


def as_text(value: Any) -> str:
    """How a CSV (which has no types) writes a cell."""
    shown = from_json(value)
    if shown is None:
        return ""
    if isinstance(shown, bool):
        return "TRUE" if shown else "FALSE"
    if isinstance(shown, dt.date | dt.time):
        return shown.isoformat()
    return str(shown)
