"""Schemathesis against the OpenAPI document with a valid admin token: no server error, no route that
answers without a token (``ignored_auth``), answers that match the documented schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from tests.api.conftest import Api, build_api, upload

from code2asin.db import Database


@pytest.fixture
def fuzz_api(sqlite_db: Database, tmp_path: Path) -> Iterator[Api]:
    yield from build_api(sqlite_db, tmp_path)


def test_no_route_answers_5xx_or_without_a_token(fuzz_api: Api) -> None:
    token = fuzz_api.token(["ADMIN_CODE2ASIN"])
    upload(fuzz_api, token)  # one real job, so the API is not only answering 404
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_api.app)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[checks.not_a_server_error, checks.ignored_auth, checks.response_schema_conformance],
            )

        run()
    assert len(tested) >= 18
