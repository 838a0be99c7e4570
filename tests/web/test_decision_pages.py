"""The UI of remembered match decisions over plain HTTP: Accept and Reject on a fuzzy row, the decisions
page (filters, paging, switch, forget), permissions, supplier scope and CSRF."""

from __future__ import annotations

import re
from html import unescape

from tests.decision_support import FUZZY_ASIN, FUZZY_GTIN, fuzzy_job
from tests.web.conftest import Web

from code2asin.jobs.decisions import remember
from code2asin.jobs.models import Job, JobItem, JobStatus, MatchDecisionRecord

UI = "/code2asin/ui"
DECISIONS = f"{UI}/decisions"


def _details(web: Web, job_id: str) -> str:
    response = web.client.get(f"/code2asin/{job_id}/details")
    assert response.status_code == 200, response.text
    return response.text


def _post(web: Web, path: str, csrf_from: str, **data: str) -> tuple[int, str]:
    response = web.client.post(path, data={"csrf_token": web.csrf(csrf_from), **data}, follow_redirects=True)
    return response.status_code, response.text


def _ids(html: str) -> list[str]:
    return re.findall(r'data-decision-id="(\d+)"', html)


def test_the_decisions_page_is_in_the_nav_and_says_what_to_do_when_empty(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    jobs = web.client.get(f"{UI}/jobs").text
    assert f'href="{DECISIONS}"' in jobs and "Remembered decisions" in jobs
    page = web.client.get(DECISIONS)
    assert page.status_code == 200
    assert 'data-empty="none"' in page.text and "No decision remembered yet." in page.text
    filtered = web.client.get(DECISIONS, params={"decision": "accepted"}).text
    assert 'data-empty="filtered"' in filtered and "No decision matches these filters." in filtered
    web.client.cookies.set("code2asin_lang", "fr")
    assert "Aucune décision mémorisée pour l'instant." in unescape(web.client.get(DECISIONS).text)


def test_a_fuzzy_row_has_accept_and_reject_for_writers_only_and_not_while_processing(web: Web) -> None:
    job_id = fuzzy_job(web.db, "SUP001")
    web.user("alice")
    web.user("reader", ["READ_CODE2ASIN"])
    web.sign_in("reader")
    assert 'data-action="reject"' not in _details(web, job_id)
    web.sign_in("alice")
    html = _details(web, job_id)
    assert html.count('data-action="reject"') == 1 and html.count('data-action="accept"') == 1
    assert f"{UI}/jobs/{job_id}/rows/1/reject" in html
    with web.db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = JobStatus.PROCESSING
    assert 'data-action="reject"' not in _details(web, job_id)


def test_reject_makes_the_row_not_found_with_its_reason_in_the_readers_language(web: Web) -> None:
    job_id = fuzzy_job(web.db, "SUP001")
    web.user("alice")
    web.sign_in("alice")
    details = f"/code2asin/{job_id}/details"
    status, html = _post(web, f"{UI}/jobs/{job_id}/rows/1/reject", details, next=details)
    assert status == 200
    assert "Row 1 is now not found" in html
    assert f"Rejected by user:alice: {FUZZY_ASIN} is not this product." in html
    assert 'data-action="reject"' not in html
    with web.db.sessions() as session:
        item = session.query(JobItem).filter_by(job_id=job_id, row_no=1).one()
        assert (item.status, item.asin) == ("not_found", None)
    web.client.cookies.set("code2asin_lang", "fr")
    assert f"Rejeté par user:alice : {FUZZY_ASIN} n'est pas ce produit." in unescape(_details(web, job_id))
    # a second reject of the row (say from a stale page) is a sentence, not an error page
    status, html = _post(web, f"{UI}/jobs/{job_id}/rows/1/reject", details, next=details)
    assert status == 200 and f"Row 1 of job {job_id} has no ASIN to reject." in html


def test_accept_remembers_the_asin_and_the_decisions_page_switches_and_forgets_it(web: Web) -> None:
    job_id = fuzzy_job(web.db, "SUP001")
    web.user("alice")
    web.sign_in("alice")
    details = f"/code2asin/{job_id}/details"
    status, html = _post(
        web, f"{UI}/jobs/{job_id}/rows/1/validate", details, asin=FUZZY_ASIN, marketplace="FR", next=details
    )
    assert status == 200 and f"Row 1 now has the ASIN {FUZZY_ASIN}." in html
    page = web.client.get(DECISIONS).text
    [decision_id] = _ids(page)
    assert 'data-decision="accepted"' in page and FUZZY_GTIN in page and "Reject instead" in page
    assert f'href="/code2asin/{job_id}/details"' in page and "data-confirm=" in page

    status, html = _post(web, f"{DECISIONS}/{decision_id}", DECISIONS, decision="rejected", next=DECISIONS)
    assert status == 200 and f"{FUZZY_ASIN} is now rejected for this code." in html
    assert 'data-decision="rejected"' in html and "Accept instead" in html
    status, html = _post(web, f"{DECISIONS}/{decision_id}", DECISIONS, decision="maybe", next=DECISIONS)
    assert status == 200 and "Decision &#39;maybe&#39; is not valid: say accepted or rejected." in html

    status, html = _post(web, f"{DECISIONS}/{decision_id}/forget", DECISIONS, next=DECISIONS)
    assert status == 200 and "The decision is forgotten." in html and _ids(html) == []


def test_forms_need_their_csrf_token_and_their_permission(web: Web) -> None:
    job_id = fuzzy_job(web.db, "SUP001")
    with web.db.unit_of_work() as session:
        record = remember(
            session,
            supplier_code="SUP001",
            code_key=FUZZY_GTIN,
            asin=FUZZY_ASIN,
            decision="accepted",
            actor="t",
        )
        decision_id = record.id
    web.user("alice")
    web.user("writer", ["READ_CODE2ASIN", "WRITE_CODE2ASIN"])
    web.user("reader", ["READ_CODE2ASIN"])
    web.sign_in("alice")
    for path in (
        f"{DECISIONS}/{decision_id}",
        f"{DECISIONS}/{decision_id}/forget",
        f"{UI}/jobs/{job_id}/rows/1/reject",
    ):
        assert web.client.post(path, data={"decision": "rejected"}).status_code == 403
    web.sign_in("reader")
    page = web.client.get(DECISIONS).text
    assert _ids(page) == [str(decision_id)] and 'data-action="switch"' not in page
    status, _ = _post(web, f"{DECISIONS}/{decision_id}", DECISIONS, decision="rejected")
    assert status == 403
    web.sign_in("writer")
    page = web.client.get(DECISIONS).text
    assert 'data-action="switch"' in page and 'data-action="forget"' not in page
    status, _ = _post(web, f"{DECISIONS}/{decision_id}/forget", DECISIONS)
    assert status == 403
    with web.db.sessions() as session:
        assert session.get(MatchDecisionRecord, decision_id) is not None


def test_a_supplier_scoped_user_sees_and_changes_only_its_suppliers_decisions(web: Web) -> None:
    with web.db.unit_of_work() as session:
        mine = remember(session, supplier_code="MINE", code_key="k1", asin="B000000001", decision="accepted",
                        actor="t").id  # fmt: skip
        theirs = remember(session, supplier_code="THEIRS", code_key="k1", asin="B000000002",
                          decision="accepted", actor="t").id  # fmt: skip
    web.user("scoped", suppliers=["MINE"])
    web.sign_in("scoped")
    assert _ids(web.client.get(DECISIONS).text) == [str(mine)]
    assert _ids(web.client.get(DECISIONS, params={"supplier": "THEIRS"}).text) == []
    status, _ = _post(web, f"{DECISIONS}/{theirs}", DECISIONS, decision="rejected")
    assert status == 404
    status, _ = _post(web, f"{DECISIONS}/{theirs}/forget", DECISIONS)
    assert status == 404
    with web.db.sessions() as session:
        record = session.get(MatchDecisionRecord, theirs)
        assert record is not None and record.decision == "accepted"


def test_the_list_filters_by_supplier_code_and_decision_and_pages_by_50(web: Web) -> None:
    with web.db.unit_of_work() as session:
        for n in range(55):
            remember(session, supplier_code="SUP", code_key=f"{n:014d}", asin=f"B{n:09d}",
                     decision="rejected" if n else "accepted", actor="t", input_code=str(n))  # fmt: skip
        remember(session, supplier_code="OTHER", code_key=FUZZY_GTIN, asin=FUZZY_ASIN, decision="rejected",
                 actor="t", input_code="3017620422003")  # fmt: skip
    web.user("alice")
    web.sign_in("alice")
    first = web.client.get(DECISIONS).text
    assert len(_ids(first)) == 50 and 'rel="next"' in first and "Page 1 of 2" in first
    second = web.client.get(DECISIONS, params={"page": "2"}).text
    assert len(_ids(second)) == 6
    assert len(_ids(web.client.get(DECISIONS, params={"supplier": "OTHER"}).text)) == 1
    assert len(_ids(web.client.get(DECISIONS, params={"decision": "accepted"}).text)) == 1
    by_code = web.client.get(DECISIONS, params={"code": "3017620422003"}).text
    assert len(_ids(by_code)) == 1 and FUZZY_ASIN in by_code
    paged = web.client.get(DECISIONS, params={"supplier": "SUP", "decision": "rejected"}).text
    assert 'href="/code2asin/ui/decisions?supplier=SUP&amp;decision=rejected&amp;page=2"' in paged
