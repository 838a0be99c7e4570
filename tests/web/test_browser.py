"""The UI in Debian's headless Chromium (Playwright) against a live uvicorn server on a loopback port.

Embedded mode: SQLite in a temporary folder, the in-process dispatcher, and the provider plan ``sandbox``
(an in-process Amazon simulator per job, with its real quotas). Every wait is on a condition in the page.
Screenshots of each page land in the test's temporary folder (``artifacts``); set
``CODE2ASIN_TEST_SCREENSHOTS=<folder>`` to copy them somewhere lasting.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.web.conftest import EXAMPLES, PASSWORD, build_app, user_maker

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.dispatch import EmbeddedDispatcher
from code2asin.sandbox.sample_codes import generate_codes, multi_marketplace_codes

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
JOB_TIMEOUT_MS = 180_000
#: what sticks out of the viewport (named in the failure message of the phone-width test)
WIDE_ELEMENTS = """limit => Array.from(document.querySelectorAll('body, body *'))
  .filter(e => e.scrollWidth > limit || e.getBoundingClientRect().right > limit)
  .slice(0, 12)
  .map(e => `${e.tagName}#${e.id}.${e.className}:${e.scrollWidth}/${e.getBoundingClientRect().width}`)"""
expect.set_options(timeout=30_000)


@dataclass
class Live:
    base_url: str
    db: Database
    artifacts: Path

    def shot(self, page: Page, name: str) -> None:
        path = self.artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        lasting = os.environ.get("CODE2ASIN_TEST_SCREENSHOTS")
        if lasting:  # the visible part only: small enough to commit under docs/screenshots
            Path(lasting).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(lasting) / path.name))


@pytest.fixture
def live(sqlite_db: Database, tmp_path: Path) -> Iterator[Live]:
    """The app (API + UI) served by uvicorn on a free loopback port, in a thread of this process."""
    settings = Settings(data_dir=tmp_path / "data")
    dispatcher = EmbeddedDispatcher(settings, sqlite_db, sweep_seconds=2)
    app = build_app(settings, sqlite_db, dispatcher)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):  # a condition, not a sleep: uvicorn flips ``started`` once it listens
        if server.started:
            started.set()
        assert thread.is_alive(), "uvicorn stopped before it started"
    user_maker(sqlite_db)("alice", ["ADMIN_CODE2ASIN"])
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    try:
        yield Live(f"http://127.0.0.1:{port}", sqlite_db, artifacts)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        dispatcher.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, live: Live, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live.base_url, viewport={"width": 1280, "height": 900}, locale="en-US", accept_downloads=True
    )
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/code2asin/ui/login"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()


def start_import(page: Page, file: Path, supplier: str) -> None:
    page.get_by_role("link", name="New import").first.click()
    page.get_by_label("Supplier file").set_input_files(str(file))
    page.get_by_label("Supplier code").fill(supplier)
    page.get_by_label("Amazon lookup").check()
    page.get_by_label("Provider plan").fill("sandbox")
    page.get_by_label("Marketplace").select_option("FR")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#detected-columns")).to_be_visible()


def test_browser_user_imports_the_example_watches_tiles_fill_validates_a_row_and_downloads(
    page: Page, live: Live
) -> None:
    sign_in(page)
    live.shot(page, "jobs-empty")
    start_import(page, EXAMPLES / "supplier_example.csv", "BIOVERT")
    expect(page.locator("#detected-columns")).to_contain_text("Code EAN")
    expect(page.locator("#preview-summary")).to_contain_text("39 data rows")
    live.shot(page, "import-preview")
    page.get_by_role("button", name="Create and start").click()

    expect(page.locator("#job-status")).to_contain_text("Completed", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#tile-total")).to_have_text("39")
    expect(page.locator("#tile-with_asin")).not_to_have_text("0")
    expect(page.locator("#tile-exact")).not_to_have_text("0")
    expect(page.locator("#tile-avg_confidence")).to_contain_text("%")
    expect(page.locator("#timeline")).to_contain_text("Total duration")
    expect(page.locator("#timeline")).to_contain_text("Started")
    expect(page.locator("#results-table")).to_be_visible()
    live.shot(page, "job-details")

    # keyboard: the tabs are links reached with Tab and followed with Enter
    page.locator("#tab-results").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#tab-logs")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#logs-table")).to_be_visible()
    page.get_by_label("Level").select_option("info")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#logs-table")).to_be_visible()
    live.shot(page, "job-logs")
    page.locator("#tab-configuration").click()
    expect(page.locator("#configuration")).to_contain_text("sandbox")
    expect(page.locator("#config-columns")).to_contain_text("Code EAN")
    live.shot(page, "job-configuration")

    page.locator("#tab-results").click()
    page.get_by_label("Status").select_option("not_found")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("#results-table tbody tr").first
    row_no = row.get_attribute("data-row")
    row.get_by_label(f"ASIN for row {row_no}").fill("B00KWB94LS")
    row.get_by_role("button", name="Validate").click()
    expect(page.locator(".flash")).to_contain_text(f"Row {row_no} now has the ASIN B00KWB94LS.")
    page.get_by_label("Match type").select_option("manual")
    page.get_by_label("Status").select_option("")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(f'#results-table tr[data-row="{row_no}"]')).to_contain_text("B00KWB94LS")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download the workbook").click()
    saved = live.artifacts / info.value.suggested_filename
    info.value.save_as(saved)
    workbook = openpyxl.load_workbook(saved, read_only=True)
    try:
        rows = list(workbook["Results"].iter_rows(values_only=True))
    finally:
        workbook.close()
    assert len(rows) == 40 and rows[0][:3] == ("row", "input_code", "code_type")
    assert rows[int(row_no or 0)][6] == "B00KWB94LS" and rows[int(row_no or 0)][7] == "manual"

    page.get_by_role("link", name="Statistics").click()
    expect(page.locator("#error-chart svg")).to_be_visible()
    live.shot(page, "statistics")


def test_browser_user_imports_on_three_marketplaces_and_filters_the_results_to_one(
    page: Page, live: Live, tmp_path: Path
) -> None:
    sold = multi_marketplace_codes(4, ("FR", "DE", "IT"), not_sold=2)
    source = tmp_path / "multi.csv"
    source.write_text("EAN;Title\n" + "".join(f"{e.code};Item {n}\n" for n, e in enumerate(sold)))
    on_de = sum(e.asin("DE") is not None for e in sold)
    sign_in(page)
    page.get_by_role("link", name="New import").first.click()
    page.get_by_label("Supplier file").set_input_files(str(source))
    page.get_by_label("Supplier code").fill("EUROPE")
    page.get_by_label("Amazon lookup").check()
    page.get_by_label("Provider plan").fill("sandbox")
    page.get_by_label("Marketplace").select_option("FR")
    # the other marketplaces are checkboxes reached and ticked with the keyboard
    page.get_by_label("DE", exact=True).focus()
    page.keyboard.press("Space")
    page.get_by_label("IT", exact=True).check()
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-summary")).to_contain_text("6 data rows")
    expect(page.get_by_label("DE", exact=True)).to_be_checked()
    expect(page.get_by_label("IT", exact=True)).to_be_checked()
    expect(page.get_by_label("ES", exact=True)).not_to_be_checked()
    page.get_by_role("button", name="Create and start").click()

    expect(page.locator("#job-status")).to_contain_text("Completed", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#job-marketplaces")).to_have_text("FR, DE, IT")
    expect(page.locator("#tile-total")).to_have_text("18")
    for market in ("FR", "DE", "IT"):
        expect(page.locator(f"#tile-{market}-total")).to_have_text("6")
    expect(page.locator("#tile-DE-with_asin")).to_have_text(str(on_de))
    expect(page.locator("#available-every")).to_have_text("4")
    expect(page.locator("#available-some")).to_have_text("2")
    expect(page.locator("#available-none")).to_have_text("0")
    expect(page.locator("#results-table tbody tr")).to_have_count(18)
    page.locator("#tiles-scope").evaluate("element => element.scrollIntoView()")
    expect(page.locator("#marketplace-tiles")).to_be_in_viewport()
    live.shot(page, "details-multi-marketplace")

    page.get_by_label("Marketplace", exact=True).select_option("DE")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"marketplace=DE"))
    rows = page.locator("#results-table tbody tr")
    expect(rows).to_have_count(6)
    expect(page.locator('#results-table tbody tr[data-marketplace="DE"]')).to_have_count(6)
    expect(page.locator("#results-table td.marketplace").first).to_have_text("DE")
    expect(page.locator("#results-table [data-sources]").first).to_contain_text("spapi")
    page.locator("#results-table").evaluate("element => element.scrollIntoView()")
    live.shot(page, "results-multi-marketplace")
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(WIDE_ELEMENTS, 390)
    assert width <= 390, f"the filtered results are {width}px wide on a 390px phone; too wide: {wide}"
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#tab-configuration").click()
    expect(page.locator("#plan-stages li")).to_have_count(3)
    expect(page.locator("#config-marketplaces")).to_have_text("FR, DE, IT")


def test_browser_user_pauses_and_resumes_a_400_code_job_while_progress_updates_live(
    page: Page, live: Live, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    big.write_text(
        "EAN;Title\n" + "".join(f"{code};Item {n}\n" for n, code in enumerate(generate_codes(400)))
    )
    sign_in(page)
    start_import(page, big, "BIGSUP")
    page.get_by_role("button", name="Create and start").click()
    expect(page.locator("#job-status")).to_contain_text("Processing")
    # progress arrives without a reload: the tile text changes while the URL stays
    # the lookups show as they happen, call by call, with the time left
    expect(page.locator("#job-meter")).not_to_have_text(re.compile(r"^0 looked up"), timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#job-estimate")).to_contain_text("Estimate: about")
    expect(page.locator("#job-remaining")).to_contain_text(re.compile(r"About .+ left\."))
    expect(page.locator("#progress-text")).not_to_have_text(re.compile(r"^0 of 400"), timeout=JOB_TIMEOUT_MS)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#job-status")).to_contain_text("Paused")
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Paused")
    # the people and processes behind each step, named as a person reads them (never a thread id)
    expect(page.locator("#timeline .event-pause .actor")).to_have_text("by alice")
    expect(page.locator("#timeline .event-pause .actor")).to_have_attribute("title", "user:alice")
    live.shot(page, "job-paused")
    page.wait_for_timeout(3_000)  # the scenario: the job stays paused three seconds
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#timeline")).to_contain_text("Resumed")
    expect(page.locator(".flash-success")).to_have_text("The job resumed.")
    expect(page.locator("#job-status")).to_contain_text("Completed", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#tile-total")).to_have_text("400")
    expect(page.locator("#progress-text")).to_have_text("400 of 400 codes processed")
    # the banner of the last click is gone once the job moved on; the total leaves the pause out
    expect(page.locator(".flash")).to_have_count(0)
    expect(page.locator("#timeline .event-complete .actor")).to_have_text("by in-process worker")
    expect(page.locator("#timeline")).not_to_contain_text("embedded-")
    paused = page.locator("#paused-time").inner_text()
    assert re.fullmatch(r"\(\d+\.\d s paused, not counted\)", paused), paused
    assert float(paused[1:].split()[0]) >= 3.0, paused
    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.locator("tr[data-job-id] .badge-completed")).to_be_visible()
    live.shot(page, "jobs-list")


def test_browser_user_sees_the_cost_before_starting_caps_the_calls_and_raises_the_cap_to_finish(
    page: Page, live: Live
) -> None:
    sign_in(page)
    page.get_by_role("link", name="New import").first.click()
    page.get_by_label("Supplier file").set_input_files(str(EXAMPLES / "supplier_example.csv"))
    page.get_by_label("Supplier code").fill("BUDGET")
    page.get_by_label("Amazon lookup").check()
    page.get_by_label("Provider plan").fill("sandbox")
    page.get_by_label("Most provider calls").fill("2")
    expect(page.get_by_label("Search them by title and brand")).to_be_checked()  # on by default here
    page.get_by_role("button", name="Preview").click()
    estimate = page.locator("#preview-estimate")
    expect(estimate).to_contain_text(re.compile(r"The title search is counted for 16% of the \d+ codes"))
    expect(estimate).to_contain_text(re.compile(r"Estimate: about \d+ s for 32 codes \(\d+ calls\)"))
    expect(estimate).to_contain_text("slowest quota: Creators")
    expect(page.locator("#cap-short")).to_contain_text("The cap of 2 calls is below")
    expect(page.get_by_label("Most provider calls")).to_have_value("2")
    live.shot(page, "import-estimate")
    page.get_by_role("button", name="Create and start").click()

    expect(page.locator("#job-status")).to_contain_text("Paused", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#timeline .event-error")).to_contain_text(
        "Paused: the job reached its cap of 2 provider calls (max_calls)"
    )
    expect(page.locator("#job-meter")).to_contain_text("provider calls")
    cap = page.locator("#resume-max_calls")
    expect(cap).to_have_value("2")
    live.shot(page, "job-capped")
    cap.fill("")  # empty: no cap
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#job-status")).to_contain_text("Completed", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#job-meter")).to_contain_text("39 looked up, 39 enriched")
    expect(page.locator("#job-remaining")).to_have_count(0)
    expect(page.locator("#timeline .event-error")).to_have_count(0)
    page.locator("#tab-configuration").click()
    expect(page.locator("#configuration")).to_be_visible()


def test_browser_language_switch_and_phone_width_keep_every_element_reachable(
    page: Page, live: Live, browser: Browser
) -> None:
    sign_in(page)
    page.get_by_role("button", name="Français").click()
    expect(page.get_by_role("link", name="Nouvel import").first).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    start_import_fr = page.get_by_role("link", name="Nouvel import").first
    start_import_fr.click()
    page.get_by_role("button", name="Aperçu").click()
    expect(page.locator("#file-error")).to_have_text("Choisissez un fichier.")
    expect(page.locator("#file")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("link", name="New import").first).to_be_visible()

    phone = browser.new_context(
        base_url=live.base_url, viewport={"width": 390, "height": 844}, locale="fr-FR", is_mobile=True
    )
    try:
        small = phone.new_page()
        sign_in_fr(small)
        start_import_phone(small)
        small.get_by_role("button", name="Créer le job").click()
        expect(small.locator("#tile-total")).to_have_text("39")
        expect(small.get_by_role("button", name="Démarrer")).to_be_visible()
        width = small.evaluate("document.documentElement.scrollWidth")
        wide = small.evaluate(WIDE_ELEMENTS, 390)
        assert width <= 390, f"the page is {width}px wide on a 390px phone; too wide: {wide}"
        live.shot(small, "job-details-phone")
    finally:
        phone.close()


def sign_in_fr(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Nom d'utilisateur").fill("alice")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()


def start_import_phone(page: Page) -> None:
    page.get_by_role("link", name="Nouvel import").first.click()
    page.get_by_label("Fichier fournisseur").set_input_files(str(EXAMPLES / "supplier_example.csv"))
    page.get_by_label("Code fournisseur").fill("MOBILE")
    page.get_by_role("button", name="Aperçu").click()
    expect(page.locator("#detected-columns")).to_be_visible()


def test_empty_lists_say_what_to_do_next_and_filters_say_when_they_hide_everything(
    page: Page, live: Live
) -> None:
    sign_in(page)
    empty = page.locator("[data-empty=none]")
    expect(empty).to_contain_text("No job yet.")
    expect(empty.get_by_role("link", name="New import")).to_have_attribute("href", "/code2asin/ui/import")
    page.goto("/code2asin/ui/jobs?status=failed")
    filtered = page.locator("[data-empty=filtered]")
    expect(filtered).to_have_text("No job matches these filters. Show all jobs")
    filtered.get_by_role("link", name="Show all jobs").click()
    expect(page.locator("[data-empty=none]")).to_contain_text("No job yet.")

    page.goto("/code2asin/ui/trackers")
    expect(empty).to_contain_text("No tracker yet.")
    # the page's own "New tracker" button is the next step: one link, not two
    expect(page.get_by_role("link", name="New tracker")).to_have_attribute(
        "href", "/code2asin/ui/trackers/new"
    )
    live.shot(page, "trackers-empty")
    page.goto("/code2asin/ui/alerts")
    expect(empty).to_contain_text("No alert yet.")
    expect(page.get_by_text("No alert matches these filters.")).to_have_count(0)
    expect(empty.get_by_role("link", name="Price tracking")).to_have_attribute(
        "href", "/code2asin/ui/trackers"
    )
    live.shot(page, "alerts-empty")
    page.goto("/code2asin/ui/alerts?kind=out_of_stock")
    expect(page.locator("[data-empty=filtered]")).to_contain_text("No alert matches these filters.")

    # the icon the tab shows, and the one browsers fetch on their own
    icon = page.locator("link[rel=icon]")
    expect(icon).to_have_attribute("href", "/code2asin/ui/static/favicon.svg")
    for url in ("/code2asin/ui/static/favicon.svg", "/favicon.ico"):
        answer = page.request.get(live.base_url + url)
        assert answer.status == 200 and answer.headers["content-type"] == "image/svg+xml", url
        assert answer.text().startswith("<svg")
