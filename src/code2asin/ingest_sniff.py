"""What a supplier file is before it is read: the zip workbook's kind (refusing zip and XML bombs), a text
file's encoding and its delimiter."""

from __future__ import annotations

import codecs
import csv
import zipfile
from pathlib import Path

from code2asin.errors import IngestError
from code2asin.ingest_table import IngestLimits

_SAMPLE_BYTES, _CHUNK = 64 * 1024, 1024 * 1024
_DELIMITERS = (";", ",", "\t", "|")  # order = preference on a tie (French exports use ';')
_MAX_RATIO, _RATIO_MIN_BYTES = 100, 10 * 1024 * 1024
_MAX_ZIP_MEMBERS = 10_000  # a real workbook has a few dozen parts


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; read them as latin-1 so one stray byte never aborts a big file.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error("code2asin_latin1", _latin1_fallback)


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


