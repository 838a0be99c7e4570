"""Price tracking in the UI (TestClient, one Playwright walk), the tracker export, the webhook SSRF guard."""

from __future__ import annotations

import csv
import io
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from tests.pricing.conftest import Receiver, direct_job, priced_products
from tests.web import test_browser as walk
from tests.web.conftest import Web
from tests.web.test_browser import JOB_TIMEOUT_MS, Live, sign_in

from code2asin.accounts.service import create_token
from code2asin.db import Database
from code2asin.errors import InvalidValueError
from code2asin.jobs.models import utcnow
from code2asin.pricing import webhooks
from code2asin.pricing.export import write_prices
from code2asin.pricing.models import PriceAlert, PriceObservation, Tracker, WebhookDelivery
from code2asin.web.charts import PricePoint, price_chart

UI = "/code2asin/ui"
#: the UI walk's fixtures (a live server, Chromium, a tab), reused here
browser, live, page = walk.browser, walk.live, walk.page


def _csrf(web: Web) -> str:
    return web.csrf(f"{UI}/trackers")


def _source(web: Web, tmp_path: Path, supplier: str = "SUP001", count: int = 3) -> str:
    """A completed direct-mode job of priced sandbox products (supplier prices given)."""
    folder = tmp_path / f"src-{supplier}"
    folder.mkdir(exist_ok=True)
    return direct_job(web.db, folder, [(e, a, "5,00") for e, a, _ in priced_products(count)], supplier)


def _create(web: Web, **fields: str) -> Any:
    data = {"schedule": "0 6 * * 1", "threshold_percent": "10", "marketplace": "FR", **fields}
    return web.client.post(
        f"{UI}/trackers/new", data={**data, "csrf_token": _csrf(web)}, follow_redirects=False
    )


def _tracker_id(web: Web) -> str:
    with web.db.sessions() as session:
        return str(session.scalars(select(Tracker.id).order_by(Tracker.created_at.desc())).first())


def _run(web: Web, tracker_id: str) -> str:
    response = web.client.post(f"{UI}/trackers/{tracker_id}/run", data={"csrf_token": _csrf(web)})
    assert response.status_code == 200 and "A re-pricing run started." in response.text
    with web.db.sessions() as session:
        tracker = session.get(Tracker, tracker_id)
        assert tracker is not None and tracker.last_job_id
        job_id = tracker.last_job_id
    web.dispatcher.wait(job_id, timeout=120)
    return job_id


def _alert(db: Database, tracker_id: str, kind: str = "price_move", url: str | None = None) -> int:
    """An alert on the tracker's newest observation (what a run raises), with a delivery when ``url``."""
    with db.unit_of_work() as session:
        obs = session.scalars(
            select(PriceObservation)
            .where(PriceObservation.tracker_id == tracker_id)
            .order_by(PriceObservation.id.desc())
        ).first()
        assert obs is not None
        alert = PriceAlert(
            tracker_id=tracker_id, observation_id=obs.id, job_id=obs.job_id, supplier_code=obs.supplier_code,
            gtin=obs.gtin, asin=obs.asin, marketplace=obs.marketplace, kind=kind, previous_price=obs.price,
            price=obs.price, currency=obs.currency, change_percent=None, message=f"<b>{kind}</b> happened",
        )  # fmt: skip
        session.add(alert)
        session.flush()
        if url:
            session.add(
                WebhookDelivery(
                    alert_id=alert.id,
                    tracker_id=tracker_id,
                    url=url,
                    status="pending",
                    attempts=0,
                    next_attempt_at=utcnow() - timedelta(seconds=1),
                    attempt_log=[],
                )
            )
        return int(alert.id)


@pytest.fixture
def allow_loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODE2ASIN_WEBHOOK_HOSTS", '["127.0.0.1"]')


# -- pages over HTTP -----------------------------------------------------------------------------------


def test_tracker_pages_need_sign_in_and_the_method_permission(web: Web, tmp_path: Path) -> None:
    assert web.client.get(f"{UI}/trackers", follow_redirects=False).status_code == 303
    assert web.client.get(f"{UI}/alerts", follow_redirects=False).status_code == 303
    web.user("admin", ["ADMIN_CODE2ASIN"])
    web.sign_in("admin")
    source = _source(web, tmp_path)
    assert _create(web, source_job_id=source).status_code == 303
    tid = _tracker_id(web)
    admin = web.client.get(f"{UI}/trackers/{tid}").text
    for action in ("run", "pause", "delete"):
        assert f'data-action="{action}"' in admin

    web.user("reader", ["READ_CODE2ASIN"])
    web.sign_in("reader")
    listing = web.client.get(f"{UI}/trackers").text
    assert tid in listing and f"{UI}/trackers/new" not in listing
    html = web.client.get(f"{UI}/trackers/{tid}").text
    assert 'data-action="' not in html
    assert web.client.get(f"{UI}/trackers/new").status_code == 403
    assert web.client.get(f"{UI}/trackers/{tid}/edit").status_code == 403
    run = web.client.post(f"{UI}/trackers/{tid}/run", data={"csrf_token": _csrf(web)})
    assert run.status_code == 403 and "WRITE_CODE2ASIN" in run.text

    web.user("writer", ["READ_CODE2ASIN", "WRITE_CODE2ASIN"])
    web.sign_in("writer")
    html = web.client.get(f"{UI}/trackers/{tid}").text
    assert 'data-action="pause"' in html and 'data-action="delete"' not in html
    assert web.client.post(f"{UI}/trackers/{tid}/delete", data={"csrf_token": _csrf(web)}).status_code == 403
    paused = web.client.post(f"{UI}/trackers/{tid}/pause", data={"csrf_token": _csrf(web)})
    assert "The tracker is paused." in paused.text and 'data-action="resume"' in paused.text
    again = web.client.post(f"{UI}/trackers/{tid}/pause", data={"csrf_token": _csrf(web)})
    assert again.status_code == 200 and "already paused" in again.text  # a flash, not a crash
    assert web.client.post(f"{UI}/trackers/{tid}/explode", data={"csrf_token": _csrf(web)}).status_code == 404


def test_tracker_posts_without_the_session_csrf_token_are_refused(web: Web, tmp_path: Path) -> None:
    web.user("alice")
    web.sign_in("alice")
    source = _source(web, tmp_path)
    forged = web.client.post(f"{UI}/trackers/new", data={"source_job_id": source})
    assert forged.status_code == 403 and "The form expired" in forged.text
    assert _create(web, source_job_id=source).status_code == 303
    tid = _tracker_id(web)
    for token in (None, "not-the-token"):
        data = {} if token is None else {"csrf_token": token}
        assert web.client.post(f"{UI}/trackers/{tid}/delete", data=data).status_code == 403
        assert web.client.post(f"{UI}/alerts/1/acknowledge", data=data).status_code == 403
    assert web.client.get(f"{UI}/trackers/{tid}").status_code == 200


def test_form_errors_are_shown_next_to_their_fields_and_the_webhook_guard_refuses_private_urls(
    web: Web,
) -> None:
    web.user("alice")
    web.sign_in("alice")
    form = web.client.get(f"{UI}/trackers/new").text
    assert 'value="0 6 * * 1"' in form and 'for="webhook_url"' in form and 'for="schedule"' in form
    response = _create(
        web, supplier_code="", schedule="every monday", threshold_percent="0",
        webhook_url="http://169.254.169.254/latest/meta-data",
    )  # fmt: skip
    assert response.status_code == 422
    html = response.text
    for name in ("supplier_code", "schedule", "threshold_percent", "webhook_url"):
        assert (
            f'id="{name}-error"' in html and f'{name}-error"' in html.split(f'id="{name}"')[1].split(">")[0]
        )
    assert "non-public address 169.254.169.254" in html and "not a valid cron expression" in html
    userinfo = _create(web, supplier_code="SUP001", webhook_url="https://user:pw@hooks.example.com/x")
    assert userinfo.status_code == 422 and "user name or password" in userinfo.text
    hidden = _create(web, source_job_id="00000000-0000-0000-0000-000000000000")
    assert hidden.status_code == 422 and 'id="source_job_id-error"' in hidden.text


def test_creation_shows_the_secret_once_and_a_run_lists_its_job_products_history_and_export(
    web: Web, tmp_path: Path, allow_loopback_webhooks: None
) -> None:
    web.user("alice")
    web.sign_in("alice")
    source = _source(web, tmp_path)
    created = _create(
        web, source_job_id=source, name="Weekly <SUP001>", webhook_url="http://127.0.0.1:9/hook"
    )
    assert created.status_code == 200 and "The tracker was created." in created.text
    secret = re.search(r'<code id="secret-value"[^>]*>([^<]+)</code>', created.text)
    assert secret and len(secret.group(1)) >= 32
    assert "Weekly &lt;SUP001&gt;" in created.text
    tid = _tracker_id(web)
    shown = web.client.get(f"{UI}/trackers/{tid}").text
    assert secret.group(1) not in shown and "webhook-secret" not in shown
    assert "0 6 * * 1" in shown and "<dd>10.0%</dd>" in shown

    job_id = _run(web, tid)
    html = web.client.get(f"{UI}/trackers/{tid}").text
    assert f'href="/code2asin/{job_id}/details"' in html
    assert html.count("<tr data-gtin=") == 3 and "Products (3)" in html
    listing = web.client.get(f"{UI}/trackers").text
    assert f'href="/code2asin/{job_id}/details" class="run-link"' in listing and "Active" in listing
    assert web.client.get(f"/code2asin/{job_id}/details").status_code == 200

    gtin = re.findall(r'<tr data-gtin="(\d+)"', html)[0]
    history = web.client.get(f"{UI}/trackers/{tid}/products/{gtin}")
    assert history.status_code == 200 and "<svg" in history.text and 'role="img"' in history.text
    assert '<title id="price-chart-title">' in history.text and "<desc" in history.text
    assert web.client.get(f"{UI}/trackers/{tid}/products/0000000000000").status_code == 404

    download = web.client.get(f"{UI}/trackers/{tid}/export", params={"format": "csv"})
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["gtin", "asin", "supplier_price"] and len(rows) == 4

    edit = web.client.post(
        f"{UI}/trackers/{tid}/edit",
        data={
            "csrf_token": _csrf(web),
            "name": "Daily",
            "schedule": "0 8 * * *",
            "threshold_percent": "5,5",
            "marketplace": "FR",
            "webhook_url": "",
        },
    )
    assert edit.status_code == 200 and "The tracker was saved." in edit.text and "0 8 * * *" in edit.text
    with web.db.sessions() as session:
        tracker = session.get(Tracker, tid)
        assert tracker is not None and tracker.webhook_url is None and float(tracker.threshold_percent) == 5.5
    deleted = web.client.post(f"{UI}/trackers/{tid}/delete", data={"csrf_token": _csrf(web)})
    assert "The tracker was deleted." in deleted.text
    assert web.client.get(f"{UI}/trackers/{tid}").status_code == 404


def test_alerts_are_filtered_and_acknowledged_with_the_supplier_scope_kept(web: Web, tmp_path: Path) -> None:
    web.user("admin", ["ADMIN_CODE2ASIN"])
    web.sign_in("admin")
    assert _create(web, source_job_id=_source(web, tmp_path)).status_code == 303
    mine = _tracker_id(web)
    _run(web, mine)
    assert _create(web, source_job_id=_source(web, tmp_path, "OTHER", 1)).status_code == 303
    other = _tracker_id(web)
    _run(web, other)
    move = _alert(web.db, mine, "price_move")
    _alert(web.db, mine, "out_of_stock")
    hidden = _alert(web.db, other, "price_move")

    web.user("scoped", ["READ_CODE2ASIN", "WRITE_CODE2ASIN"], ["SUP001"])
    web.sign_in("scoped")
    listing = web.client.get(f"{UI}/alerts").text
    assert listing.count("<tr data-alert-id=") == 2 and f'data-alert-id="{hidden}"' not in listing
    assert "&lt;b&gt;price_move&lt;/b&gt;" in listing  # messages are escaped
    assert other not in web.client.get(f"{UI}/trackers").text
    assert web.client.get(f"{UI}/trackers/{other}").status_code == 404
    refused = _create(web, supplier_code="OTHER")
    assert refused.status_code == 422 and "may not track this supplier" in refused.text
    kinds = web.client.get(f"{UI}/alerts", params={"kind": "out_of_stock"}).text
    assert kinds.count("<tr data-alert-id=") == 1
    assert web.client.get(f"{UI}/alerts", params={"tracker": other}).text.count("<tr data-alert-id=") == 0

    ack = web.client.post(
        f"{UI}/alerts/{move}/acknowledge",
        data={"csrf_token": _csrf(web), "next": f"{UI}/alerts?acknowledged=no"},
    )
    assert ack.status_code == 200 and f"Alert {move} is acknowledged." in ack.text
    assert ack.text.count("<tr data-alert-id=") == 1  # back to the "not acknowledged" filter
    done = web.client.get(f"{UI}/alerts", params={"acknowledged": "yes"}).text
    assert f'data-alert-id="{move}"' in done and ">scoped</span>" in done
    assert (
        web.client.post(f"{UI}/alerts/{hidden}/acknowledge", data={"csrf_token": _csrf(web)}).status_code
        == 404
    )
    with web.db.sessions() as session:
        alert = session.get(PriceAlert, hidden)
        assert alert is not None and alert.acknowledged_at is None

    web.user("reader", ["READ_CODE2ASIN"])
    web.sign_in("reader")
    assert 'data-action="acknowledge"' not in web.client.get(f"{UI}/alerts").text
    assert (
        web.client.post(f"{UI}/alerts/{move}/acknowledge", data={"csrf_token": _csrf(web)}).status_code == 403
    )


def test_pricing_pages_speak_french(web: Web, tmp_path: Path) -> None:
    web.user("alice")
    web.sign_in("alice")
    assert _create(web, source_job_id=_source(web, tmp_path, count=1)).status_code == 303
    tid = _tracker_id(web)
    french = {"Accept-Language": "fr-FR,fr;q=0.9"}
    assert "Suivis de prix" in web.client.get(f"{UI}/trackers", headers=french).text
    html = web.client.get(f"{UI}/trackers/{tid}", headers=french).text
    assert "Exécuter maintenant" in html and "Aucune exécution pour l&#39;instant." in html
    assert "Planification (cron, UTC)" in web.client.get(f"{UI}/trackers/new", headers=french).text
    assert "Alertes de prix" in web.client.get(f"{UI}/alerts", headers=french).text
    assert "Price trackers" in web.client.get(f"{UI}/trackers").text


def test_price_chart_escapes_labels_and_breaks_the_line_where_there_was_no_offer() -> None:
    svg = price_chart(
        "<t>", "a&b", [PricePoint("<d1>", 10.0), PricePoint("d2", 12.5), PricePoint("d3", None),
                       PricePoint("d4", 11.0)], "<EUR>",
    )  # fmt: skip
    assert "<t>" not in svg and "&lt;t&gt;" in svg and "a&amp;b" in svg and "&lt;d1&gt;" in svg
    assert "<EUR>" not in svg and svg.count("<polyline") == 1 and svg.count("<circle") == 3
    assert 'data-gap="1"' in svg and "<title" in svg and "<desc" in svg
    assert "<circle" in price_chart("one", "one", [PricePoint("d", 3.0)])


# -- export --------------------------------------------------------------------------------------------


def _api_token(db: Database, suppliers: list[str] | None = None) -> dict[str, str]:
    with db.unit_of_work() as session:
        _, plain = create_token(session, ["READ_CODE2ASIN"], suppliers or [])
    return {"Authorization": f"Bearer {plain}"}


def test_export_api_gives_one_row_per_product_in_xlsx_without_formulas_and_hides_other_suppliers(
    web: Web, tmp_path: Path
) -> None:
    web.user("alice")
    web.sign_in("alice")
    assert _create(web, source_job_id=_source(web, tmp_path)).status_code == 303
    tid = _tracker_id(web)
    _run(web, tid)
    reader = _api_token(web.db)
    response = web.client.get(f"/code2asin/trackers/{tid}/export", headers=reader)
    assert response.status_code == 200 and "spreadsheetml" in response.headers["content-type"]
    path = tmp_path / "prices.xlsx"
    path.write_bytes(response.content)
    workbook = openpyxl.load_workbook(path)
    try:
        sheet = workbook["Prices"]
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0] == ("gtin", "asin", "supplier_price", "latest_price", "currency", "previous_price",
                           "change_percent", "price_difference_percent", "currency_mismatch", "in_stock",
                           "observed_at")  # fmt: skip
        assert len(rows) == 4
        for row in rows[1:]:
            assert row[2] == 5 and isinstance(row[3], int | float) and row[4] == "EUR" and row[9] == "yes"
            assert isinstance(row[7], int | float) and row[8] is None and row[10]
        assert all(cell.data_type != "f" for r in sheet.iter_rows() for cell in r)
    finally:
        workbook.close()
    csv_answer = web.client.get(f"/code2asin/trackers/{tid}/export?format=csv", headers=reader)
    assert csv_answer.status_code == 200 and csv_answer.text.count("\n") == 4
    assert web.client.get(f"/code2asin/trackers/{tid}/export?format=pdf", headers=reader).status_code == 422
    other = _api_token(web.db, ["OTHER"])
    assert web.client.get(f"/code2asin/trackers/{tid}/export", headers=other).status_code == 404
    assert web.client.get(f"/code2asin/trackers/{tid}/export").status_code == 401


def test_export_writer_neutralises_formula_like_text_and_flags_currency_mismatches(tmp_path: Path) -> None:
    row = {"gtin": "=1+1", "asin": "@SUM(A1)", "supplier_price": None, "latest_price": 10, "currency": "GBP",
           "previous_price": None, "change_percent": None, "price_difference_percent": None,
           "currency_mismatch": "-Amazon price in GBP, supplier price in EUR", "in_stock": True,
           "observed_at": None}  # fmt: skip
    write_prices(tmp_path / "p.xlsx", [row])
    write_prices(tmp_path / "p.csv", [row])
    workbook = openpyxl.load_workbook(tmp_path / "p.xlsx")
    try:
        cells = next(iter(workbook["Prices"].iter_rows(min_row=2)))
        assert cells[0].value == "=1+1" and cells[0].data_type == "s" and cells[0].quotePrefix
        assert cells[8].data_type == "s" and cells[7].value is None
    finally:
        workbook.close()
    text = (tmp_path / "p.csv").read_text("utf-8-sig")
    assert "'=1+1,'@SUM(A1)" in text and "'-Amazon price in GBP" in text
    with pytest.raises(ValueError):
        write_prices(tmp_path / "p.pdf", [row])


# -- the webhook SSRF guard ----------------------------------------------------------------------------


def _resolver(*addresses: str) -> Any:
    def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.1.2.3/hook", "non-public address 10.1.2.3"),
        ("http://192.168.0.10:8080/hook", "non-public"),
        ("http://127.0.0.1:9000/hook", "non-public address 127.0.0.1"),
        ("http://[::1]/hook", "non-public address ::1"),
        ("http://[::ffff:127.0.0.1]/hook", "non-public"),
        ("http://169.254.169.254/latest/meta-data", "non-public address 169.254.169.254"),
        ("http://0.0.0.0/hook", "non-public"),
        ("https://user:secret@hooks.example.com/x", "user name or password"),
        ("https://@hooks.example.com/x", "user name or password"),
        ("ftp://hooks.example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://hooks.example.com:99999/x", "invalid port"),
        ("https://hooks example.com/x", "spaces"),
        ("https://internal.example.com/x", "non-public address 10.0.0.5"),
    ],
)
def test_webhook_guard_refuses_what_could_reach_a_private_service(url: str, reason: str) -> None:
    with pytest.raises(InvalidValueError, match=re.escape(reason)):
        webhooks.check_webhook_url(url, (), getaddrinfo=_resolver("10.0.0.5"))


def test_webhook_guard_accepts_public_addresses_and_allowlisted_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    webhooks.check_webhook_url("https://hooks.example.com/x", (), getaddrinfo=_resolver("93.184.216.34"))
    with pytest.raises(InvalidValueError, match="non-public"):  # one private answer is enough to refuse
        webhooks.check_webhook_url("https://a.example.com/", (), getaddrinfo=_resolver("8.8.8.8", "10.0.0.1"))

    def unknown(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(InvalidValueError, match="could not be resolved"):
        webhooks.check_webhook_url("https://nowhere.invalid/", (), getaddrinfo=unknown)
    monkeypatch.setenv("CODE2ASIN_WEBHOOK_HOSTS", '["127.0.0.1", "receiver.internal:8443"]')
    webhooks.check_webhook_url("http://127.0.0.1:9000/hook")
    webhooks.check_webhook_url("https://receiver.internal:8443/x", getaddrinfo=_resolver("10.0.0.9"))
    with pytest.raises(InvalidValueError, match="non-public"):  # the entry names its port
        webhooks.check_webhook_url("https://receiver.internal:9443/x", getaddrinfo=_resolver("10.0.0.9"))
    monkeypatch.setenv("CODE2ASIN_WEBHOOK_HOSTS", '["127.0.0.1", "localhost"]')
    assert [h.host for h in webhooks.webhook_hosts()] == ["127.0.0.1", "localhost"]


def test_webhook_api_answers_422_for_a_private_url(web: Web, tmp_path: Path) -> None:
    writer = {"Authorization": "Bearer " + _plain_token(web.db)}
    body = {"supplier_code": "SUP001", "webhook_url": "http://169.254.169.254/"}
    refused = web.client.post("/code2asin/trackers", headers=writer, json=body)
    assert refused.status_code == 422 and "169.254.169.254" in refused.text
    created = web.client.post("/code2asin/trackers", headers=writer, json={"supplier_code": "SUP001"})
    assert created.status_code == 201
    tid = created.json()["id"]
    patched = web.client.patch(
        f"/code2asin/trackers/{tid}", headers=writer, json={"webhook_url": "http://127.0.0.1:8080/x"}
    )
    assert patched.status_code == 422 and "CODE2ASIN_WEBHOOK_HOSTS" in patched.text


def _plain_token(db: Database) -> str:
    with db.unit_of_work() as session:
        _, plain = create_token(session, ["READ_CODE2ASIN", "WRITE_CODE2ASIN"])
    return plain


def test_delivery_re_checks_the_url_and_logs_a_refused_one_as_failed_invalid_data(
    web: Web, tmp_path: Path, allow_loopback_webhooks: None
) -> None:
    web.user("alice")
    web.sign_in("alice")
    with Receiver() as receiver:
        created = _create(web, source_job_id=_source(web, tmp_path, count=1), webhook_url=receiver.url)
        assert created.status_code == 200
        tid = _tracker_id(web)
        _run(web, tid)
        allowed = _alert(web.db, tid, "price_move", url=receiver.url)
        refused = _alert(web.db, tid, "out_of_stock", url="http://169.254.169.254/latest")
        # the allowlist is read at delivery time: the loopback receiver passes, the metadata address never
        assert webhooks.deliver_due(web.db) == 2
        assert [r["alert"]["id"] for r in receiver.delivered()] == [allowed]
        # once the host leaves the allowlist, even the receiver that was accepted at creation is refused
        third = _alert(web.db, tid, "back_in_stock", url=receiver.url)
        assert webhooks.deliver_due(web.db, trusted=()) == 1
        assert len(receiver.requests) == 1
    with web.db.sessions() as session:
        by_alert = {d.alert_id: d for d in session.scalars(select(WebhookDelivery))}
    assert by_alert[allowed].status == "delivered"
    for alert_id in (refused, third):
        delivery = by_alert[alert_id]
        assert delivery.status == "failed" and delivery.next_attempt_at is None
        assert (delivery.last_error or "").startswith("invalid_data: webhook_url refused")
        assert delivery.attempt_log[-1]["status_code"] is None


# -- the browser walk ----------------------------------------------------------------------------------


def test_browser_user_creates_a_tracker_runs_it_and_acknowledges_an_alert(
    page: Page,
    live: Live,
    tmp_path: Path,
    browser: Browser,
) -> None:
    rows = [(e, a, "5,00") for e, a, _ in priced_products(4)]
    source = direct_job(live.db, tmp_path, rows, "BIOVERT")
    sign_in(page)
    page.get_by_role("link", name="Price tracking").click()
    expect(page.get_by_role("heading", name="Price trackers")).to_be_visible()
    page.get_by_role("link", name="New tracker").click()
    page.get_by_label("Name").fill("BIOVERT weekly")
    page.get_by_label("Source job (optional)").fill(source)
    expect(page.get_by_label("Schedule (cron, UTC)")).to_have_value("0 6 * * 1")
    page.get_by_label("Alert threshold (%)").fill("8")
    page.get_by_label("Webhook URL (optional)").fill("http://10.0.0.1/hook")
    page.get_by_role("button", name="Create the tracker").click()
    expect(page.locator("#webhook_url-error")).to_contain_text("non-public")
    expect(page.get_by_label("Webhook URL (optional)")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Webhook URL (optional)").fill("")
    page.get_by_role("button", name="Create the tracker").click()
    expect(page.locator(".flash")).to_contain_text("The tracker was created.")
    expect(page.locator("#tracker-status")).to_have_text("Active")

    page.get_by_role("button", name="Run now").click()
    expect(page.locator(".flash")).to_contain_text("A re-pricing run started.")
    run_link = page.locator("#runs-table a.run-link").first
    expect(run_link).to_be_visible()
    for _ in range(240):  # the run completes in the background: reload until the products are priced
        if page.locator("#products-table tbody tr").count() == 4:
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator("#products-table tbody tr")).to_have_count(4, timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#runs-table .badge-completed")).to_be_visible()
    job_href = run_link.get_attribute("href") or ""
    assert re.fullmatch(r"/code2asin/[0-9a-f-]{36}/details", job_href)

    with live.db.sessions() as session:
        tracker = session.scalars(select(Tracker)).one()
        tid = tracker.id
    _alert(live.db, tid, "price_move")
    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page.locator("#alerts-table tbody tr")).to_have_count(1)
    page.get_by_label("Kind").select_option("price_move")
    page.get_by_label("Acknowledged").select_option("no")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name=re.compile(r"Acknowledge alert \d+")).click()
    expect(page.locator(".flash")).to_contain_text("is acknowledged.")
    expect(page.locator("#alerts-table")).to_have_count(0)

    page.goto(f"{UI}/trackers/{tid}")
    page.locator("#products-table tbody tr a").first.click()
    expect(page.locator("#price-chart svg")).to_be_visible()
    page.goto(f"{UI}/trackers/{tid}")
    # keyboard: the run link is reachable and followed with Enter
    run_link = page.locator("#runs-table a.run-link").first
    run_link.focus()
    expect(run_link).to_be_focused()
    # the visible part stays small enough to commit (CODE2ASIN_TEST_SCREENSHOTS=docs/screenshots refreshes
    # it); a test run writes nothing into the repository
    shot = live.artifacts / "trackers-visible.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size < 300_000
    live.shot(page, "trackers")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(job_href) + "$"))

    phone = browser.new_context(
        base_url=live.base_url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    try:
        small = phone.new_page()
        sign_in(small)
        for path in (f"{UI}/trackers", f"{UI}/trackers/{tid}", f"{UI}/alerts", f"{UI}/trackers/new"):
            small.goto(path)
            width = small.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width}px wide on a 390px phone"
    finally:
        phone.close()
