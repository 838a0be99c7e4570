"""Tests of code2asin.ingest: real-life supplier files in, exact text rows out, hostile files refused."""

from __future__ import annotations

import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import given
from hypothesis import strategies as st

from code2asin.errors import IngestError
from code2asin.ingest import open_table
from code2asin.ingest_table import ColumnMap, IngestLimits, InputTable, parse_price

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def _rows(table: InputTable) -> list[tuple[str, ...]]:
    return [r.values for r in table.rows()]


def _write_xlsx(path: Path, rows: list[list[object]], sheet: str = "Feuil1") -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(sheet)
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            ws.write(r, c, v)
    wb.close()
    return path


def _rewrite_member(src: Path, dst: Path, member: str, new: bytes) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, new if info.filename == member else zin.read(info))
    return dst


# --- real supplier files -------------------------------------------------------------------------


def test_french_cp1252_csv_skips_title_rows_and_keeps_every_cell_exactly() -> None:
    table = open_table(FIXTURES / "fournisseur_fr.csv")
    assert (table.file_format, table.encoding, table.delimiter) == ("csv", "cp1252", ";")
    assert table.header_row == 2
    assert table.headers == ["Réf", "Désignation", "Code EAN", "Prix HT"]
    assert table.columns == ColumnMap(code=2, title=1, price=3, sku=0)
    rows = list(table.rows())
    assert [r.row_no for r in rows] == list(range(1, 10))  # the trailing blank line is not a row
    codes = [r.code_value for r in rows]
    assert codes == ["3017620422003", "3,01762E+12", "36000291452", "080442957X", "978-2-07-040850-4",
                     "3017620422003", "4006381333931", "", "5410228202049"]  # duplicates kept, nothing fixed
    assert rows[2].title == "Œufs de caille x12"
    assert rows[1].title == "Crème brûlée façon grand-mère"
    assert rows[6].title == '=HYPERLINK("http://evil")'  # kept verbatim; the writers neutralise it
    assert rows[8].title == "Bière blonde; pack de 6 × 25 cl"  # quoted delimiter respected
    assert [r.price for r in rows] == [Decimal("12.50"), Decimal("3.20"), Decimal("1234.56"),
                                       Decimal("7.90"), Decimal("8.50"), Decimal("12.50"),
                                       Decimal("4.99"), None, Decimal("1234.56")]
    assert rows[7].price_raw == "N/C"
    assert rows[0].values == ("A001", "Pâte à tartiner noisette 750 g", "3017620422003", "12,50 €")


def test_utf8_bom_comma_csv_respects_quotes_and_strips_the_bom() -> None:
    table = open_table(FIXTURES / "utf8_bom_comma.csv")
    assert (table.encoding, table.delimiter, table.headers[0]) == ("utf-8-sig", ",", "EAN")
    rows = list(table.rows())
    assert rows[0].title == "Stabilo Boss, jaune"
    assert [r.price for r in rows] == [Decimal("1.99"), Decimal("1234.50"), Decimal("12")]
    assert rows[2].title == "Ŝpecial ünïcode book"
    assert rows[1].code_value == "0012345678905"


def test_utf16_le_tab_file_is_decoded_and_split_on_tabs() -> None:
    table = open_table(FIXTURES / "utf16_tab.txt")
    assert (table.encoding, table.delimiter) == ("utf-16", "\t")
    assert table.columns == ColumnMap(code=0, title=1, price=2, sku=3)
    rows = list(table.rows())
    assert [r.code_value for r in rows] == ["03017620422003", "00012345678905"]
    assert rows[1].title == "Café «Arabica»"
    assert rows[1].price == Decimal("4.50")


def test_pipe_file_with_english_headers() -> None:
    table = open_table(FIXTURES / "pipe.txt")
    assert table.delimiter == "|"
    assert table.columns == ColumnMap(code=0, title=1, price=2, sku=3)
    assert [r.sku for r in table.rows()] == ["W-1", "T-2", "C-3"]


def test_headerless_single_column_file_is_found_by_content_and_commas_are_not_split() -> None:
    table = open_table(FIXTURES / "no_header.csv")
    assert (table.header_row, table.headers, table.delimiter) == (None, ["column_1"], None)
    codes = [r.code_value for r in table.rows()]
    assert codes == ["3017620422003", "080442957X", "036000291452", "3,01762E+12", "4006381333931",
                     "9780306406157"]


@pytest.mark.parametrize("name", ["catalogue.xlsx", "catalogue.ods", "catalogue.xls"])
def test_workbook_skips_notes_sheet_and_title_row_and_keeps_numeric_codes_exact(name: str) -> None:
    table = open_table(FIXTURES / name)
    assert table.file_format == name.rsplit(".", 1)[1]
    assert table.sheet_name in {"Produits", "Articles"}
    assert table.header_row == 2
    assert table.headers == ["Code article", "EAN", "Désignation", "Prix achat HT", "Date MAJ", "Actif"]
    assert table.columns == ColumnMap(code=1, title=2, price=3, sku=0)
    rows = list(table.rows())
    assert [r.values[1] for r in rows] == ["3017620422003", "0012345678905", "3017620000000",
                                           "9780306406157", "080442957X"]
    assert isinstance(rows[0].code_value, float)  # the raw cell, as the workbook stored it
    assert rows[1].code_value == "0012345678905"
    assert [r.price for r in rows] == [Decimal("12.5"), Decimal("1234.56"), Decimal("3.2"), Decimal("8"),
                                       Decimal("0.1")]
    assert rows[0].values[4:] == ("2026-01-15", "TRUE")
    assert rows[1].values[5] == "FALSE"


def test_workbook_type_comes_from_content_not_extension(tmp_path: Path) -> None:
    renamed = shutil.copy(FIXTURES / "catalogue.xlsx", tmp_path / "export.csv")
    assert open_table(Path(renamed)).file_format == "xlsx"


def test_rows_can_be_streamed_twice_and_row_no_counts_non_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("EAN;Nom\n3017620422003;a\n;\n\n4006381333931;b\n", encoding="utf-8")
    table = open_table(path)
    first = [(r.row_no, r.code_value) for r in table.rows()]
    assert first == [(1, "3017620422003"), (2, "4006381333931")]
    assert [(r.row_no, r.code_value) for r in table.rows()] == first


def test_cp1252_byte_far_into_the_file_switches_the_whole_file_to_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    body = "EAN;Libellé\n" + "3017620422003;plain\n" * 5000 + "4006381333931;Crème\n"
    path.write_bytes(body.encode("cp1252"))
    table = open_table(path)
    assert table.encoding == "cp1252"
    assert list(table.rows())[-1].title == "Crème"


def test_two_barcode_headers_are_tie_broken_by_content(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("EAN carton;EAN;Titre\n;3017620422003;a\nvoir fiche;4006381333931;b\n", encoding="utf-8")
    assert open_table(path).columns.code == 1


def test_unknown_header_above_codes_is_kept_and_the_column_found_by_content(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Qté;Produit scanné\n2;3017620422003\n5;4006381333931\n", encoding="utf-8")
    table = open_table(path)
    assert (table.header_row, table.columns.code, table.columns.title) == (0, 1, None)


def test_utf16_without_bom_is_recognised_from_its_nul_pattern(tmp_path: Path) -> None:
    path = tmp_path / "nobom.txt"
    path.write_bytes("EAN\tNom\r\n3017620422003\tCrème\r\n".encode("utf-16-le"))
    table = open_table(path)
    assert (table.encoding, table.delimiter) == ("utf-16-le", "\t")
    assert [r.title for r in table.rows()] == ["Crème"]


def test_headerless_workbook_finds_the_numeric_code_column_by_content(tmp_path: Path) -> None:
    rows: list[list[object]] = [["Nutella", 3017620422003, 3.5], ["Stabilo", 4006381333931, 1]]
    book = _write_xlsx(tmp_path / "bare.xlsx", rows)
    table = open_table(book)
    assert (table.header_row, table.columns.code) == (None, 1)
    assert [r.values for r in table.rows()] == [("Nutella", "3017620422003", "3.5"),
                                                ("Stabilo", "4006381333931", "1")]


# --- naming the column ---------------------------------------------------------------------------


def test_code_column_by_name_is_accent_and_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "named.csv"
    path.write_text("Réf;Numéro interne;Prix\nA1;3017620422003;1\n", encoding="utf-8")
    table = open_table(path, code_column="numero INTERNE")
    assert (table.columns.code, table.columns.sku) == (1, 0)


def test_code_column_by_one_based_index(tmp_path: Path) -> None:
    path = tmp_path / "named.csv"
    path.write_text("Réf;Numéro interne;Prix\nA1;3017620422003;1\n", encoding="utf-8")
    assert open_table(path, code_column="2").columns.code == 1


def test_unknown_code_column_lists_the_headers(tmp_path: Path) -> None:
    path = tmp_path / "named.csv"
    path.write_text("Réf;Libellé;Prix\nA1;x;1\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"'Gencod'.*'Réf', 'Libellé', 'Prix'"):
        open_table(path, code_column="Gencod")


def test_missing_barcode_column_says_which_headers_were_seen(tmp_path: Path) -> None:
    path = tmp_path / "no_code.csv"
    path.write_text("Ref;Libellé;Prix\nA1;Nutella;3,50\n", encoding="utf-8")
    with pytest.raises(IngestError) as err:
        open_table(path)
    assert str(err.value) == ("No barcode column found in no_code.csv: the headers are 'Ref', 'Libellé', "
                              "'Prix'. Name the column with --code-column.")


# --- prices --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("12,50 €", "12.50"), ("€12.50", "12.50"), ("1 234,56", "1234.56"), ("1\u00a0234,56 EUR", "1234.56"),
    ("1.234,56", "1234.56"), ("1,234.56", "1234.56"), ("12.5", "12.5"), ("USD 3", "3"), ("-2,5", "-2.5"),
    ("1.234.567", "1234567"), ("£0.99", "0.99"), ("9,99 € HT", "9.99"),
])
def test_parse_price_reads_french_and_english_formats(raw: str, expected: str) -> None:
    assert parse_price(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["N/C", "", "gratuit", "12,3,4", "1.23.4", "12-50", "nan", "inf"])
def test_parse_price_returns_none_for_unreadable_text(raw: str) -> None:
    assert parse_price(raw) is None


@given(st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False))
def test_parse_price_round_trips_french_formatting(value: Decimal) -> None:
    whole, frac = f"{value:.2f}".split(".")
    french = f"{int(whole):,}".replace(",", "\u00a0") + "," + frac + " €"
    assert parse_price(french) == value


# --- hostile and broken files --------------------------------------------------------------------


def test_zip_bomb_workbook_is_refused_before_parsing(tmp_path: Path) -> None:
    bomb = shutil.copy(FIXTURES / "catalogue.xlsx", tmp_path / "bomb.xlsx")
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("xl/media/zeros.bin", "w") as m:
        chunk = bytes(1024 * 1024)
        for _ in range(200):  # 200 MB of zeros deflate to ~200 KB
            m.write(chunk)
    with pytest.raises(IngestError, match="zip bomb"):
        open_table(Path(bomb))


def test_workbook_expanding_past_the_uncompressed_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="too large once unzipped"):
        open_table(FIXTURES / "catalogue.xlsx", limits=IngestLimits(max_uncompressed_bytes=1000))


def test_xml_entity_declarations_in_a_sheet_are_refused(tmp_path: Path) -> None:
    member = "xl/worksheets/sheet2.xml"
    with zipfile.ZipFile(FIXTURES / "catalogue.xlsx") as zf:
        xml = zf.read(member)
    decl, rest = xml.split(b"?>", 1)
    evil = decl + b'?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>' + rest
    path = _rewrite_member(FIXTURES / "catalogue.xlsx", tmp_path / "xxe.xlsx", member, evil)
    with pytest.raises(IngestError, match="XML entities"):
        open_table(path)


def test_text_file_with_nul_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"EAN;Nom\n3017620422003;a\x00b\n")
    with pytest.raises(IngestError, match="NUL bytes"):
        open_table(path)


def test_png_renamed_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(IngestError, match="PNG image"):
        open_table(path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match=r"^The file empty\.csv is empty\.$"):
        open_table(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        open_table(tmp_path / "nope.csv")


def test_truncated_workbook_is_refused_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "cut.xlsx"
    path.write_bytes((FIXTURES / "catalogue.xlsx").read_bytes()[:3000])
    with pytest.raises(IngestError, match="damaged"):
        open_table(path)


def test_zip_that_is_not_a_spreadsheet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(IngestError, match="not an Excel or OpenDocument"):
        open_table(path)


def test_row_limit_is_enforced_while_streaming(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("EAN\n" + "3017620422003\n" * 1001, encoding="utf-8")
    rows = open_table(path, limits=IngestLimits(max_rows=1000)).rows()
    for _ in range(1000):
        next(rows)
    with pytest.raises(IngestError, match="more than 1,000 data rows"):
        next(rows)


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("EAN\n" + "3017620422003\n" * 100, encoding="utf-8")
    with pytest.raises(IngestError, match="over the 0 MB limit"):
        open_table(path, limits=IngestLimits(max_bytes=1000))


def test_too_many_columns_are_refused(tmp_path: Path) -> None:
    wide = tmp_path / "wide.csv"
    wide.write_text(";".join(["EAN"] + [f"c{i}" for i in range(20)]) + "\n3017620422003\n", encoding="utf-8")
    with pytest.raises(IngestError, match="over the limit of 10"):
        open_table(wide, limits=IngestLimits(max_columns=10))
    book = _write_xlsx(tmp_path / "wide.xlsx", [["EAN", *[f"c{i}" for i in range(20)]], ["3017620422003"]])
    with pytest.raises(IngestError, match="over the limit of 10"):
        open_table(book, limits=IngestLimits(max_columns=10))
