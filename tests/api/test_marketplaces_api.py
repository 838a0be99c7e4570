"""A job on several marketplaces through the HTTP API (SQLite and PostgreSQL), against the sandbox."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from tests.api.conftest import Api, upload

from code2asin.jobs.models import JobItem

CONTENT = b"EAN;Titre\n3017620422003;Nutella 400 g\n5449000000996;Coca-Cola 33 cl\n123;pas un code\n"
OPTIONS = '{"provider": "sandbox", "marketplaces": ["FR", "de", "IT"]}'


def _get(api: Api, token: str, url: str, **params: Any) -> Any:
    response = api.client.get(url, headers=api.headers(token), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_three_marketplace_job_answers_per_marketplace_everywhere(api: Api) -> None:
    token = api.token()
    created = upload(api, token, amazon=True, options=OPTIONS, content=CONTENT, filename="codes.csv")
    assert created["_status"] == 201, created
    job_id = str(created["job_id"])
    assert api.client.post(f"/code2asin/jobs/{job_id}/start", headers=api.headers(token)).status_code == 200
    api.dispatcher.wait(job_id, timeout=180)

    details = _get(api, token, f"/code2asin/jobs/{job_id}")
    assert details["status"] == "completed", details
    assert details["marketplace"] == "FR" and details["marketplaces"] == ["FR", "DE", "IT"]
    assert details["total_codes"] == 9 and details["processed_codes"] == 9
    assert [s["provider"] for s in details["plan_stages"]] == ["spapi", "creators", "keepa"]
    assert details["plan_stages"][0]["role"].startswith("identify")
    by_market = details["statistics_by_marketplace"]
    assert list(by_market) == ["FR", "DE", "IT"]
    assert all(by_market[m]["total"] == 3 and by_market[m]["invalid"] == 1 for m in by_market)
    assert sum(by_market[m]["matched"] for m in by_market) == details["statistics"]["matched"]
    availability = details["availability"]
    assert availability["rows"] == 3 and availability["marketplaces"] == ["FR", "DE", "IT"]
    assert availability["on_no_marketplace"] >= 1  # the invalid row
    assert sum(availability["by_count"].values()) == 3

    results = _get(api, token, f"/code2asin/results/{job_id}")
    assert results["marketplaces"] == ["FR", "DE", "IT"] and results["total"] == 9
    # input order, each row's marketplaces side by side
    assert [i["row"] for i in results["items"]] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    for r in (1, 2, 3):
        assert {i["marketplace"] for i in results["items"] if i["row"] == r} == {"FR", "DE", "IT"}
    for item in results["items"]:
        on = [
            i["marketplace"] for i in results["items"] if i["row"] == item["row"] and i["status"] == "matched"
        ]
        assert sorted(item["available_on"]) == sorted(on)
        if item["status"] == "matched":
            assert item["asin"] and item["amazon_currency"] == "EUR"
            # every filled field names the provider that supplied it
            assert item["field_sources"]["asin"] == "spapi"
            assert set(item["field_sources"]) >= {"asin", "amazon_title"}
            assert set(item["field_sources"].values()) <= {"spapi", "creators", "keepa"}
            if item["amazon_rating"] is not None:
                assert item["field_sources"]["amazon_rating"] == "keepa"
        else:
            assert item["field_sources"] == {} and item["error_message"]

    german = _get(api, token, f"/code2asin/results/{job_id}", marketplace="de")
    assert german["filtered_total"] == 3 and german["total"] == 3
    assert {i["marketplace"] for i in german["items"]} == {"DE"}
    assert german["with_asin"] == by_market["DE"]["with_asin"]
    foreign = api.client.get(
        f"/code2asin/results/{job_id}", headers=api.headers(token), params={"marketplace": "US"}
    )
    assert foreign.status_code == 422 and "FR, DE, IT" in foreign.json()["error"]["message"]

    url = f"/code2asin/jobs/{job_id}/results/3/validate"
    unnamed = api.client.post(url, headers=api.headers(token), json={"asin": "B00KWB94LS"})
    assert unnamed.status_code == 422 and "which marketplace" in unnamed.json()["error"]["message"]
    named = api.client.post(
        url, headers=api.headers(token), params={"marketplace": "DE"}, json={"asin": "B00KWB94LS"}
    )
    assert named.status_code == 200, named.text
    assert named.json()["marketplace"] == "DE"
    assert named.json()["field_sources"]["asin"].startswith("manual:token:")
    with api.db.unit_of_work() as session:
        row3 = {i.marketplace: i.status for i in session.query(JobItem).filter_by(job_id=job_id, row_no=3)}
    assert row3 == {"FR": "invalid", "DE": "matched", "IT": "invalid"}

    download = api.client.get(f"/code2asin/jobs/{job_id}/download", headers=api.headers(token))
    assert download.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(download.content), read_only=True)
    assert book.sheetnames == ["Available on", "Results FR", "Results DE", "Results IT", "Summary"]
    assert sum(1 for _ in book["Results DE"].iter_rows(min_row=2)) == 3


def test_direct_mode_refuses_several_marketplaces_with_one_sentence(api: Api) -> None:
    token = api.token()
    created = upload(api, token, options='{"marketplaces": ["FR", "DE"]}')
    assert created["_status"] == 422
    assert "one marketplace" in str(created["error"])


def test_an_unknown_marketplace_in_the_list_is_refused(api: Api) -> None:
    created = upload(
        api, api.token(), amazon=True, options='{"provider": "sandbox", "marketplaces": ["FR", "XX"]}'
    )
    assert created["_status"] == 422 and "XX" in str(created["error"])
