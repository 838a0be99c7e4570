"""Read a supplier barcode file (CSV/TXT, XLSX, XLSM, XLS, ODS) as one table of input rows.

The file type comes from its content, never its extension. ``open_table`` finds the sheet, the header
row and the barcode column (plus optional title, price, SKU and ASIN columns), then ``InputTable.rows``
streams the data rows. Every cell is kept as text exactly as the file holds it: numbers stored by a
workbook are converted without rounding, so a barcode stored as a number keeps all its digits.

Blank rows (every cell empty or spaces) are not data rows: they are skipped and ``row_no`` counts only the
data rows that remain, so row N of the results is the N-th non-blank row under the header.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from code2asin import cells as cells_json
from code2asin.errors import IngestError

__all__ = ["ColumnMap", "IngestLimits", "InputRow", "InputTable", "open_table", "parse_price"]

HEADER_SCAN_ROWS = 30  # suppliers put at most a few title lines above the header
CONTENT_SAMPLE_ROWS = 50  # data rows looked at to judge which column holds barcodes
_SAMPLE_BYTES, _CHUNK = 64 * 1024, 1024 * 1024
_DELIMITERS = (";", ",", "\t", "|")  # order = preference on a tie (French exports use ';')
_SINGLE_COLUMN = "\x1f"  # never in supplier data: reads a one-column file without splitting "3,01762E+12"
_MAX_RATIO, _RATIO_MIN_BYTES = 100, 10 * 1024 * 1024
_BINARY_MAGIC = {b"\x89PNG": "a PNG image", b"%PDF": "a PDF document", b"GIF8": "a GIF image",
                 b"\xff\xd8\xff": "a JPEG image", b"\x1f\x8b": "a gzip archive"}
_MAX_ZIP_MEMBERS = 10_000  # a real workbook has a few dozen parts


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; read them as latin-1 so one stray byte never aborts a big file.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error("code2asin_latin1", _latin1_fallback)

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
                           price_raw, _opt(texts, cols.sku), _opt(texts, cols.asin), tuple(typed))


def _opt(texts: list[str], idx: int | None) -> str | None:
    return (texts[idx].strip() or None) if idx is not None else None


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


def _norm(text: str) -> str:
    """Lower-case, accent-free words separated by single spaces ("Code-Barres " -> "code barres")."""
    text = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "oe"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


_CODE_WORDS = {"ean", "ean13", "ean8", "gencod", "gencode", "gtin", "gtin8", "gtin12", "gtin13", "gtin14",
               "upc", "upca", "upce", "isbn", "isbn10", "isbn13", "barcode", "barcodes", "codebarre",
               "codebarres", "codeean", "codesbarres"}
_WEAK_CODE = {"code", "codes", "jan", "code jan"}  # "jan" could be January: weaker than "ean"
_SKU_EXACT = {"sku", "ref", "refs", "reference", "references", "article", "code article", "ref article",
              "item number", "item no", "item", "part number", "part no", "mpn", "code produit",
              "ref produit", "reference produit", "code fournisseur", "supplier ref", "vendor sku"}
_SKU_FIRST = {"sku", "ref", "reference", "mpn"}
_PRICE_WORDS = {"prix", "price", "cost", "tarif", "cout", "pa", "pv", "pvc", "pu", "paht", "pvht", "pvttc"}
_TITLE_WORDS = {"designation", "libelle", "description", "nom", "name", "title", "titre", "intitule",
                "produit", "product", "desc"}


def _role(header: str) -> tuple[str, int] | None:
    """The role a header names and how sure we are (2 strong, 1 weak), or None."""
    norm = _norm(header)
    words = norm.split()
    if not words or len(words) > 6:  # a sentence is a note or a title line, not a header
        return None
    joined, bag = "".join(words), set(words)
    rules = (("asin", 2, "asin" in bag),
             ("code", 2, bool(_CODE_WORDS & bag) or joined in _CODE_WORDS or "code barre" in norm
              or "bar code" in norm),
             ("code", 1, norm in _WEAK_CODE),
             ("sku", 2, norm in _SKU_EXACT or words[0] in _SKU_FIRST),
             ("price", 2, bool(_PRICE_WORDS & bag) or joined in _PRICE_WORDS),
             ("title", 2, bool(_TITLE_WORDS & bag)))
    return next(((role, strength) for role, strength, hit in rules if hit), None)


_CODE_SHAPE = re.compile(r"\d{8,14}|\d{9}[Xx]|\d[.,]\d+[Ee]\+?\d{1,2}")


def _looks_like_code(text: str) -> bool:
    """Light barcode shape test (8-14 digits, ISBN-10 with X, Excel's 3,01762E+12); no checksum."""
    cleaned = text.strip().strip("'=\"").replace(" ", "").replace("-", "")
    return _CODE_SHAPE.fullmatch(cleaned) is not None


def _code_fraction(rows: list[list[str]], col: int) -> float:
    """Share of the sampled rows whose cell in ``col`` looks like a barcode."""
    return sum(1 for r in rows if col < len(r) and _looks_like_code(r[col])) / len(rows) if rows else 0.0


@dataclass
class _Detection:
    header_row: int | None
    headers: list[str]
    columns: ColumnMap | None  # None when no barcode column was found
    score: tuple[float, ...]


def _detect(rows: list[list[str]], code_column: str | None, where: str) -> _Detection | None:
    """Find header row and columns in the first rows of a sheet; None when the sheet is blank."""
    nonblank = [i for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not nonblank:
        return None
    width = max(len(rows[i]) for i in nonblank)
    roles = {i: [_role(c) for c in rows[i]] for i in nonblank[:HEADER_SCAN_ROWS]}

    def score(i: int) -> int:
        if any(_looks_like_code(c) for c in rows[i]):
            return 0  # a row holding barcodes is data, whatever its other cells say
        found = {r[0] for r in roles[i] if r}
        return 3 * ("code" in found) + len(found - {"code"})

    best = max(roles, key=lambda i: (score(i), -i))
    header: int | None = best if score(best) else None
    if code_column is not None:  # the row holding the named column is the header, known words or not
        wanted = _norm(code_column)
        header = next((i for i in roles if any(_norm(c) == wanted for c in rows[i])), header)
    if header is None and not any(_looks_like_code(c) for c in rows[nonblank[0]]):
        header = nonblank[0]  # an unknown header above codes: find the column by content
    data = [rows[i] for i in nonblank if header is None or i > header][:CONTENT_SAMPLE_ROWS]
    head_cells = rows[header] if header is not None else []
    headers = [h.strip() or f"column_{n + 1}" for n, h in
               enumerate(head_cells + [""] * (width - len(head_cells)))]
    found: dict[str, int] = {}
    code_candidates: list[tuple[int, float, int]] = []
    for col, role in enumerate(roles[header] if header is not None else []):
        if role and role[0] == "code":
            code_candidates.append((role[1], _code_fraction(data, col), col))
        elif role:
            found.setdefault(role[0], col)
    if code_column is not None:
        code = _named_column(code_column, headers, where)
        found = {k: v for k, v in found.items() if v != code}
    elif code_candidates:
        code = max(code_candidates, key=lambda c: (c[0], c[1], -c[2]))[2]
    else:  # by content; SKU and price columns stay out: internal 8-digit refs would look like codes
        taken = {found.get("sku"), found.get("price")}
        frac, neg = max(((_code_fraction(data, c), -c) for c in range(width) if c not in taken),
                        default=(0.0, 0))
        code = -neg if frac >= 0.5 else -1
        found = {k: v for k, v in found.items() if v != code}
    if code < 0:
        return _Detection(header, headers, None, (0.0, float(score(best)), 0.0))
    cols = ColumnMap(code, found.get("title"), found.get("price"), found.get("sku"), found.get("asin"))
    return _Detection(header, headers, cols, (1.0, float(score(best)), _code_fraction(data, code)))


def _named_column(name: str, headers: list[str], where: str) -> int:
    """Index of the column the user named by header text or 1-based number."""
    idx = next((i for i, h in enumerate(headers) if _norm(h) == _norm(name)), None)
    if idx is None and name.strip().isdigit() and 1 <= int(name) <= len(headers):
        idx = int(name) - 1
    if idx is not None:
        return idx
    raise IngestError(f"Column {name!r} was not found in {where}: the headers are {_quoted(headers)}.")


def _quoted(headers: list[str]) -> str:
    return ", ".join(f"'{h}'" for h in headers) or "(none)"


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


def _zip_format(path: Path, limits: IngestLimits) -> str:
    """Check a zip workbook against bombs before calamine touches it, and tell xlsx/xlsm/ods apart."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > limits.max_uncompressed_bytes or len(infos) > _MAX_ZIP_MEMBERS:
                raise IngestError(f"The workbook {name} is too large once unzipped (over "
                                  f"{limits.max_uncompressed_bytes / 2**20:.0f} MB or "
                                  f"{_MAX_ZIP_MEMBERS:,} parts), so it is refused.")
            for info in infos:
                if info.file_size > _RATIO_MIN_BYTES and info.file_size > _MAX_RATIO * max(
                        info.compress_size, 1):
                    raise IngestError(f"The workbook {name} is compressed suspiciously (a zip bomb?), "
                                      "so it is refused.")
                if info.filename.endswith((".xml", ".rels")):
                    with zf.open(info) as member:  # NULs dropped so a UTF-16 part is checked too
                        prolog = member.read(_SAMPLE_BYTES).replace(b"\x00", b"").upper()
                    # The DTD can only sit in the prolog: entity declarations there are an XML bomb.
                    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
                        raise IngestError(f"The workbook {name} declares XML entities, so it is refused.")
            names = set(zf.namelist())
            if "mimetype" in names and b"opendocument.spreadsheet" in zf.read("mimetype"):
                return "ods"
            if "[Content_Types].xml" in names:
                types = zf.read("[Content_Types].xml")
                if b"macroEnabled" in types:
                    return "xlsm"
                if b"spreadsheetml" in types:
                    return "xlsx"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, EOFError):
        raise IngestError(f"The workbook {name} is damaged and cannot be opened.") from None
    raise IngestError(f"The file {name} is a zip archive but not an Excel or OpenDocument spreadsheet.")


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


def _text_encoding(path: Path, head: bytes) -> str:
    """BOM first; else strict UTF-8 over the whole file (fast, chunked), else cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    elif b"\x00" in head:
        # UTF-16 without BOM shows NUL in every other byte of ASCII text; anything else is binary.
        if head[1::2].count(0) > 0.4 * len(head) > head[0::2].count(0):
            return "utf-16-le"
        if head[0::2].count(0) > 0.4 * len(head) > head[1::2].count(0):
            return "utf-16-be"
        raise IngestError(f"The file {path.name} contains NUL bytes, so it is not a text table.")
    else:
        encoding = "utf-8"
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            if b"\x00" in chunk:
                raise IngestError(f"The file {path.name} contains NUL bytes, so it is not a text table.")
            if encoding == "utf-8":
                try:  # one strict pass over the whole file: a late "é" in cp1252 must not crash row 150,000
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    encoding = "cp1252"
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:  # the file ends inside a multi-byte sequence
        encoding = "cp1252" if encoding == "utf-8" else encoding
    return encoding


def _sniff_delimiter(sample: str) -> str | None:
    """The delimiter giving the most consistent column count (>1) over the first 50 lines."""
    lines = [ln for ln in sample.splitlines() if ln.strip()][:50]
    if not lines:
        return None
    best: tuple[float, int, int] = (0.0, 0, 0)
    chosen = None
    for rank, delim in enumerate(_DELIMITERS):
        counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        mode = max(set(counts), key=lambda n: (counts.count(n), n))
        if mode > 1 and (key := (counts.count(mode) / len(counts), mode, -rank)) > best:
            best, chosen = key, delim
    return chosen


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

