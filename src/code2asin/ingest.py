"""Read a supplier barcode file (CSV/TXT, XLSX, XLSM, XLS, ODS) as one table of input rows.

The file type comes from its content, never its extension (``ingest_sniff``). ``open_table`` finds the
sheet, the header row and the barcode column (``ingest_detect``), then ``InputTable.rows``
(``ingest_table``) streams the data rows. Numbers stored by a workbook are converted to text without
rounding, so a barcode stored as a number keeps all its digits.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from code2asin.errors import IngestError
from code2asin.ingest_detect import CONTENT_SAMPLE_ROWS, HEADER_SCAN_ROWS, _detect, _Detection, _quoted
from code2asin.ingest_sniff import _SAMPLE_BYTES, _sniff_delimiter, _text_encoding, _zip_format
from code2asin.ingest_table import IngestLimits, InputTable, _RowSource

__all__ = ["open_table"]

_SINGLE_COLUMN = "\x1f"  # never in supplier data: reads a one-column file without splitting "3,01762E+12"
_BINARY_MAGIC = {b"\x89PNG": "a PNG image", b"%PDF": "a PDF document", b"GIF8": "a GIF image",
                 b"\xff\xd8\xff": "a JPEG image", b"\x1f\x8b": "a gzip archive"}


def _cell_text(cell: object) -> str:
    """Text of a workbook cell, never rounded: 3017620422003.0 -> "3017620422003"."""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float):
        # Integral floats below 2**53 are exact integers; repr is the shortest text that round-trips.
        return str(int(cell)) if cell.is_integer() and abs(cell) < 2**53 else repr(cell)
    if isinstance(cell, dt.date | dt.time):
        return cell.isoformat()
    return str(cell)


def open_table(path: Path, *, code_column: str | None = None,
               limits: IngestLimits = IngestLimits()) -> InputTable:
    """Open a supplier file, detect its layout and return a table whose ``rows()`` streams the data.

    ``code_column`` names the barcode column by header text or 1-based number. Raises ``IngestError``
    with one sentence for the user when the file cannot be used.
    """
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(_SAMPLE_BYTES)
    except FileNotFoundError:
        raise IngestError(f"The file {name} does not exist.") from None
    except OSError as exc:
        raise IngestError(f"The file {name} cannot be read ({exc.strerror or exc}).") from None
    if size == 0 or not head.strip():
        raise IngestError(f"The file {name} is empty.")
    if size > limits.max_bytes:
        raise IngestError(f"The file {name} is {size / 2**20:.1f} MB, over the "
                          f"{limits.max_bytes / 2**20:.0f} MB limit.")
    if head.startswith(b"PK\x03\x04"):
        return _open_workbook(path, _zip_format(path, limits), code_column, limits)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return _open_workbook(path, "xls", code_column, limits)
    for magic, kind in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise IngestError(f"The file {name} is {kind}, not a CSV or Excel file.")
    return _open_text(path, head, code_column, limits)


def _open_workbook(path: Path, fmt: str, code_column: str | None, limits: IngestLimits) -> InputTable:
    name = path.name
    detections: list[tuple[tuple[float, ...], str, _Detection]] = []
    try:
        with CalamineWorkbook.from_path(str(path)) as wb:
            for meta in wb.sheets_metadata:
                if meta.typ != SheetTypeEnum.WorkSheet:
                    continue
                sheet = wb.get_sheet_by_name(meta.name)
                if sheet.width > limits.max_columns:
                    raise IngestError(f"Sheet {meta.name!r} of {name} has {sheet.width} columns, "
                                      f"over the limit of {limits.max_columns}.")
                sample = [[_cell_text(c) for c in r] for r in
                          islice(sheet.iter_rows(), HEADER_SCAN_ROWS + CONTENT_SAMPLE_ROWS)]
                try:
                    det = _detect(sample, code_column, f"sheet {meta.name!r} of {name}")
                except IngestError:
                    if len(wb.sheet_names) == 1:
                        raise
                    continue  # the named column may live on another sheet
                if det is not None:
                    visible = float(meta.visible == SheetVisibleEnum.Visible)
                    detections.append(((det.score[0], visible, *det.score[1:]), meta.name, det))
    except (CalamineError, ValueError, OSError) as exc:
        raise IngestError(f"The workbook {name} is damaged or protected and cannot be read ({exc}).") \
            from None
    if not detections:
        if code_column is not None:
            raise IngestError(f"Column {code_column!r} was not found in any sheet of {name}.")
        raise IngestError(f"The workbook {name} has no data in any sheet.")
    _, sheet_name, det = max(detections, key=lambda d: d[0])

    def raw_rows() -> Iterator[tuple[list[str], Sequence[object]]]:
        try:
            with CalamineWorkbook.from_path(str(path)) as wb:
                for raw in wb.get_sheet_by_name(sheet_name).iter_rows():
                    yield [c if type(c) is str else _cell_text(c) for c in raw], raw
        except CalamineError as exc:
            raise IngestError(f"The workbook {name} could not be read to the end ({exc}).") from None

    return _table(path, fmt, sheet=sheet_name, encoding=None, delimiter=None, det=det,
                  limits=limits, raw_rows=raw_rows)


def _table(path: Path, fmt: str, *, sheet: str | None, encoding: str | None, delimiter: str | None,
           det: _Detection, limits: IngestLimits, raw_rows: _RowSource) -> InputTable:
    if det.columns is None:
        raise IngestError(f"No barcode column found in {path.name}: the headers are {_quoted(det.headers)}. "
                          "Name the column with --code-column.")
    if len(det.headers) > limits.max_columns:
        raise IngestError(f"The file {path.name} has {len(det.headers)} columns, over the limit "
                          f"of {limits.max_columns}.")
    return InputTable(path, fmt, sheet, encoding, delimiter, det.header_row, det.headers, det.columns,
                      limits, raw_rows)


def _open_text(path: Path, head: bytes, code_column: str | None, limits: IngestLimits) -> InputTable:
    encoding = _text_encoding(path, head)
    errors = "code2asin_latin1" if encoding == "cp1252" else "strict"
    sample = head.decode(encoding, errors="ignore")
    if len(head) == _SAMPLE_BYTES:
        sample = sample.rsplit("\n", 1)[0]  # drop the cut-off last line
    delimiter = _sniff_delimiter(sample)

    def raw_rows() -> Iterator[tuple[list[str], Sequence[object]]]:
        try:
            with path.open(encoding=encoding, errors=errors, newline="") as f:
                for row in csv.reader(f, delimiter=delimiter or _SINGLE_COLUMN):
                    yield row, row
        except (csv.Error, UnicodeDecodeError, OSError) as exc:
            raise IngestError(f"The file {path.name} cannot be read as text ({exc}).") from None

    first = [texts for texts, _ in islice(raw_rows(), HEADER_SCAN_ROWS + CONTENT_SAMPLE_ROWS)]
    det = _detect(first, code_column, path.name)
    if det is None:
        raise IngestError(f"The file {path.name} has no data.")
    return _table(path, "csv", sheet=None, encoding=encoding, delimiter=delimiter, det=det,
                  limits=limits, raw_rows=raw_rows)

