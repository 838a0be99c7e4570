"""Finding the header row and the barcode column (plus title, brand, price, SKU, ASIN) in the first rows,
from header words and from what the cells look like."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from code2asin.errors import IngestError
from code2asin.ingest_table import ColumnMap

HEADER_SCAN_ROWS = 30  # suppliers put at most a few title lines above the header
CONTENT_SAMPLE_ROWS = 50  # data rows looked at to judge which column holds barcodes


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
_BRAND_WORDS = {"marque", "marques", "brand", "brands", "fabricant", "manufacturer", "marke", "marca",
                "hersteller"}
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
             ("brand", 2, bool(_BRAND_WORDS & bag)),
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
    cols = ColumnMap(code, found.get("title"), found.get("price"), found.get("sku"), found.get("asin"),
                     found.get("brand"))
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


