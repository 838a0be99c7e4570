"""Issue #16: the UI as a French catalogue manager uses it every day, in Debian's headless Chromium.

Each test walks one point of the issue at 1280 px (and phone width where it matters), in English and
French, against the live server of ``test_browser`` (embedded mode, SQLite, the sandbox plan).
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from tests.web import test_browser as walk
from tests.web.conftest import EXAMPLES
from tests.web.test_browser import JOB_TIMEOUT_MS, WIDE_ELEMENTS, Live, sign_in, start_import

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
