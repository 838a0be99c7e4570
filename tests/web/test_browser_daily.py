"""Issue #16: the UI as a French catalogue manager uses it every day, in Debian's headless Chromium.

Each test walks one point of the issue at 1280 px (and phone width where it matters), in English and
French, against the live server of ``test_browser`` (embedded mode, SQLite, the sandbox plan).
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from tests.web import test_browser as walk
from tests.web.conftest import EXAMPLES
from tests.web.test_browser import JOB_TIMEOUT_MS, WIDE_ELEMENTS, Live, sign_in, start_import

from code2asin.jobs import service as jobs
from code2asin.jobs.models import JobItem
from code2asin.pricing import service as pricing
from code2asin.pricing.models import Tracker

#: the UI walk's fixtures (a live server, Chromium, a tab), reused here
browser, live, page = walk.browser, walk.live, walk.page
PHONE = {"width": 390, "height": 844}


def finished_example(page: Page, supplier: str = "BIOVERT") -> str:
    """Import the 39-row example through the UI, run it to the end; the job's details URL."""
    start_import(page, EXAMPLES / "supplier_example.csv", supplier)
    page.get_by_role("button", name="Create and start").click()
    expect(page.locator("#job-status")).to_contain_text("Completed", timeout=JOB_TIMEOUT_MS)
    return page.url


def overflow(page: Page, selector: str) -> int:
    """How many pixels ``selector`` is wider than its box (0 when it fits)."""
    return int(page.locator(selector).evaluate("e => e.scrollWidth - e.clientWidth"))


def test_results_table_fits_1280px_and_reads_as_cards_at_phone_width(
    page: Page, live: Live, browser: Browser
) -> None:
    sign_in(page)
    url = finished_example(page)
    table = page.locator("#results-table")
    expect(table).to_be_visible()
    # 1280 px: no sideways scrolling, and the last column's Validate button is on screen
    assert overflow(page, ".table-wrap") <= 0, page.evaluate(WIDE_ELEMENTS, 1280)
    button = table.locator("tbody tr").first.get_by_role("button", name="Validate")
    box = button.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280, box
    # no broken image: each thumbnail loaded, or is the neutral frame
    thumbs = page.locator("#results-table td.c-image > *")
    expect(thumbs).to_have_count(25)
    broken = page.evaluate(
        "() => Array.from(document.querySelectorAll('#results-table img.thumb'))"
        ".filter(i => i.complete && i.naturalWidth === 0).length"
    )
    assert broken == 0
    expect(page.locator("#results-table .thumb-none").first).to_have_attribute("aria-label", "No image")
    live.shot(page, "results-1280")

    phone = browser.new_context(base_url=live.base_url, viewport=PHONE, locale="en-US")
    tab = phone.new_page()
    try:
        sign_in(tab)
        tab.goto(url)
        first = tab.locator("#results-table tbody tr").first
        for cell in ("c-asin", "c-status", "c-match"):
            located = first.locator(f"td.{cell}")
            expect(located).to_be_visible()
            right = located.evaluate("e => e.getBoundingClientRect().right")
            assert right <= PHONE["width"], (cell, right)
        assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], tab.evaluate(
            WIDE_ELEMENTS, PHONE["width"]
        )
        # each value says what it is: the label is drawn before it, in the cell's own box
        label = first.locator("td.c-asin").evaluate("e => getComputedStyle(e, '::before').content")
        assert label == '"ASIN"', label
        live.shot(tab, "results-phone")
    finally:
        phone.close()


def test_jobs_and_results_sort_by_the_columns_people_sort_by(page: Page, live: Live) -> None:
    sign_in(page)
    finished_example(page, "ZETA")
    page.get_by_role("link", name="Jobs", exact=True).click()
    finished = page.url
    start_import(page, EXAMPLES / "supplier_example.csv", "ALPHA")
    page.get_by_role("button", name="Create the job").click()  # created, not started: pending
    page.goto(finished)
    suppliers = page.locator("table.jobs tbody tr td:first-child")
    expect(suppliers).to_have_text(["ALPHA", "ZETA"])  # newest first by default
    page.get_by_role("link", name="Status").click()
    expect(page.locator("th[aria-sort=ascending]")).to_have_text(re.compile("Status"))
    expect(suppliers).to_have_text(["ZETA", "ALPHA"])  # completed < pending
    page.get_by_role("link", name="Supplier").click()
    expect(suppliers).to_have_text(["ALPHA", "ZETA"])
    page.get_by_role("link", name="Supplier").click()
    expect(page.locator("th[aria-sort=descending]")).to_have_text(re.compile("Supplier"))
    expect(suppliers).to_have_text(["ZETA", "ALPHA"])

    suppliers.filter(has_text="ZETA").get_by_role("link").click()
    confidence = page.locator("#results-table tbody td.c-confidence")
    page.get_by_role("link", name="Confidence").click()
    page.get_by_role("link", name="Confidence").click()  # highest first
    expect(page.locator("th[aria-sort=descending]")).to_have_text(re.compile("Confidence"))
    shown = [float(v.rstrip("%")) for v in confidence.all_inner_texts() if v != "—"]
    assert shown and shown == sorted(shown, reverse=True), shown
    # the filters keep the order, the order keeps the filters
    page.get_by_label("Status").select_option("matched")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"sort=-confidence"))
    page.get_by_role("link", name="vs supplier price").click()
    expect(page).to_have_url(re.compile(r"status=matched"))
    expect(page.locator("th[aria-sort=ascending]")).to_have_text(re.compile("vs supplier price"))
    page.get_by_role("link", name="Status").click()
    expect(page.locator("#results-table tbody tr").first).to_be_visible()


def test_track_prices_from_a_finished_job_and_read_the_tracker_page(page: Page, live: Live) -> None:
    sign_in(page)
    job_url = finished_example(page)
    job_id = job_url.rstrip("/").split("/")[-2]
    # no UUID to paste: the job's own button opens the form filled with it
    page.get_by_role("link", name="Track prices").click()
    expect(page.get_by_label("Source job (optional)")).to_have_value(job_id)
    expect(page.get_by_label("Name")).to_have_value("BIOVERT prices on FR")
    page.get_by_role("button", name="Create the tracker").click()
    expect(page.locator(".flash")).to_contain_text("The tracker was created.")
    tracker_url = page.url

    # a run in progress (held paused here so the page is read while it lasts) says so in the heading
    with live.db.unit_of_work() as session:
        tracker = session.scalars(select(Tracker)).one()
        run = pricing.start_run(session, tracker, "user:alice")
        jobs.pause_job(session, run.job_id, "user:alice")
    page.reload()
    expect(page.locator("#tracker-running")).to_have_text("Run paused")
    expect(page.locator("#tracker-running")).to_have_attribute("href", f"/code2asin/{run.job_id}/details")
    with live.db.unit_of_work() as session:
        jobs.resume_job(session, run.job_id, "user:alice")
    page.reload()
    expect(page.locator("#tracker-running")).to_have_text("Running")
    page.goto(f"/code2asin/{run.job_id}/details")
    expect(page.locator("#job-status")).to_contain_text("Completed", timeout=JOB_TIMEOUT_MS)

    # a second run the same day: two points on the chart, told apart by their time
    page.goto(tracker_url)
    expect(page.locator("#tracker-running")).to_have_count(0)
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#runs-table tbody tr")).to_have_count(2)
    run_link = page.locator("#runs-table a.run-link").first
    run_link.click()
    expect(page.locator("#job-status")).to_contain_text("Completed", timeout=JOB_TIMEOUT_MS)
    page.goto(tracker_url)

    products = page.locator("#products-table tbody tr")
    expect(products.first).to_be_visible()
    first = products.first
    expect(first.locator("td.product-title")).not_to_have_text("—")  # the product's title, not only a GTIN
    prices = first.locator("td.price")
    expect(prices.nth(1)).to_have_text(re.compile(r"^€\d+\.\d{2}$"))  # latest price, with its currency
    live.shot(page, "tracker")
    first.locator("a").first.click()
    chart = page.locator("#price-chart svg")
    expect(chart.locator("circle")).to_have_count(2)
    labels = chart.locator("circle title").evaluate_all("titles => titles.map(t => t.textContent)")
    assert len(set(labels)) == 2, labels  # two runs a few seconds apart: the seconds tell them apart
    shape = r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?: €\d+\.\d{2}"
    assert all(re.fullmatch(shape, label) for label in labels), labels
    live.shot(page, "price-history")

    # statistics: the two price runs are counted apart, not as conversion jobs
    page.get_by_role("link", name="Statistics").click()
    tiles = page.locator("section.tiles .tile")
    expect(tiles.filter(has_text="Conversion jobs").locator(".tile-value")).to_have_text("1")
    expect(tiles.filter(has_text="Codes").locator(".tile-value")).to_have_text("39")
    expect(page.locator("#stats-runs")).to_have_text("2")
    expect(page.locator("#stats-explained")).to_contain_text("“Not converted” counts every processed row")
    failed = int(page.locator("#stats-failed").inner_text())
    with live.db.sessions() as session:
        rows = session.scalars(select(JobItem).where(JobItem.job_id == job_id)).all()
    assert failed == sum(1 for r in rows if r.status != "matched")
    live.shot(page, "statistics")


def test_french_pages_write_numbers_prices_and_words_the_french_way(page: Page, live: Live) -> None:
    sign_in(page)
    finished_example(page)
    page.get_by_role("button", name="Français").click()
    expect(page.locator("#tile-avg_confidence")).to_have_text(re.compile(r"^\d+,\d\u00a0%$"))
    price = page.locator("#results-table td.price").first
    expect(price).to_have_text(re.compile(r"^\d+,\d{2}\u00a0€$"))
    confidence = page.locator("#results-table td.c-confidence").first
    expect(confidence).to_have_text(re.compile(r"^\d+,\d\u00a0%$"))
    expect(page.get_by_role("heading", name="Chronologie d'exécution")).to_be_visible()
    expect(page.locator("#timeline .event-complete .actor")).to_have_text("par traitement intégré")
    processed = "39 codes traités sur 39 (100,0\u00a0%)"
    expect(page.locator("#timeline .event-progress")).to_contain_text(processed)
    expect(page.locator("#results-table thead")).to_contain_text("Écart prix fournisseur")
    # row reasons in French: the checks and the lookups' verdicts, not the stored English sentences
    page.locator("form.filters select[name=status]").select_option("invalid")
    page.locator("form.filters button[type=submit]").click()
    reasons = page.locator("#results-table .reason")
    expect(reasons.first).to_be_visible()
    expect(page.locator("#results-table")).to_contain_text("La clé de contrôle est 4 mais devrait être 3")
    expect(page.locator("#results-table")).to_contain_text("Cellule vide : il n'y a aucun code-barres")
    expect(page.locator("#results-table")).not_to_contain_text("Check digit")
    live.shot(page, "results-reasons-fr")
    page.locator("#tab-configuration").click()
    configuration = page.locator("#configuration")
    expect(configuration).to_contain_text("Place de marché")
    expect(configuration).to_contain_text("Plan de sources de données")
    expect(configuration).not_to_contain_text("Marketplace")
    expect(configuration).to_contain_text("Recherche Amazon")
    expect(configuration).to_contain_text("Copier les images")
    live.shot(page, "job-details-fr")
