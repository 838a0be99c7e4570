"""The CLI contract end to end on the embedded default (SQLite in a temporary data dir)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from code2asin.cli import app
from code2asin.export import RESULT_COLUMNS

FIXTURES = Path(__file__).parent / "fixtures"
BIOVERT = FIXTURES / "supplier" / "biovert_direct_fr.csv"

runner = CliRunner()

EXPECTED_DIRECT = {
    1: ("matched", None),
    2: ("invalid", "Scientific notation"),
    3: ("matched", "1 leading zero restored"),
    4: ("matched", None),
    5: ("matched", None),
    6: ("matched", None),
    7: ("invalid", "in-store"),
    8: ("invalid", "coupon"),
    9: ("invalid", "Only digits are allowed"),
    10: ("invalid", "all zeros"),
    11: ("matched", None),
    12: ("invalid", "Conflicting ASINs for this code (row 12: B00IV1W3WI; row 13: B00IV1W3WJ)"),
    13: ("invalid", "Conflicting ASINs for this code (row 12: B00IV1W3WI; row 13: B00IV1W3WJ)"),
    14: ("invalid", "Empty cell"),
    15: ("invalid", "all zeros"),
    16: ("invalid", "No ASIN on this row"),
}


def _results(path: Path) -> list[dict[str, object]]:
    ws = openpyxl.load_workbook(path)["Results"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header[: len(RESULT_COLUMNS)], row, strict=False)) for row in rows[1:]]


def test_direct_convert_of_a_messy_french_file_accounts_for_every_row(tmp_path: Path) -> None:
    out = tmp_path / "biovert.results.xlsx"
    result = runner.invoke(app, ["convert", str(BIOVERT), "--mode", "direct", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Total Codes" in result.output and "16" in result.output
    rows = _results(out)
    assert [r["row"] for r in rows] == list(range(1, 17))
    for row in rows:
        status, reason = EXPECTED_DIRECT[int(row["row"])]  # type: ignore[arg-type]
        assert row["status"] == status, row
        if reason is not None:
            assert reason in str(row["error_message"]), row
        if status == "invalid":
            assert row["error_type"] == "invalid_data"
        else:
            assert row["match_type"] == "manual" and row["match_confidence"] == 1
    assert rows[3]["asin"] == "080442957X" and rows[3]["code_type"] == "ISBN10"
    assert rows[2]["gtin"] == "00036000291452" and rows[2]["product_ean"] == "0036000291452"


def test_exported_workbook_keeps_codes_as_text_input_columns_and_no_formula(tmp_path: Path) -> None:
    out = tmp_path / "biovert.results.xlsx"
    assert runner.invoke(app, ["convert", str(BIOVERT), "--mode", "direct", "-o", str(out)]).exit_code == 0
    ws = openpyxl.load_workbook(out)["Results"]
    header = [c.value for c in ws[1]]
    assert header[len(RESULT_COLUMNS) :] == [
        "Référence", "Libellé article", "EAN", "ASIN (input)", "Prix achat HT"
    ]  # fmt: skip
    assert ws.max_row == 17
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f"
        for col in ("input_code", "gtin", "product_ean"):
            cell = row[RESULT_COLUMNS.index(col)]
            assert cell.value is None or cell.data_type == "s"
    title = ws.cell(row=7, column=len(RESULT_COLUMNS) + 2)
    assert title.value.startswith("=HYPERLINK") and title.quotePrefix
    price = ws.cell(row=12, column=RESULT_COLUMNS.index("supplier_price") + 1)
    assert price.value == pytest.approx(1234.56)


def test_csv_output_by_suffix_is_utf8_with_bom(tmp_path: Path) -> None:
    out = tmp_path / "biovert.results.csv"
    assert runner.invoke(app, ["convert", str(BIOVERT), "--mode", "direct", "-o", str(out)]).exit_code == 0
    text = out.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    assert "Libellé article" in text.decode("utf-8-sig")
    assert "'=HYPERLINK" in text.decode("utf-8-sig")


def test_check_reports_valid_and_invalid_without_a_database(tmp_path: Path) -> None:
    report = tmp_path / "report.xlsx"
    result = runner.invoke(app, ["check", str(FIXTURES / "ingest" / "fournisseur_fr.csv"), "-o", str(report)])
    assert result.exit_code == 0, result.output
    rows = _results(report)
    assert {r["status"] for r in rows} == {"valid", "invalid"}
    assert len(rows) == 9
    assert not (tmp_path / "data").exists()


def test_missing_file_is_one_clear_sentence_and_non_zero_exit(tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", str(tmp_path / "nope.csv"), "--mode", "direct"])
    assert result.exit_code != 0
    assert "nope.csv" in result.output
    assert "Traceback" not in result.output


def test_no_code_column_lists_the_headers_seen(tmp_path: Path) -> None:
    src = tmp_path / "prices.csv"
    src.write_text("Ref;Libellé;Prix\nA1;Café;3,20\nA2;Thé;2,10\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(src)])
    assert result.exit_code == 1
    assert "'Ref', 'Libellé', 'Prix'" in " ".join(result.output.split())


def test_python_dash_m_runs_the_same_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "code2asin", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "convert" in proc.stdout and "check" in proc.stdout


def test_amazon_convert_on_the_sandbox_fills_the_results_contract(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "examples" / "supplier_example.csv"
    out = tmp_path / "example.results.xlsx"
    result = runner.invoke(app, ["convert", str(example), "--provider", "sandbox", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = _results(out)
    assert len(rows) == 39 and [r["row"] for r in rows] == list(range(1, 40))
    statuses = {r["status"] for r in rows}
    assert statuses == {"matched", "not_found", "invalid"}
    matched = [r for r in rows if r["status"] == "matched"]
    assert all(r["asin"] and r["match_type"] in ("exact", "partial") for r in matched)
    assert all(r["candidate_asins"] and r["error_message"] for r in matched)
    assert any(r["amazon_price"] and r["amazon_currency"] == "EUR" for r in matched)
    assert any(r["price_difference_percent"] is not None for r in matched)
    assert all(r["error_message"] for r in rows if r["status"] != "matched")


def test_a_plan_without_credentials_is_one_sentence_naming_the_settings(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["convert", str(BIOVERT), "--provider", "creators", "-o", str(tmp_path / "x.xlsx")]
    )
    assert result.exit_code == 1
    assert "CODE2ASIN_CREATORS_CREDENTIAL_ID" in " ".join(result.output.split())


def test_convert_on_several_marketplaces_writes_a_sheet_per_marketplace(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "examples" / "supplier_example.csv"
    out = tmp_path / "example.results.xlsx"
    result = runner.invoke(
        app, ["convert", str(example), "--provider", "sandbox", "--marketplace", "fr, de", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Available on" in result.output and "Found on all 2 marketplaces" in result.output
    book = openpyxl.load_workbook(out, read_only=True)
    assert book.sheetnames == ["Available on", "Results FR", "Results DE", "Summary"]
    for market in ("FR", "DE"):
        rows = list(book[f"Results {market}"].iter_rows(min_row=2, values_only=True))
        assert [r[0] for r in rows] == list(range(1, 40))  # row N is input row N on every sheet
        assert {r[RESULT_COLUMNS.index("status")] for r in rows} <= {"matched", "not_found", "invalid"}
        links = {r[RESULT_COLUMNS.index("detail_page_url")] for r in rows} - {None}
        assert links and all(f"amazon.{market.lower()}/" in str(link) for link in links)


def test_direct_mode_on_several_marketplaces_is_one_sentence(tmp_path: Path) -> None:
    out = str(tmp_path / "o.csv")
    result = runner.invoke(
        app, ["convert", str(BIOVERT), "--mode", "direct", "--marketplace", "FR,DE", "-o", out]
    )
    assert result.exit_code != 0 and "one marketplace" in result.output


# --- a workbook a catalogue manager can trust (issue 12) --------------------------------------------------


def test_the_example_says_which_rows_repeat_and_which_need_a_check(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "examples" / "supplier_example.csv"
    out = tmp_path / "example.results.xlsx"
    result = runner.invoke(app, ["convert", str(example), "--provider", "sandbox", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = {int(str(r["row"])): r for r in _results(out)}
    # rows 37 and 39 repeat row 1's code: looked up once, each says which row it repeats
    for repeat in (37, 39):
        assert str(rows[repeat]["error_message"]).startswith("Same code as row 1 (looked up once)."), repeat
        assert rows[repeat]["asin"] == rows[1]["asin"]
    assert "Same code as row" not in str(rows[1]["error_message"])
    # row 33: the barcode proves the item, but the supplier title and price do not agree with it
    flagged = rows[33]
    assert flagged["status"] == "matched" and flagged["match_type"] == "exact"
    assert float(str(flagged["match_confidence"])) < 0.99
    # the sandbox's prices move a few % a day: the clause, not the day's exact figure
    clause = re.search(r"title similarity 0\.40, price \+(\d+) %: check\.$", str(flagged["error_message"]))
    assert clause is not None and int(clause.group(1)) > 400, flagged["error_message"]
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(out)["Summary"].iter_rows(values_only=True)}
    assert summary["Needs Review"] == sum(1 for r in rows.values() if "check." in str(r["error_message"]))
    assert summary["Total Codes"] == 39 and summary["Supplier ASIN Differs"] == 0
    assert "Needs Review" in result.output


def test_convert_writes_next_to_the_input_without_its_extension(tmp_path: Path) -> None:
    source = tmp_path / "fournisseur_fr.csv"
    source.write_bytes(BIOVERT.read_bytes())
    result = runner.invoke(app, ["convert", str(source), "--mode", "direct"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fournisseur_fr.results.xlsx").is_file()
    assert not (tmp_path / "fournisseur_fr.csv.results.xlsx").exists()


@pytest.mark.parametrize("command", ["convert", "check"])
def test_a_file_with_headers_and_no_data_row_is_a_warning_and_exit_code_1(
    command: str, tmp_path: Path
) -> None:
    source = tmp_path / "vide.csv"
    source.write_text("Réf;Désignation;Code EAN;Prix HT\n", encoding="utf-8")
    result = runner.invoke(app, [command, str(source), "--provider", "sandbox"] if command == "convert"
                           else [command, str(source)])
    assert result.exit_code == 1, result.output
    assert "vide.csv has a header row but no data row" in " ".join(result.output.split())
    assert not (tmp_path / "vide.results.xlsx").exists()


def test_a_supplier_asin_that_disagrees_is_flagged_and_counted(tmp_path: Path) -> None:
    source = tmp_path / "with_asin.csv"
    source.write_text("EAN;ASIN;Désignation\n5035010764456;B000WRONG1;Planche à découper\n"
                      "3372850489043;;Perceuse\n", encoding="utf-8")
    out = tmp_path / "with_asin.results.xlsx"
    result = runner.invoke(app, ["convert", str(source), "--provider", "sandbox", "-o", str(out)])
    assert result.exit_code == 0, result.output
    first, second = _results(out)
    assert first["status"] == "matched" and first["asin"] != "B000WRONG1"
    assert "supplier ASIN B000WRONG1 differs: check." in str(first["error_message"])
    assert "supplier ASIN" not in str(second["error_message"])
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(out)["Summary"].iter_rows(values_only=True)}
    assert summary["Supplier ASIN Differs"] == 1 and summary["Needs Review"] >= 1


def test_a_second_run_with_images_in_the_same_data_dir_stores_them_like_the_first(tmp_path: Path) -> None:
    # each --provider sandbox run listens on a new port: answers cached by the first run must not send
    # the second one to images on a port that is gone (or refused as a foreign host)
    source = tmp_path / "few.csv"
    source.write_text("EAN;Désignation\n5035010764456;Planche\n3372850489043;Perceuse\n", encoding="utf-8")
    stored = []
    for run in (1, 2):
        out = tmp_path / f"run{run}.xlsx"
        result = runner.invoke(
            app, ["convert", str(source), "--provider", "sandbox", "--download-images", "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert "Image not copied" not in result.output, result.output
        summary = {r[0]: r[1] for r in openpyxl.load_workbook(out)["Summary"].iter_rows(values_only=True)}
        assert summary["Images Not Copied"] == 0
        stored.append(summary["With Images"])
    assert stored == [2, 2]


def test_a_refused_image_is_one_readable_line_with_its_url_and_reason() -> None:
    import logging

    from code2asin.cli_logging import configure_cli_logging

    lines: list[str] = []
    handler = configure_cli_logging(lines.append)
    try:
        url, reason = "http://127.0.0.1:41234/images/I/x.jpg", "127.0.0.1 is not an image host."
        images_log = logging.getLogger("code2asin.image_tasks")
        images_log.warning("image.refused", extra={"url": url, "reason": reason})
        images_log.info("image.task.done", extra={"task_id": 1})
    finally:
        logging.getLogger().removeHandler(handler)
    assert lines == [
        "Image not copied: http://127.0.0.1:41234/images/I/x.jpg: 127.0.0.1 is not an image host."
    ]


def _input_part(path: Path) -> tuple[list[object], list[list[object]]]:
    rows = list(openpyxl.load_workbook(path)["Results"].iter_rows(values_only=True))
    width = len(RESULT_COLUMNS)
    return list(rows[0][width:]), [list(r[width:]) for r in rows[1:]]


def test_the_input_cells_keep_their_type_from_a_workbook_and_from_a_csv(tmp_path: Path) -> None:
    import xlsxwriter

    book_path = tmp_path / "typed.xlsx"
    book = xlsxwriter.Workbook(str(book_path))
    sheet = book.add_worksheet()
    for col, value in enumerate(["EAN", "Désignation", "Quantité", "Prix"]):
        sheet.write(0, col, value)
    sheet.write_number(1, 0, 3615366690252)  # a code typed into a number cell
    sheet.write(1, 1, "Parfum")
    sheet.write_number(1, 2, 10)
    sheet.write_number(1, 3, 32.47)
    book.close()
    csv_path = tmp_path / "typed.csv"
    csv_path.write_text("EAN;Désignation;Quantité;Prix\n3615366690252;Parfum;10;32,47\n", encoding="utf-8")
    for source in (book_path, csv_path):
        out = tmp_path / f"{source.suffix[1:]}.results.xlsx"
        result = runner.invoke(app, ["convert", str(source), "--provider", "sandbox", "-o", str(out)])
        assert result.exit_code == 0, result.output
        (row,) = _results(out)
        assert row["input_code"] == "3615366690252", source
        headers, values = _input_part(out)
        assert headers == ["EAN", "Désignation", "Quantité", "Prix"]
        ean, title, quantity, price = values[0]
        assert (title, quantity, price) == ("Parfum", 10, pytest.approx(32.47)), source
        assert isinstance(quantity, int) and isinstance(price, float)
        # a CSV has no types: its code column stays the text the user typed
        assert ean == (3615366690252 if source.suffix == ".xlsx" else "3615366690252")
        if source.suffix == ".xlsx":
            cell = openpyxl.load_workbook(out)["Results"].cell(row=2, column=len(RESULT_COLUMNS) + 1)
            assert cell.number_format == "0"  # shown as 3615366690252, not 3.61537E+12


def test_healthcheck_of_a_role_whose_services_are_down_is_one_sentence_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _free_port()  # nothing listens there
    api = runner.invoke(app, ["healthcheck", "api", f"--url=http://127.0.0.1:{port}/code2asin/health"])
    assert api.exit_code == 1
    assert api.output.startswith(f"Unhealthy: the API does not answer at http://127.0.0.1:{port}/")
    no_broker = runner.invoke(app, ["healthcheck", "beat"])
    assert no_broker.exit_code == 1
    assert "CODE2ASIN_BROKER_URL is not set" in no_broker.output
    monkeypatch.setenv("CODE2ASIN_BROKER_URL", f"redis://127.0.0.1:{port}/0")
    for role in ("worker", "beat"):
        down = runner.invoke(app, ["healthcheck", role, "--timeout", "1"])
        assert down.exit_code == 1
        assert down.output.startswith("Unhealthy: the broker does not answer"), down.output
        assert len(down.output.strip().splitlines()) == 1


def test_healthcheck_of_beat_says_when_no_sweep_ran_lately(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    import redis

    from code2asin.jobs.queues import SWEEP_HEARTBEAT_KEY

    url = os.environ.get("CODE2ASIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    monkeypatch.setenv("CODE2ASIN_BROKER_URL", url)
    monkeypatch.setenv("CODE2ASIN_WORKER_SWEEP_SECONDS", "5")
    client = redis.Redis.from_url(url)
    try:
        client.delete(SWEEP_HEARTBEAT_KEY)
        never = runner.invoke(app, ["healthcheck", "beat"])
        assert never.exit_code == 1
        assert never.output.startswith("Unhealthy: no sweep has run in the last ten periods"), never.output
        client.set(SWEEP_HEARTBEAT_KEY, f"{time.time() - 60:.3f}")
        stale = runner.invoke(app, ["healthcheck", "beat"])
        assert stale.exit_code == 1
        assert stale.output.startswith("Unhealthy: the last sweep ran 60 s ago (every 5 s"), stale.output
        client.set(SWEEP_HEARTBEAT_KEY, f"{time.time():.3f}")
        fresh = runner.invoke(app, ["healthcheck", "beat"])
        assert fresh.exit_code == 0, fresh.output
        assert fresh.output.startswith("Healthy: broker answers, last sweep 0 s ago, database answers.")
    finally:
        client.delete(SWEEP_HEARTBEAT_KEY)
        client.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
