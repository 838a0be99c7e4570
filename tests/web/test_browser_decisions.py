"""Issue #15 in Debian's headless Chromium: reject a fuzzy match on a job's results, then find the
remembered decision, switch it to accepted and forget it (the live server of ``test_browser``)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.decision_support import FUZZY_ASIN, FUZZY_ROW, fuzzy_job
from tests.web import test_browser as walk
from tests.web.test_browser import Live, sign_in

from code2asin.jobs.models import JobItem, MatchDecisionRecord

#: the UI walk's fixtures (a live server, Chromium, a tab), reused here
browser, live, page = walk.browser, walk.live, walk.page


def test_browser_user_rejects_a_fuzzy_match_then_switches_and_forgets_the_remembered_decision(
    page: Page, live: Live
) -> None:
    job_id = fuzzy_job(live.db, "BIOVERT")
    sign_in(page)
    page.goto(f"/code2asin/{job_id}/details")
    row = page.locator(f'#results-table tr[data-row="{FUZZY_ROW}"]')
    expect(row).to_contain_text(FUZZY_ASIN)
    expect(row.locator(".match-fuzzy")).to_be_visible()
    # only the fuzzy row asks for a decision
    expect(page.locator('#results-table [data-action="reject"]')).to_have_count(1)
    row.scroll_into_view_if_needed()
    live.shot(page, "decision-fuzzy-row")
    row.get_by_role("button", name="Reject").click()

    expect(page.locator(".flash")).to_contain_text(f"Row {FUZZY_ROW} is now not found")
    row = page.locator(f'#results-table tr[data-row="{FUZZY_ROW}"]')
    expect(row.locator(".c-status")).to_contain_text("Not found")
    expect(row.locator(".reason")).to_have_text(f"Rejected by user:alice: {FUZZY_ASIN} is not this product.")
    expect(row.get_by_role("button", name="Reject")).to_have_count(0)
    live.shot(page, "decision-rejected-row")
    with live.db.sessions() as session:
        item = session.query(JobItem).filter_by(job_id=job_id, row_no=FUZZY_ROW).one()
        assert (item.status, item.asin) == ("not_found", None)

    page.get_by_role("link", name="Remembered decisions").click()
    expect(page.get_by_role("heading", name="Remembered decisions")).to_be_visible()
    decision = page.locator("#decisions-table tbody tr")
    expect(decision).to_have_count(1)
    expect(decision).to_contain_text(FUZZY_ASIN)
    expect(decision).to_contain_text("BIOVERT")
    expect(decision).to_contain_text("Rejected")
    live.shot(page, "decisions")
    decision.get_by_role("button", name="Accept instead").click()
    expect(page.locator(".flash")).to_contain_text(f"{FUZZY_ASIN} is now accepted for this code.")
    expect(page.locator("#decisions-table tbody tr")).to_have_attribute("data-decision", "accepted")
    with live.db.sessions() as session:
        assert [r.decision for r in session.query(MatchDecisionRecord)] == ["accepted"]

    page.once("dialog", lambda dialog: dialog.accept())  # the confirmation before forgetting
    page.get_by_role("button", name="Forget").click()
    expect(page.locator(".flash")).to_contain_text("The decision is forgotten.")
    expect(page.locator("#decisions-table")).to_have_count(0)
    expect(page.locator('[data-empty="none"]')).to_contain_text("No decision remembered yet.")
    with live.db.sessions() as session:
        assert session.query(MatchDecisionRecord).count() == 0
