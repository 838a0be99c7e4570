"""A tracker's prices to ``.xlsx`` or ``.csv``: one row per tracked product, from its newest observations.

Columns: ``gtin``, ``asin``, ``supplier_price``, ``latest_price``, ``currency``, ``previous_price``,
``change_percent``, ``price_difference_percent`` (blank when the currencies differ, with the reason in
``currency_mismatch``), ``in_stock`` and ``observed_at``. Text cells a spreadsheet could read as a
formula are neutralised with ``code2asin.export``'s helpers (quote prefix in xlsx, ``'`` in CSV).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from code2asin.db import Database
from code2asin.export import is_formula_like, neutralise_csv
from code2asin.pricing import reprice
from code2asin.pricing.models import PriceObservation

PRICE_COLUMNS: tuple[str, ...] = (
    "gtin",
    "asin",
    "supplier_price",
    "latest_price",
    "currency",
    "previous_price",
    "change_percent",
    "price_difference_percent",
    "currency_mismatch",
    "in_stock",
    "observed_at",
)
NUMERIC = frozenset(
    {"supplier_price", "latest_price", "previous_price", "change_percent", "price_difference_percent"}
)


def _when(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


def tracker_rows(session: Session, tracker_id: str) -> list[dict[str, Any]]:
    """One mapping per tracked product (sorted by GTIN) with the export's columns."""
    columns = reprice.tracker_price_columns(session, tracker_id)
    asins: dict[str, str] = {}
    for gtin, asin in session.execute(
        select(PriceObservation.gtin, PriceObservation.asin)
        .where(PriceObservation.tracker_id == tracker_id)
        .order_by(PriceObservation.observed_at, PriceObservation.id)
    ):
        asins[gtin] = asin  # the newest observation's ASIN wins
    rows: list[dict[str, Any]] = []
    for gtin, c in sorted(columns.items()):
        rows.append(
            {
                "gtin": gtin,
                "asin": asins.get(gtin),
                "supplier_price": c.supplier_price,
                "latest_price": c.latest_price,
                "currency": c.latest_currency,
                "previous_price": c.previous_price,
                "change_percent": c.change_percent,
                "price_difference_percent": c.price_difference_percent,
                "currency_mismatch": c.currency_mismatch,
                "in_stock": c.in_stock,
                "observed_at": c.observed_at,
            }
        )
    return rows


def _text(name: str, value: Any) -> str:
    if name == "observed_at":
        return _when(value) or ""
    if name == "in_stock":
        return "yes" if value else "no"
    return str(value)


def write_prices(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` to ``path`` (format by suffix: ``.xlsx`` or ``.csv``); returns the row count."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _write_csv(path, rows)
    if suffix == ".xlsx":
        return _write_xlsx(path, rows)
    raise ValueError(f"Unsupported output format {path.suffix!r}: use .xlsx or .csv.")


def _write_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PRICE_COLUMNS)
        for row in rows:
            out: list[str] = []
            for name in PRICE_COLUMNS:
                value = row.get(name)
                if value is None:
                    out.append("")
                elif name in NUMERIC:
                    out.append(str(value))
                else:
                    out.append(neutralise_csv(_text(name, value)))
            writer.writerow(out)
            count += 1
    return count


def _write_xlsx(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    count = 0
    try:
        header = workbook.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
        quoted = workbook.add_format({"quote_prefix": True})
        sheet = workbook.add_worksheet("Prices")
        for col, name in enumerate(PRICE_COLUMNS):
            sheet.write_string(0, col, name, header)
        sheet.freeze_panes(1, 0)
        sheet.set_column(0, 1, 16)
        sheet.set_column(8, 8, 40)
        sheet.set_column(10, 10, 26)
        for row in rows:
            count += 1
            for col, name in enumerate(PRICE_COLUMNS):
                value = row.get(name)
                if value is None or value == "":
                    continue
                if name in NUMERIC:
                    sheet.write_number(count, col, float(value))
                    continue
                text = _text(name, value)
                sheet.write_string(count, col, text, quoted if is_formula_like(text) else None)
    finally:
        workbook.close()
    return count


def export_tracker_prices(
    db: Database, tracker_id: str, suppliers: frozenset[str] | None, folder: Path, fmt: str
) -> Path:
    """Write the tracker's prices to ``folder/tracker-<id>.prices.<fmt>`` (``NotFoundError`` when the
    tracker is unknown or of a supplier outside ``suppliers``)."""
    from code2asin.pricing.service import get_tracker

    with db.sessions() as session:
        tracker = get_tracker(session, tracker_id, suppliers)
        rows = tracker_rows(session, tracker.id)
    path = folder / f"tracker-{tracker.id}.prices.{'csv' if fmt == 'csv' else 'xlsx'}"
    write_prices(path, rows)
    return path
