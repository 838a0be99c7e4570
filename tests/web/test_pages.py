"""The UI over plain HTTP (TestClient): sign-in, CSRF, permissions, supplier scope, import, actions, i18n."""

from __future__ import annotations

import re

from tests.web.conftest import EXAMPLES, Web

from code2asin.config import Settings
from code2asin.web.charts import Series, error_chart
from code2asin.web.i18n import MESSAGES, negotiate
from code2asin.web.security import SECRET_FILE, secret_key

IMPORT_FIELDS = {
    "supplier_code": "SUP001",
    "mode": "direct",
    "provider_plan": "sandbox",
    "marketplace": "FR",
    "max_images_per_product": "10",
    "image_mode": "replace",
}


def _preview(
    web: Web, path: str = "direct_example.csv", content: bytes | None = None, **fields: str
) -> tuple[int, str]:
    data = {**IMPORT_FIELDS, **fields, "csrf_token": web.csrf("/code2asin/ui/import")}
    body = content if content is not None else (EXAMPLES / path).read_bytes()
    files = {"file": (path, body, "text/csv")}
    response = web.client.post("/code2asin/ui/import", data=data, files=files)
    return response.status_code, response.text


def _create(web: Web, start: bool, content: bytes | None = None, **fields: str) -> str:
    status, html = _preview(web, content=content, **fields)
    assert status == 200, html
    found = re.search(r'name="upload" value="([^"]+)"', html)
    assert found
    data = {**IMPORT_FIELDS, **fields, "csrf_token": web.csrf("/code2asin/ui/import")}
    data.update(upload=found.group(1), start="1" if start else "0")
    response = web.client.post("/code2asin/ui/import/create", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].split("/")[2]
    if start:
        web.dispatcher.wait(job_id, timeout=60)
    return job_id


def test_anonymous_visitor_is_sent_to_sign_in_and_root_leads_to_the_jobs_list(web: Web) -> None:
    root = web.client.get("/", follow_redirects=False)
    assert root.status_code == 303 and root.headers["location"] == "/code2asin/ui/jobs"
    jobs = web.client.get("/code2asin/ui/jobs", follow_redirects=False)
    assert jobs.status_code == 303
    assert jobs.headers["location"].startswith("/code2asin/ui/login?next=%2Fcode2asin%2Fui%2Fjobs")
    web.user("alice")
    web.sign_in("alice")
    assert "Jobs" in web.client.get("/").text


def test_wrong_password_shows_an_error_and_signs_nobody_in(web: Web) -> None:
    web.user("alice")
    response = web.client.post(
        "/code2asin/ui/login", data={"csrf_token": web.csrf(), "username": "alice", "password": "wrong pass"}
    )
    assert response.status_code == 401
    assert "Unknown username or wrong password." in response.text
    assert web.client.get("/code2asin/ui/jobs", follow_redirects=False).status_code == 303


def test_a_form_without_the_session_csrf_token_is_refused(web: Web) -> None:
    web.user("alice")
    forged = web.client.post("/code2asin/ui/login", data={"username": "alice", "password": "x" * 20})
    assert forged.status_code == 403
    web.sign_in("alice")
    job_id = _create(web, start=False)
    for token in (None, "not-the-token"):
        data = {} if token is None else {"csrf_token": token}
        response = web.client.post(f"/code2asin/ui/jobs/{job_id}/start", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "The form expired" in response.text
    assert "badge-pending" in web.client.get(f"/code2asin/{job_id}/details").text


def test_sign_out_rotates_the_csrf_token_and_forgets_the_user(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    before = web.csrf("/code2asin/ui/jobs")
    out = web.client.post("/code2asin/ui/logout", data={"csrf_token": before}, follow_redirects=False)
    assert out.status_code == 303
    assert web.client.get("/code2asin/ui/jobs", follow_redirects=False).status_code == 303
    assert web.csrf() != before


def test_permissions_decide_which_buttons_appear_and_which_posts_pass(web: Web) -> None:
    web.user("admin", ["ADMIN_CODE2ASIN"])
    web.sign_in("admin")
    job_id = _create(web, start=False)
    admin_page = web.client.get(f"/code2asin/{job_id}/details").text
    assert 'data-action="start"' in admin_page and 'data-action="delete"' in admin_page

    web.user("reader", ["READ_CODE2ASIN"])
    web.sign_in("reader")
    page = web.client.get(f"/code2asin/{job_id}/details").text
    assert 'data-action="' not in page and "/import" not in page.split("<main")[0]
    start = web.client.post(
        f"/code2asin/ui/jobs/{job_id}/start", data={"csrf_token": web.csrf("/code2asin/ui/jobs")}
    )
    assert start.status_code == 403 and "WRITE_CODE2ASIN" in start.text
    assert web.client.get("/code2asin/ui/import").status_code == 403

    web.user("writer", ["READ_CODE2ASIN", "WRITE_CODE2ASIN"])
    web.sign_in("writer")
    page = web.client.get(f"/code2asin/{job_id}/details").text
    assert 'data-action="start"' in page and 'data-action="delete"' not in page
    delete = web.client.post(
        f"/code2asin/ui/jobs/{job_id}/delete", data={"csrf_token": web.csrf("/code2asin/ui/jobs")}
    )
    assert delete.status_code == 403


def test_a_supplier_scoped_user_neither_lists_nor_opens_other_suppliers_jobs(web: Web) -> None:
    web.user("admin", ["ADMIN_CODE2ASIN"])
    web.sign_in("admin")
    other = _create(web, start=False, supplier_code="OTHER")
    web.user("scoped", ["READ_CODE2ASIN", "WRITE_CODE2ASIN"], ["SUP001"])
    web.sign_in("scoped")
    assert other not in web.client.get("/code2asin/ui/jobs").text
    assert web.client.get(f"/code2asin/{other}/details").status_code == 404
    assert web.client.get(f"/code2asin/ui/jobs/{other}/live").status_code == 404
    status, html = _preview(web, supplier_code="OTHER")
    assert status == 422 and "may not create jobs for this supplier" in html


def test_import_form_errors_are_shown_next_to_their_fields(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    data = {**IMPORT_FIELDS, "supplier_code": "", "max_images_per_product": "99", "provider_plan": "nope",
            "csrf_token": web.csrf("/code2asin/ui/import")}  # fmt: skip
    response = web.client.post("/code2asin/ui/import", data=data)
    assert response.status_code == 422
    html = response.text
    for field in ("file", "supplier_code", "max_images_per_product"):
        assert f'id="{field}-error"' in html
        assert f'aria-describedby="{field}-error"' in html
    status, html = _preview(web, mode="amazon", provider_plan="nope")
    assert status == 422 and 'id="provider_plan-error"' in html and "Unknown provider plan" in html


def test_preview_shows_detected_columns_and_invalid_rows_before_any_job_exists(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    status, html = _preview(web)
    assert status == 200
    assert "11 data rows: 9 valid, 2 invalid." in html
    assert "<dt>Code</dt><dd>EAN</dd>" in html and "<dt>ASIN</dt><dd>ASIN</dd>" in html
    assert "Check digit is 9 but should be 4" in html and "3,01762E+12" in html
    assert web.client.get("/code2asin/ui/jobs").text.count("data-job-id=") == 0


def test_direct_mode_preview_of_a_file_without_asin_column_flags_the_mode(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    status, html = _preview(web, "supplier_example.csv")
    assert status == 422 and 'id="mode-error"' in html and "Direct mode needs an ASIN column" in html


def test_create_and_start_runs_the_job_and_a_row_can_be_validated_by_hand(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    job_id = _create(web, start=True)
    page = web.client.get(f"/code2asin/{job_id}/details").text
    assert "badge-completed" in page and 'id="tile-total"' in page
    for label in ("Total Codes", "With ASIN", "With Images", "With Price", "Exact Matches", "Fuzzy Matches",
                  "Partial Matches", "Avg Confidence"):  # fmt: skip
        assert label in page
    assert "Started" in page and "Completed" in page and "Total duration" in page
    invalid = web.client.get(f"/code2asin/{job_id}/details", params={"tab": "results", "status": "invalid"})
    assert invalid.text.count('<tr data-row="') == 4
    validated = web.client.post(
        f"/code2asin/ui/jobs/{job_id}/rows/8/validate",
        data={
            "csrf_token": web.csrf("/code2asin/ui/jobs"),
            "asin": "B00KWB94LS",
            "next": f"/code2asin/{job_id}/details",
        },
    )
    assert validated.status_code == 200 and "Row 8 now has the ASIN B00KWB94LS." in validated.text
    manual = web.client.get(f"/code2asin/{job_id}/details", params={"match_type": "manual"}).text
    assert manual.count('<tr data-row="') == 8
    logs = web.client.get(f"/code2asin/{job_id}/details", params={"tab": "logs"}).text
    assert "Validated by hand by user:alice" in logs
    bad = web.client.post(
        f"/code2asin/ui/jobs/{job_id}/rows/8/validate",
        data={"csrf_token": web.csrf("/code2asin/ui/jobs"), "asin": "nope"},
    )
    assert "is not valid" in bad.text


def test_the_needs_review_tile_and_filter_list_the_rows_to_check_with_their_reason(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    content = "EAN;ASIN;Désignation\n5035010764456;B000WRONG1;Planche à découper\n3372850489043;;Perceuse\n"
    job_id = _create(web, start=True, content=content.encode(), path="with_asin.csv", mode="amazon")
    page = web.client.get(f"/code2asin/{job_id}/details").text
    assert "Needs Review" in page and "Supplier ASIN Differs" in page
    assert re.search(r'id="tile-asin_differs"[^>]*>1<', page)
    flagged = web.client.get(f"/code2asin/{job_id}/details", params={"tab": "results", "needs_review": "1"})
    assert '<tr data-row="1"' in flagged.text and 'data-review="supplier_asin' in flagged.text
    assert "supplier ASIN B000WRONG1 differs: check." in flagged.text
    assert '<option value="1" selected>' in flagged.text
    others = web.client.get(f"/code2asin/{job_id}/details", params={"tab": "results", "needs_review": "0"})
    assert '<tr data-row="1"' not in others.text and "data-review=" not in others.text
    french = web.client.get(f"/code2asin/{job_id}/details", headers={"Accept-Language": "fr"}).text
    assert "À vérifier" in french and "ASIN fournisseur différent" in french


def test_a_forbidden_transition_is_reported_on_the_page_not_as_a_crash(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    job_id = _create(web, start=True)
    response = web.client.post(
        f"/code2asin/ui/jobs/{job_id}/pause", data={"csrf_token": web.csrf("/code2asin/ui/jobs")}
    )
    assert response.status_code == 200 and "Cannot pause a job that is completed" in response.text


def test_delete_removes_the_job_and_returns_to_the_list(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    job_id = _create(web, start=False)
    response = web.client.post(
        f"/code2asin/ui/jobs/{job_id}/delete", data={"csrf_token": web.csrf("/code2asin/ui/jobs")}
    )
    assert response.status_code == 200 and "The job was deleted." in response.text
    assert web.client.get(f"/code2asin/{job_id}/details").status_code == 404


def test_jobs_list_filters_by_status_and_supplier_and_paginates(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    started = _create(web, start=True, supplier_code="ACME-1")
    for n in range(21):
        _create(web, start=False, supplier_code=f"BETA_{n}")
    done = web.client.get("/code2asin/ui/jobs", params={"status": "completed"}).text
    assert done.count("data-job-id=") == 1 and started in done
    assert web.client.get("/code2asin/ui/jobs", params={"supplier": "acme"}).text.count("data-job-id=") == 1
    # "%" is a LIKE wildcard: the search must treat it as a character
    assert web.client.get("/code2asin/ui/jobs", params={"supplier": "A%1"}).text.count("data-job-id=") == 0
    assert web.client.get("/code2asin/ui/jobs", params={"supplier": "a_1"}).text.count("data-job-id=") == 11
    first = web.client.get("/code2asin/ui/jobs").text
    assert first.count("data-job-id=") == 20 and "Page 1 of 2 (22 in all)" in first
    second = web.client.get("/code2asin/ui/jobs", params={"page": 2}).text
    assert second.count("data-job-id=") == 2 and 'rel="prev"' in second
    assert 'role="progressbar"' in first and "badge-pending" in first


def test_live_endpoint_gives_status_tiles_and_fresh_fragments(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    job_id = _create(web, start=True)
    live = web.client.get(f"/code2asin/ui/jobs/{job_id}/live").json()
    assert live["status"] == "completed" and live["active"] is False
    assert set(live["tiles"]) == {"total", "with_asin", "with_images", "with_price", "exact", "fuzzy",
                                  "partial", "avg_confidence", "needs_review", "asin_differs"}  # fmt: skip
    assert live["tiles"]["total"] == "11" and live["progress_percent"] == 100.0
    assert 'data-action="delete"' in live["actions_html"] and "Total duration" in live["timeline_html"]


def test_language_comes_from_accept_language_then_from_the_switch_cookie(web: Web) -> None:
    french = web.client.get("/code2asin/ui/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in french.text and "Connexion" in french.text
    assert '<html lang="en">' in web.client.get("/code2asin/ui/login").text
    switch = web.client.post(
        "/code2asin/ui/lang", data={"csrf_token": web.csrf(), "lang": "fr", "next": "/code2asin/ui/login"}
    )
    assert '<html lang="fr">' in switch.text
    english_browser = web.client.get("/code2asin/ui/login", headers={"Accept-Language": "en"})
    assert "Connexion" in english_browser.text


def test_negotiation_picks_the_best_supported_language_by_quality() -> None:
    assert negotiate(None, "de-DE,fr;q=0.4,en;q=0.8") == "en"
    assert negotiate(None, "de, fr-CA;q=0.7") == "fr"
    assert negotiate(None, "de") == "en" and negotiate(None, None) == "en"
    assert negotiate("fr", "en") == "fr" and negotiate("xx", "fr") == "fr"


def test_both_catalogues_have_the_same_keys_so_no_page_falls_back_silently() -> None:
    assert set(MESSAGES["fr"]) | {"app.title"} == set(MESSAGES["en"])


def test_statistics_page_draws_the_error_breakdown_over_7_and_30_days(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    _create(web, start=True)
    html = web.client.get("/code2asin/ui/statistics").text
    assert "<svg" in html and 'role="img"' in html
    assert "Errors over the last 7 days" in html and "Errors over the last 30 days" in html
    assert html.count('data-key="invalid_data"') == 2
    assert "4 (100.0%)" in html


def test_chart_escapes_every_label() -> None:
    svg = error_chart("<t>", [("k", "<script>")], [Series("a&b", {"k": 3})])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg


def test_next_parameter_never_leads_to_another_site(web: Web) -> None:
    web.user("alice")
    response = web.client.post(
        "/code2asin/ui/login",
        data={
            "csrf_token": web.csrf(),
            "username": "alice",
            "password": "correct horse battery",
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/code2asin/ui/jobs"


def test_secret_key_is_generated_once_under_the_data_dir_and_reused(settings: Settings) -> None:
    first = secret_key(settings)
    assert len(first) >= 32 and (settings.data_dir / SECRET_FILE).stat().st_mode & 0o077 == 0
    assert secret_key(settings) == first


def test_a_session_cookie_signed_with_another_key_is_ignored(web: Web) -> None:
    web.user("alice")
    web.sign_in("alice")
    assert web.client.get("/code2asin/ui/jobs", follow_redirects=False).status_code == 200
    web.client.cookies.clear()
    web.client.cookies.set("code2asin_session", "eyJjc3JmIjoieCJ9.forged.sig")
    assert web.client.get("/code2asin/ui/jobs", follow_redirects=False).status_code == 303
