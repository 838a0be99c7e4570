"""Upload limits and checks: size while streaming (413), content sniffing and ingest errors (422)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tests.api.conftest import Api, build_api, upload

from code2asin.api.uploads import UploadLimitMiddleware, sanitise_filename
from code2asin.db import Database


@pytest.fixture
def small_api(sqlite_db: Database, tmp_path: Path) -> Any:
    yield from build_api(sqlite_db, tmp_path, max_upload_bytes=2048, max_rows=3)


def test_an_upload_over_the_limit_answers_413_from_its_content_length(small_api: Api) -> None:
    token = small_api.token()
    big = b"EAN\n" + b"3017620422003\n" * 200_000  # 2.8 MB: past the limit plus the multipart margin
    result = upload(small_api, token, content=big, filename="big.csv")
    assert result["_status"] == 413
    assert "MB limit" in str(result["error"])


def test_a_file_just_over_the_limit_answers_413_before_any_job_exists(small_api: Api) -> None:
    token = small_api.token()
    result = upload(small_api, token, content=b"EAN\n" + b"3017620422003\n" * 200, filename="f.csv")
    assert result["_status"] == 413
    assert small_api.client.get("/code2asin/jobs", headers=small_api.headers(token)).json()["total"] == 0


def test_the_middleware_cuts_a_streamed_body_once_it_passes_the_limit() -> None:
    chunks = [b"x" * 600_000] * 10  # no Content-Length: counted as it arrives
    delivered: list[int] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("client went away")
            delivered.append(len(message["body"]))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(), "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = UploadLimitMiddleware(app, path="/code2asin/import", limit=100)
    scope = {"type": "http", "method": "POST", "path": "/code2asin/import", "headers": []}
    asyncio.run(middleware(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
    assert sum(delivered) <= 100 + 1024 * 1024 and len(chunks) > 0  # the rest was never read


def test_more_rows_than_the_limit_answer_422_and_leave_no_job(small_api: Api) -> None:
    token = small_api.token()
    content = b"EAN;ASIN\n" + b"3017620422003;B00KWB94LS\n" * 5
    result = upload(small_api, token, content=content, filename="rows.csv")
    assert result["_status"] == 422 and "more than 3 data rows" in str(result["error"])
    assert small_api.client.get("/code2asin/jobs", headers=small_api.headers(token)).json()["total"] == 0


def test_the_file_type_comes_from_the_content_not_the_name(sqlite_api: Api) -> None:
    token = sqlite_api.token()
    png = upload(sqlite_api, token, content=b"\x89PNG\r\n\x1a\n" + b"\0" * 64, filename="codes.csv")
    assert png["_status"] == 422 and "PNG image" in str(png["error"])
    csv_named_xlsx = upload(sqlite_api, token, content=b"EAN;ASIN\n3017620422003;B00KWB94LS\n",
                            filename="codes.xlsx")  # fmt: skip
    assert csv_named_xlsx["_status"] == 201


def test_bad_import_fields_answer_422_in_the_one_error_shape(sqlite_api: Api) -> None:
    token = sqlite_api.token()
    cases = {
        '{"image_mode": "sideways"}': "image_mode",
        '{"unknown_option": 1}': "unknown_option",
        "not json": "Invalid options",
        '{"marketplace": "ZZ"}': "Unknown marketplace",
        '{"provider": "ebay"}': "Unknown provider plan",
    }
    for options, words in cases.items():
        result = upload(sqlite_api, token, amazon=True, options=options)
        assert result["_status"] == 422, options
        assert set(result["error"]) >= {"code", "message"} and words in result["error"]["message"], options
    empty = upload(sqlite_api, token, content=b"", filename="empty.csv")
    assert empty["_status"] == 422 and "is empty" in empty["error"]["message"]


def test_direct_mode_without_an_asin_column_answers_422_with_the_ingest_sentence(sqlite_api: Api) -> None:
    result = upload(sqlite_api, sqlite_api.token(), content=b"EAN\n3017620422003\n", filename="codes.csv")
    assert result["_status"] == 422 and "Direct mode needs an ASIN column" in result["error"]["message"]


def test_upload_filenames_become_safe_key_segments() -> None:
    assert sanitise_filename("../../etc/passwd") == "passwd"
    assert sanitise_filename("C:\\Users\\me\\codes fournisseur.xlsx") == "codes_fournisseur.xlsx"
    assert sanitise_filename("...") == "upload"
    assert sanitise_filename(None) == "upload"
