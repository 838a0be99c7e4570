"""The API of remembered match decisions: reject a row, then list, switch and forget decisions, within
the token's permissions and supplier scope."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.decision_support import FUZZY_ASIN, FUZZY_GTIN, FUZZY_ROW, fuzzy_job

DECISIONS = "/code2asin/match-decisions"


def _reject(api: Api, token: str, job_id: str, row: int = FUZZY_ROW, **params: Any) -> Any:
    return api.client.post(
        f"/code2asin/jobs/{job_id}/results/{row}/reject", headers=api.headers(token), params=params
    )


def _list(api: Api, token: str, **params: Any) -> Any:
    return api.client.get(DECISIONS, headers=api.headers(token), params=params)


def test_reject_makes_the_row_not_found_logs_it_and_lists_the_rejection(api: Api) -> None:
    token = api.token()
    job_id = fuzzy_job(api.db, "SUP001")
    rejected = _reject(api, token, job_id)
    assert rejected.status_code == 200, rejected.text
    item = rejected.json()
    assert (item["row"], item["status"], item["asin"], item["match_type"]) == (1, "not_found", None, None)
    assert item["error_message"].startswith("Rejected by token:") and item["needs_review"] is False
    assert item["error_message"].endswith(f": {FUZZY_ASIN} is not this product.")
    logs = api.client.get(f"/code2asin/jobs/{job_id}/logs", headers=api.headers(token)).json()["items"]
    [log] = [entry for entry in logs if entry["change_reason"] == "rejected"]
    assert (log["previous_asin"], log["new_asin"], log["row"]) == (FUZZY_ASIN, None, 1)

    listing = _list(api, token)
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (1, 1, 50, 1)
    [decision] = body["items"]
    assert (decision["supplier_code"], decision["code_key"], decision["asin"], decision["decision"]) == (
        "SUP001", FUZZY_GTIN, FUZZY_ASIN, "rejected",
    )  # fmt: skip
    assert (decision["job_id"], decision["row_no"], decision["input_code"]) == (job_id, 1, "3017620422003")
    assert decision["decided_at"].endswith(("Z", "+00:00"))

    again = _reject(api, token, job_id)
    assert again.status_code == 422
    assert again.json()["error"]["message"] == f"Row 1 of job {job_id} has no ASIN to reject."
    assert _reject(api, token, job_id, row=999).status_code == 404


def test_accepting_a_fuzzy_row_by_validating_it_is_listed_and_filtered(api: Api) -> None:
    token = api.token()
    job_id = fuzzy_job(api.db, "SUP001")
    url = f"/code2asin/jobs/{job_id}/results/{FUZZY_ROW}/validate"
    assert api.client.post(url, headers=api.headers(token), json={"asin": FUZZY_ASIN}).status_code == 200
    _reject(api, token, job_id, row=2)  # Coca-Cola's direct ASIN
    assert [d["decision"] for d in _list(api, token).json()["items"]] == ["rejected", "accepted"]
    accepted = _list(api, token, decision="accepted").json()["items"]
    assert [d["asin"] for d in accepted] == [FUZZY_ASIN]
    assert [d["asin"] for d in _list(api, token, code="3017620422003").json()["items"]] == [FUZZY_ASIN]
    assert _list(api, token, supplier="NOPE").json()["total"] == 0


def test_patch_switches_a_decision_and_delete_forgets_it(api: Api) -> None:
    token = api.token()
    job_id = fuzzy_job(api.db, "SUP001")
    _reject(api, token, job_id)
    [decision] = _list(api, token).json()["items"]
    url = f"{DECISIONS}/{decision['id']}"
    switched = api.client.patch(url, headers=api.headers(token), json={"decision": "accepted"})
    assert switched.status_code == 200, switched.text
    assert switched.json()["decision"] == "accepted" and switched.json()["actor"].startswith("token:")
    assert _list(api, token, decision="accepted").json()["total"] == 1

    bad = api.client.patch(url, headers=api.headers(token), json={"decision": "maybe"})
    assert bad.status_code == 422
    assert bad.json()["error"]["message"].startswith("Invalid request: body.decision: Input should be")
    assert _list(api, token, decision="maybe").status_code == 422

    gone = api.client.delete(url, headers=api.headers(token))
    assert gone.status_code == 200 and gone.json()["id"] == decision["id"]
    assert _list(api, token).json()["total"] == 0
    assert api.client.delete(url, headers=api.headers(token)).status_code == 404
    assert api.client.patch(url, headers=api.headers(token), json={"decision": "rejected"}).status_code == 404


def test_a_supplier_scoped_token_neither_sees_nor_changes_another_suppliers_decisions(api: Api) -> None:
    admin = api.token()
    job_id = fuzzy_job(api.db, "SUP001")
    _reject(api, admin, job_id)
    [decision] = _list(api, admin).json()["items"]
    url = f"{DECISIONS}/{decision['id']}"
    other = api.token(suppliers=["OTHER"])
    assert _list(api, other).json() == {"items": [], "total": 0, "page": 1, "per_page": 50, "pages": 1}
    assert _list(api, other, supplier="SUP001").json()["total"] == 0
    patch = api.client.patch(url, headers=api.headers(other), json={"decision": "accepted"})
    assert patch.status_code == 404 and patch.json()["error"]["code"] == "not_found"
    assert api.client.delete(url, headers=api.headers(other)).status_code == 404
    assert _reject(api, other, fuzzy_job(api.db, "SUP001")).status_code == 404
    own = api.token(suppliers=["SUP001"])
    assert _list(api, own).json()["total"] == 1


def test_reading_tokens_cannot_reject_switch_or_forget(api: Api) -> None:
    admin = api.token()
    job_id = fuzzy_job(api.db, "SUP001")
    reader = api.token(["READ_CODE2ASIN"])
    denied = _reject(api, reader, job_id)
    assert denied.status_code == 403 and "WRITE_CODE2ASIN" in denied.json()["error"]["message"]
    _reject(api, admin, job_id)
    [decision] = _list(api, reader).json()["items"]
    url = f"{DECISIONS}/{decision['id']}"
    assert (
        api.client.patch(url, headers=api.headers(reader), json={"decision": "accepted"}).status_code == 403
    )
    writer = api.token(["READ_CODE2ASIN", "WRITE_CODE2ASIN"])
    assert api.client.delete(url, headers=api.headers(writer)).status_code == 403
    assert _list(api, admin).json()["total"] == 1
