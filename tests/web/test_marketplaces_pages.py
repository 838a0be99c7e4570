"""A job on several marketplaces in the UI (TestClient): import form, per-marketplace tiles, "available on",
the results' marketplace filter and sources, manual validation per marketplace, plan stages, images."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.web.conftest import EXAMPLES, Web
from tests.web.test_pages import IMPORT_FIELDS, _create

from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.models import Job, JobItem, JobMode
from code2asin.providers.plan import describe_plan
from code2asin.sandbox.sample_codes import example_codes, multi_marketplace_codes
from code2asin.storage import open_storage
from code2asin.web.views import stored_image_key

MARKETS = ("FR", "DE", "IT")
TILE_IDS = ("total", "with_asin", "with_images", "with_price", "exact", "fuzzy", "partial", "avg_confidence")


def _codes() -> tuple[list[str], dict[int, list[str]]]:
    """Seven rows: 3 codes sold on FR, DE and IT, 2 sold on some of them, one invalid, one unknown; and
    the marketplaces each row should be found on (from the sandbox catalogue, not the code under test)."""
    sold = multi_marketplace_codes(3, MARKETS, not_sold=2)
    codes = [entry.code for entry in sold] + ["ABC", example_codes()["unknown"][0]]
    found = {n: [m for m, asin in entry.asins if asin] for n, entry in enumerate(sold, start=1)}
    found.update({6: [], 7: []})
    return codes, found


def _multi_job(web: Web, tmp_path: Path, actor: str = "user:alice") -> tuple[str, dict[int, list[str]]]:
    codes, found = _codes()
    path = tmp_path / "multi.csv"
    path.write_text("EAN;Désignation\n" + "".join(f"{c};Produit {n}\n" for n, c in enumerate(codes)), "utf-8")
    new = creation.NewJob("SUP001", JobMode.AMAZON, "FR", "sandbox", path.name, marketplaces=list(MARKETS))
    job_id = creation.create_job(web.db, open_table(path), new)
    with web.db.unit_of_work() as session:
        dispatch = service.start_job(session, job_id, actor).dispatch
    assert dispatch
    web.dispatcher.dispatch(job_id)
    web.dispatcher.wait(job_id, timeout=120)
    return job_id, found


def _preview(web: Web, path: str = "direct_example.csv", **fields: str | list[str]) -> tuple[int, str]:
    """The import form's first step with repeated fields (the ``marketplaces`` checkboxes) allowed."""
    data = {**IMPORT_FIELDS, **fields, "csrf_token": web.csrf("/code2asin/ui/import")}
    files = {"file": (path, (EXAMPLES / path).read_bytes(), "text/csv")}
    response = web.client.post("/code2asin/ui/import", data=data, files=files)
    return response.status_code, response.text


def _row(html: str, row: int, marketplace: str) -> str:
    found = re.search(rf'<tr data-row="{row}" data-marketplace="{marketplace}">(.*?)</tr>', html, re.S)
    assert found, f"no row {row} on {marketplace}"
    return found.group(1)


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found, f"no element #{element_id}"
    return found.group(1).strip()


@pytest.fixture
def signed_in(web: Web) -> Web:
    web.user("alice")
    web.sign_in("alice")
    return web


def test_details_show_the_tiles_of_each_marketplace_and_where_rows_are_available(
    signed_in: Web, tmp_path: Path
) -> None:
    web = signed_in
    job_id, found = _multi_job(web, tmp_path)
    html = web.client.get(f"/code2asin/{job_id}/details").text
    assert "badge-completed" in html
    assert _text(html, "tile-total") == "21"  # 7 rows on 3 marketplaces
    assert "All marketplaces: FR, DE, IT" in html and 'id="marketplace-tiles"' in html
    for market in MARKETS:
        assert _text(html, f"tile-{market}-total") == "7"
        matched = sum(market in places for places in found.values())
        assert _text(html, f"tile-{market}-with_asin") == str(matched)
        for tile_id in TILE_IDS:
            assert f'id="tile-{market}-{tile_id}"' in html
    every = sum(len(places) == 3 for places in found.values())
    none = sum(not places for places in found.values())
    assert (every, none) == (3, 2)
    assert _text(html, "available-every") == "3"
    assert _text(html, "available-some") == "2"
    assert _text(html, "available-none") == "2"
    assert "Found on all 3 marketplaces" in html
    for count in range(4):
        rows = sum(len(places) == count for places in found.values())
        assert f'<td class="num" data-count="{count}">{rows}</td>' in html

    live = web.client.get(f"/code2asin/ui/jobs/{job_id}/live").json()
    assert live["marketplace_tiles"]["DE"]["total"] == "7" and live["tiles"]["total"] == "21"
    assert 'id="available-every"' in live["marketplaces_html"]

    french = web.client.get(f"/code2asin/{job_id}/details", headers={"Accept-Language": "fr"}).text
    assert "Par place de marché" in french and "Trouvées sur les 3 places de marché" in french


def test_a_one_marketplace_job_looks_as_before(signed_in: Web) -> None:
    web = signed_in
    job_id = _create(web, start=True)
    html = web.client.get(f"/code2asin/{job_id}/details").text
    assert 'id="marketplaces-card"' not in html and 'id="marketplace-tiles"' not in html
    assert 'name="marketplace"' not in html.split('id="results-table"')[0]  # no marketplace filter
    assert "Available on" not in html and _text(html, "tile-total") == "11"
    assert web.client.get(f"/code2asin/ui/jobs/{job_id}/live").json()["marketplaces_html"] is None


def test_results_filter_by_marketplace_and_show_availability_and_field_sources(
    signed_in: Web, tmp_path: Path
) -> None:
    web = signed_in
    job_id, found = _multi_job(web, tmp_path)
    url = f"/code2asin/{job_id}/details"
    everything = web.client.get(url, params={"tab": "results"}).text
    assert everything.count('<tr data-row="') == 21
    assert '<select id="marketplace" name="marketplace">' in everything
    german = web.client.get(url, params={"tab": "results", "marketplace": "de"}).text
    assert german.count('<tr data-row="') == 7
    shown = re.findall(r'<tr data-row="\d+" data-marketplace="([A-Z]+)">', german)
    assert shown == ["DE"] * 7
    assert '<option value="DE" selected>' in german
    # a marketplace the job does not run on is no filter at all (and no crash)
    assert web.client.get(url, params={"marketplace": "JP"}).text.count('<tr data-row="') == 21

    for row, places in found.items():
        cell = re.search(
            r'<td class="available-on" data-label="Available on">(.*?)</td>',
            _row(everything, row, "FR"),
            re.S,
        )
        assert cell
        if places:
            assert cell.group(1).startswith(", ".join(places)) and f"({len(places)}/3)" in cell.group(1)
        else:
            assert "nowhere" in cell.group(1)
    missing_de = next(row for row, places in found.items() if places and "DE" not in places)
    assert "badge-not_found" in _row(german, missing_de, "DE")

    matched = _row(everything, 1, "FR")
    assert '<td class="marketplace" data-label="Marketplace">FR</td>' in matched
    sources = re.search(
        r"<details class=\"small sources\" data-sources>(.*?)</details>\s*</td>", matched, re.S
    )
    assert sources, matched
    assert '<span data-provider="spapi"><strong>spapi</strong> (ASIN, title' in sources.group(1)
    assert 'data-provider="creators"' in sources.group(1) and "price" in sources.group(1)
    with web.db.sessions() as session:
        item = session.scalars(
            select(JobItem).where(JobItem.job_id == job_id, JobItem.row_no == 1, JobItem.marketplace == "FR")
        ).one()
        given = dict(item.field_sources or {})
    assert given["asin"] == "spapi" and given["amazon_title"] == "spapi"
    for provider in set(given.values()):
        assert f'data-provider="{provider}"' in sources.group(1)


def test_manual_validation_names_the_row_and_its_marketplace(signed_in: Web, tmp_path: Path) -> None:
    web = signed_in
    job_id, found = _multi_job(web, tmp_path)
    url = f"/code2asin/{job_id}/details"
    page = web.client.get(url, params={"tab": "results", "marketplace": "DE"}).text
    missing_de = next(row for row, places in found.items() if places and "DE" not in places)
    form = _row(page, missing_de, "DE")
    assert '<input type="hidden" name="marketplace" value="DE">' in form
    assert f'<label for="asin-{missing_de}-DE"' in form and f"ASIN for row {missing_de} on DE" in form

    csrf = web.csrf("/code2asin/ui/jobs")
    target = f"/code2asin/ui/jobs/{job_id}/rows/{missing_de}/validate"
    vague = web.client.post(target, data={"csrf_token": csrf, "asin": "B00KWB94LS", "next": url})
    assert vague.status_code == 200 and "say which marketplace" in vague.text
    done = web.client.post(
        target,
        data={"csrf_token": csrf, "asin": "B00KWB94LS", "marketplace": "DE", "next": f"{url}?marketplace=DE"},
    )
    assert done.status_code == 200
    assert f"Row {missing_de} on DE now has the ASIN B00KWB94LS." in done.text
    row = _row(done.text, missing_de, "DE")
    assert "B00KWB94LS" in row and "match-manual" in row
    assert '<span data-provider="manual (alice)"><strong>manual (alice)</strong> (ASIN)' in row
    with web.db.sessions() as session:
        rows = session.execute(
            select(JobItem.marketplace, JobItem.asin).where(
                JobItem.job_id == job_id, JobItem.row_no == missing_de
            )
        )
        asins = dict(rows.all())
    assert asins["DE"] == "B00KWB94LS" and asins["FR"] != "B00KWB94LS"
    after = web.client.get(url).text
    assert _text(after, "available-every") == "4" and _text(after, "available-some") == "1"


def test_configuration_lists_the_marketplaces_and_the_plan_stages(signed_in: Web, tmp_path: Path) -> None:
    web = signed_in
    job_id, _found = _multi_job(web, tmp_path)
    html = web.client.get(f"/code2asin/{job_id}/details", params={"tab": "configuration"}).text
    assert "<dt>Marketplaces</dt>" in html and _text(html, "config-marketplaces") == "FR, DE, IT"
    stages = re.search(r'<ol class="stages" id="plan-stages">(.*?)</ol>', html, re.S)
    assert stages
    items = re.findall(r'<li data-provider="([^"]+)"><code>[^<]+</code> — ([^<]+)</li>', stages.group(1))
    assert items == [(s["provider"], s["role"]) for s in describe_plan("sandbox")]
    assert [p for p, _ in items] == ["spapi", "creators", "keepa"] and items[0][1].startswith("identify")
    french = web.client.get(
        f"/code2asin/{job_id}/details", params={"tab": "configuration"}, headers={"Accept-Language": "fr"}
    ).text
    assert "Étapes du plan" in french and "Places de marché" in french
    assert "identification : Catalog Items searchCatalogItems, 20 codes par appel" in french
    assert "enrichissement : getItems, 10 ASIN par appel" in french


def test_import_form_takes_several_marketplaces_through_the_preview(signed_in: Web) -> None:
    web = signed_in
    form = web.client.get("/code2asin/ui/import").text
    assert '<input type="checkbox" name="marketplaces" value="DE">' in form
    status, html = _preview(web, "supplier_example.csv", mode="amazon", marketplaces=["DE", "it", "FR"])
    assert status == 200, html
    assert '<input type="checkbox" name="marketplaces" value="DE" checked>' in html
    assert '<input type="checkbox" name="marketplaces" value="IT" checked>' in html
    # FR is the chosen marketplace already: ticking it again adds nothing
    assert '<input type="checkbox" name="marketplaces" value="FR">' in html
    upload = re.search(r'name="upload" value="([^"]+)"', html)
    assert upload
    data: dict[str, str | list[str]] = {**IMPORT_FIELDS, "mode": "amazon", "start": "0"}
    data.update(csrf_token=web.csrf("/code2asin/ui/import"), upload=upload.group(1))
    data["marketplaces"] = ["DE", "IT"]
    created = web.client.post("/code2asin/ui/import/create", data=data, follow_redirects=False)
    assert created.status_code == 303, created.text
    job_id = created.headers["location"].split("/")[2]
    with web.db.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.marketplace_list == ["FR", "DE", "IT"]
        count = len(session.scalars(select(JobItem.id).where(JobItem.job_id == job_id)).all())
    assert count == 39 * 3
    assert _text(web.client.get(f"/code2asin/{job_id}/details").text, "tile-DE-total") == "39"


def test_import_form_refuses_unknown_marketplaces_and_several_in_direct_mode(signed_in: Web) -> None:
    web = signed_in
    status, html = _preview(web, mode="amazon", marketplaces=["DE", "XX"])
    assert status == 422 and 'id="marketplaces-error"' in html and "XX" in html
    assert 'aria-describedby="marketplaces-error"' in html
    status, html = _preview(web, marketplaces=["DE"])
    assert status == 422 and "Direct mode imports the ASINs of one marketplace" in html
    status, html = _preview(web)  # the old single field alone still makes a one-marketplace import
    assert status == 200 and 'id="marketplaces-error"' not in html


def test_stored_images_are_told_apart_by_marketplace(signed_in: Web, tmp_path: Path) -> None:
    web = signed_in
    job_id, _found = _multi_job(web, tmp_path)
    storage = open_storage(web.settings)
    for market in ("FR", "DE"):
        key = f"images/test/{job_id}/{market}.png"
        storage.put(key, f"image of {market}".encode(), "image/png")
        with web.db.unit_of_work() as session:
            item = session.scalars(
                select(JobItem).where(
                    JobItem.job_id == job_id, JobItem.row_no == 1, JobItem.marketplace == market
                )
            ).one()
            item.stored_images = [key]
    with web.db.sessions() as session:
        assert stored_image_key(session, job_id, 1, 0, marketplace="DE") == f"images/test/{job_id}/DE.png"
        assert stored_image_key(session, job_id, 1, 0) == f"images/test/{job_id}/FR.png"  # the first
        assert stored_image_key(session, job_id, 1, 0, marketplace="IT") is None
    base = f"/code2asin/ui/jobs/{job_id}/rows/1/images/0"
    assert web.client.get(base, params={"marketplace": "DE"}).content == b"image of DE"
    assert web.client.get(base).content == b"image of FR"
    assert web.client.get(base, params={"marketplace": "IT"}).status_code == 404
    german = web.client.get(f"/code2asin/{job_id}/details", params={"marketplace": "DE"}).text
    thumb = re.search(r'<img src="([^"]+)"', _row(german, 1, "DE"))
    assert thumb and web.client.get(thumb.group(1).replace("&amp;", "&")).content == b"image of DE"
