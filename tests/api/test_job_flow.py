"""End to end through the HTTP API, on SQLite and PostgreSQL: import, run, read, download, act."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from tests.api.conftest import Api, upload

from code2asin.jobs import service
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import ChunkStatus, ItemStatus, JobChunk, JobItem
from code2asin.sandbox import sample_codes

SEED_ERROR_CLASSES = {"network", "api_rate_limit", "invalid_data", "unknown"}


def _get(api: Api, token: str, url: str, **params: Any) -> Any:
    response = api.client.get(url, headers=api.headers(token), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _post(api: Api, token: str, url: str, **kwargs: Any) -> Any:
    return api.client.post(url, headers=api.headers(token), **kwargs)


def test_direct_import_runs_to_completion_and_every_read_has_the_seed_shape(api: Api) -> None:
    token = api.token()
    created = upload(api, token)
    assert created["_status"] == 201
    job_id = created["job_id"]
    assert created == {
        "message": "Job Code2ASIN cree avec succes",
        "id": job_id,
        "job_id": job_id,
        "status": "pending",
        "estimate": None,  # a direct import calls no provider
        "_status": 201,
    }

    started = _post(api, token, f"/code2asin/jobs/{job_id}/start")
    assert started.status_code == 200
    api.dispatcher.wait(str(job_id), timeout=60)

    listing = _get(api, token, "/code2asin/jobs", page=1, per_page=20, status="completed")
    assert set(listing) == {"items", "total", "page", "per_page"}
    assert listing["total"] == 1
    assert set(listing["items"][0]) == {
        "id", "supplier_code", "status", "total_codes", "successful_conversions", "failed_conversions",
        "created_at", "completed_at",
    }  # fmt: skip
    assert listing["items"][0]["total_codes"] == 11
    assert listing["items"][0]["created_at"].endswith("Z") or "+00:00" in listing["items"][0]["created_at"]

    details = _get(api, token, f"/code2asin/jobs/{job_id}")
    assert details["status"] == "completed"
    assert [e["event"] for e in details["timeline"]] == ["created", "start", "complete"]
    assert all(e["actor"].startswith("token:") for e in details["timeline"])
    assert details["duration_seconds"] is not None
    assert details["allowed_actions"] == ["delete"]
    tiles = details["statistics"]
    assert tiles["matched"] + tiles["not_found"] + tiles["invalid"] + tiles["failed"] == tiles["total"] == 11

    results = _get(api, token, f"/code2asin/results/{job_id}", limit=5)
    for key in ("job_id", "job_status", "total", "with_asin", "with_images", "with_price", "exact_matches",
                "fuzzy_matches", "partial_matches", "avg_confidence", "items"):  # fmt: skip
        assert key in results
    assert results["total"] == 11 and len(results["items"]) == 5
    first = results["items"][0]
    assert first["product_ean"] == "3017620422003" and first["asin"] == "B00KWB94LS"
    assert first["match_type"] == "manual" and first["amazon_images"] == [] and first["stored_images"] == []
    invalid = _get(api, token, f"/code2asin/results/{job_id}", status="invalid")
    assert invalid["filtered_total"] == 4
    assert {item["error_type"] for item in invalid["items"]} == {"invalid_data"}
    assert _get(api, token, f"/code2asin/results/{job_id}", match_type="exact")["items"] == []

    statistics = _get(api, token, "/code2asin/statistics")
    assert statistics["total_jobs"] == 1 and statistics["jobs_by_status"]["completed"] == 1
    assert statistics["successful_conversions"] == 7

    errors = _get(api, token, "/code2asin/stats/errors", days=7)
    assert set(errors) == {"period_days", "total_errors", "error_breakdown", "retry_backoff_schedule"}
    assert errors["period_days"] == 7 and errors["retry_backoff_schedule"] == [1, 5, 15, 60, 240]
    assert set(errors["error_breakdown"]) == SEED_ERROR_CLASSES
    assert errors["total_errors"] == 4
    assert errors["error_breakdown"]["invalid_data"] == {
        "count": 4,
        "percentage": 100.0,
        "description": "Invalid ASIN/product data (permanent, don't retry)",
    }

    workbook = api.client.get(f"/code2asin/jobs/{job_id}/download", headers=api.headers(token))
    assert workbook.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True)["Results"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("row", "input_code", "code_type") and len(rows) == 12
    csv_file = api.client.get(
        f"/code2asin/jobs/{job_id}/download", headers=api.headers(token), params={"format": "csv"}
    )
    assert csv_file.status_code == 200 and csv_file.text.splitlines()[0].lstrip("\ufeff").startswith("row")


def test_illegal_transitions_answer_409_with_a_sentence_naming_the_status(api: Api) -> None:
    token = api.token()
    job_id = upload(api, token)["job_id"]
    for action in ("pause", "resume", "retry"):
        response = _post(api, token, f"/code2asin/jobs/{job_id}/{action}")
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "conflict"
        assert f"Cannot {action} a job that is pending" in error["message"]
    assert _post(api, token, f"/code2asin/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    again = _post(api, token, f"/code2asin/jobs/{job_id}/start")
    assert again.status_code == 409 and "cancelled" in again.json()["error"]["message"]


def test_manual_validation_sets_the_asin_and_logs_previous_asin_and_actor(api: Api) -> None:
    token = api.token()
    job_id = upload(api, token)["job_id"]
    _post(api, token, f"/code2asin/jobs/{job_id}/start")
    validated = _post(api, token, f"/code2asin/jobs/{job_id}/results/1/validate", json={"asin": "b07zqk6m1p"})
    assert validated.status_code == 200, validated.text
    item = validated.json()
    assert (item["asin"], item["match_type"], item["match_confidence"], item["status"]) == (
        "B07ZQK6M1P", "manual", 1.0, "matched",
    )  # fmt: skip
    logs = _get(api, token, f"/code2asin/jobs/{job_id}/logs", level="info")
    manual = [log for log in logs["items"] if log["change_reason"] == "manual"]
    assert len(manual) == 1
    assert manual[0]["previous_asin"] == "B00KWB94LS" and manual[0]["new_asin"] == "B07ZQK6M1P"
    assert manual[0]["actor"].startswith("token:") and manual[0]["row"] == 1

    invalid_row = 8  # "Sans ASIN": an invalid row can be set by hand, and the counters follow
    _post(api, token, f"/code2asin/jobs/{job_id}/results/{invalid_row}/validate", json={"asin": "B0000000AA"})
    assert _get(api, token, f"/code2asin/jobs/{job_id}")["successful_conversions"] == 8

    bad = _post(api, token, f"/code2asin/jobs/{job_id}/results/1/validate", json={"asin": "nope"})
    assert bad.status_code == 422 and "not valid" in bad.json()["error"]["message"]
    missing = _post(api, token, f"/code2asin/jobs/{job_id}/results/999/validate", json={"asin": "B0000000AA"})
    assert missing.status_code == 404


def test_retry_counts_up_to_max_retries_and_reset_starts_the_count_again(api: Api) -> None:
    token = api.token()
    job_id = str(upload(api, token)["job_id"])
    with api.db.unit_of_work() as session:
        job = service.get_job(session, job_id)
        job.max_retries = 2
    for expected in (1, 2):
        _post(api, token, f"/code2asin/jobs/{job_id}/cancel")
        retried = _post(api, token, f"/code2asin/jobs/{job_id}/retry")
        assert retried.status_code == 200
        assert retried.json() == {
            "message": "Job marque pour relance",
            "job_id": job_id,
            "status": "pending",
            "retry_count": expected,
            "max_retries": 2,
        }
    _post(api, token, f"/code2asin/jobs/{job_id}/cancel")
    refused = _post(api, token, f"/code2asin/jobs/{job_id}/retry")
    assert refused.status_code == 409 and "reset_retry_counter=true" in refused.json()["error"]["message"]
    reset = _post(api, token, f"/code2asin/jobs/{job_id}/retry", params={"reset_retry_counter": "true"})
    assert reset.json() == {
        "message": "Job marque pour relance (compteur reinitialise)",
        "job_id": job_id,
        "status": "pending",
        "retry_count": 0,
        "max_retries": 2,
    }


def test_delete_removes_the_job_and_its_stored_source_but_not_while_processing(api: Api) -> None:
    token = api.token()
    job_id = str(upload(api, token, amazon=True, options='{"provider": "sandbox"}')["job_id"])
    with api.db.unit_of_work() as session:
        job = service.get_job(session, job_id)
        source_key = job.source_key
        service.transition(session, job, JobAction.START, actor="test")  # processing, never dispatched
    assert source_key is not None and api.app.state.code2asin.storage.exists(source_key)
    refused = api.client.delete(f"/code2asin/jobs/{job_id}", headers=api.headers(token))
    assert refused.status_code == 409
    _post(api, token, f"/code2asin/jobs/{job_id}/cancel")
    deleted = api.client.delete(f"/code2asin/jobs/{job_id}", headers=api.headers(token))
    assert deleted.status_code == 200 and deleted.json()["job_id"] == job_id
    assert api.client.get(f"/code2asin/jobs/{job_id}", headers=api.headers(token)).status_code == 404
    assert not api.app.state.code2asin.storage.exists(source_key)
    with api.db.unit_of_work() as session:
        assert session.query(JobItem).filter(JobItem.job_id == job_id).count() == 0


def test_amazon_job_on_the_sandbox_completes_with_candidates_and_logs(api: Api) -> None:
    token = api.token()
    content = b"EAN;Titre\n3017620422003;Nutella 400 g\n5449000000996;Coca-Cola 33 cl\n123;pas un code\n"
    created = upload(api, token, amazon=True, options='{"provider": "sandbox", "marketplace": "FR"}',
                     content=content, filename="codes.csv")  # fmt: skip
    job_id = str(created["job_id"])
    assert _post(api, token, f"/code2asin/jobs/{job_id}/start").json()["status"] == "processing"
    api.dispatcher.wait(job_id, timeout=120)
    details = _get(api, token, f"/code2asin/jobs/{job_id}")
    assert details["status"] == "completed", details
    assert details["processed_codes"] == 3 and details["provider_plan"] == "sandbox"
    results = _get(api, token, f"/code2asin/results/{job_id}")
    looked_up = [i for i in results["items"] if i["status"] != "invalid"]
    assert len(looked_up) == 2
    assert any(i["candidates"] and "reasons" in i["candidates"][0] for i in looked_up)
    logs = _get(api, token, f"/code2asin/jobs/{job_id}/logs")
    assert logs["total"] >= 2 and {log["input_code"] for log in logs["items"]} >= {"3017620422003"}


def test_retry_puts_retryable_failed_rows_and_their_chunks_back_to_pending(api: Api) -> None:
    token = api.token()
    content = b"EAN\n3017620422003\n5449000000996\n"
    job_id = str(
        upload(api, token, amazon=True, options='{"provider": "sandbox"}', content=content)["job_id"]
    )
    with api.db.unit_of_work() as session:
        items = session.query(JobItem).filter(JobItem.job_id == job_id).order_by(JobItem.row_no).all()
        items[0].status, items[0].error_type, items[0].attempts = ItemStatus.FAILED, "network", 5
        items[1].status, items[1].error_type = ItemStatus.FAILED, "invalid_data"
        session.query(JobChunk).filter(JobChunk.job_id == job_id).update({"status": ChunkStatus.DONE})
        service.transition(session, service.get_job(session, job_id), JobAction.FAIL, actor="test")
    assert _post(api, token, f"/code2asin/jobs/{job_id}/retry").status_code == 200
    with api.db.unit_of_work() as session:
        rows = session.query(JobItem).filter(JobItem.job_id == job_id).order_by(JobItem.row_no).all()
        assert (rows[0].status, rows[0].attempts, rows[0].error_type) == ("pending", 0, None)
        assert rows[1].status == "failed"
        assert {c.status for c in session.query(JobChunk).filter(JobChunk.job_id == job_id)} == {"pending"}
    _post(api, token, f"/code2asin/jobs/{job_id}/start")
    api.dispatcher.wait(job_id, timeout=120)
    assert _get(api, token, f"/code2asin/jobs/{job_id}")["status"] == "completed"


def test_needs_review_filters_the_flagged_rows_and_a_manual_validation_clears_the_flag(api: Api) -> None:
    token = api.token()
    content = ("EAN;ASIN;Désignation\n5035010764456;B000WRONG1;Planche à découper\n"
               "3372850489043;;Perceuse\n").encode()  # fmt: skip
    created = upload(api, token, amazon=True, options='{"provider": "sandbox", "marketplace": "FR"}',
                     content=content, filename="with_asin.csv")  # fmt: skip
    job_id = str(created["job_id"])
    _post(api, token, f"/code2asin/jobs/{job_id}/start")
    api.dispatcher.wait(job_id, timeout=120)
    everything = _get(api, token, f"/code2asin/results/{job_id}")
    assert everything["asin_differs"] == 1 and everything["needs_review"] >= 1
    flagged = _get(api, token, f"/code2asin/results/{job_id}", needs_review="true")
    assert 1 in [i["row"] for i in flagged["items"]]
    first = next(i for i in flagged["items"] if i["row"] == 1)
    assert first["needs_review"] is True and "supplier_asin" in first["review_flags"]
    assert flagged["filtered_total"] == everything["needs_review"]
    others = _get(api, token, f"/code2asin/results/{job_id}", needs_review="false")
    assert all(not i["needs_review"] for i in others["items"])
    assert others["filtered_total"] + flagged["filtered_total"] == everything["total"]
    stats = _get(api, token, f"/code2asin/jobs/{job_id}")["statistics"]
    assert (stats["needs_review"], stats["asin_differs"]) == (everything["needs_review"], 1)

    url = f"/code2asin/jobs/{job_id}/results/1/validate"
    validated = _post(api, token, url, json={"asin": first["asin"]})
    assert validated.status_code == 200, validated.text
    assert validated.json()["needs_review"] is False and validated.json()["review_flags"] == []
    after = _get(api, token, f"/code2asin/results/{job_id}")
    assert after["asin_differs"] == 0 and after["needs_review"] == everything["needs_review"] - 1


def test_an_amazon_job_carries_its_estimate_pauses_at_its_cap_and_resumes_with_a_new_one(api: Api) -> None:
    token = api.token()
    codes = "".join(f"{c}\n" for c in sample_codes.generate_codes(120, seed=21))
    options = '{"provider": "sandbox", "max_calls": 3}'
    content = f"EAN\n{codes}".encode()
    created = upload(api, token, amazon=True, options=options, content=content, filename="c.csv")
    estimate = created["estimate"]
    assert isinstance(estimate, dict)
    assert estimate["codes"] == 120 and estimate["bottleneck"] == "Creators"
    assert estimate["calls"] == sum(stage["calls"] for stage in estimate["stages"]) > 3
    assert [(s["provider"], s["stage"]) for s in estimate["stages"]] == [
        ("spapi", "identify"), ("creators", "enrich"), ("keepa", "enrich"),
    ]  # fmt: skip
    job_id = str(created["job_id"])
    before = _get(api, token, f"/code2asin/jobs/{job_id}")
    assert before["estimate"]["seconds"] == estimate["seconds"]
    assert before["estimate"]["remaining_seconds"] == estimate["seconds"]
    assert (before["provider_calls"], before["looked_up_codes"], before["enriched_codes"]) == (0, 0, 0)

    _post(api, token, f"/code2asin/jobs/{job_id}/start")
    api.dispatcher.wait(job_id, timeout=60)
    paused = _get(api, token, f"/code2asin/jobs/{job_id}")
    assert paused["status"] == "paused" and paused["allowed_actions"] == ["resume", "cancel", "delete"]
    assert "Paused: the job reached its cap of 3 provider calls (max_calls)" in paused["error_message"]
    assert 3 <= paused["provider_calls"] <= 3 + 4
    last = paused["timeline"][-1]
    assert last["event"] == "pause" and "max_calls" in last["detail"]["reason"]

    bad = _post(api, token, f"/code2asin/jobs/{job_id}/resume", params={"max_calls": -1})
    assert bad.status_code == 422
    resumed = _post(api, token, f"/code2asin/jobs/{job_id}/resume", params={"max_calls": 0})
    assert resumed.json()["status"] == "processing"
    api.dispatcher.wait(job_id, timeout=120)
    done = _get(api, token, f"/code2asin/jobs/{job_id}")
    assert done["status"] == "completed" and done["error_message"] is None
    assert done["options"]["max_calls"] is None and done["provider_calls"] > paused["provider_calls"]
    assert done["looked_up_codes"] == done["enriched_codes"] == done["total_codes"] == 120
    assert done["keepa_tokens"] > 0 and done["estimate"]["remaining_seconds"] == 0.0
