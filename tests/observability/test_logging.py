"""Structured logs: dotted events with job/chunk context, and secrets never written."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from code2asin import observability
from code2asin.db import Database
from code2asin.jobs.embedded import PoolOutcome, run_job
from code2asin.jobs.lookups import IN_RUN_RETRIES
from code2asin.jobs.runner import ChunkRunner
from code2asin.sandbox import server as sb


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.usefixtures("restore_root_logging")
def test_chunk_log_records_carry_job_chunk_and_worker_context_even_from_provider_code(
    sqlite_db: Database,
    sandbox: sb.SandboxServer,
    make_runner: Callable[[Database], ChunkRunner],
    started_job: Callable[[Database, list[str]], str],
    codes: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.configure_logging(level="INFO")
    job_id = started_job(sqlite_db, codes)
    # batch-wide 429s: two quick retries in the run, then the rows wait for the schedule
    sandbox.inject_faults("searchCatalogItems", "429", count=IN_RUN_RETRIES + 1)
    assert run_job(sqlite_db, make_runner(sqlite_db), job_id) is PoolOutcome.WAITING
    records = json_lines(capsys.readouterr().err)
    chunk = [r for r in records if r["event"] == "job.chunk.waiting"]
    assert len(chunk) == 1
    assert chunk[0]["job_id"] == job_id and chunk[0]["chunk_no"] == 0 and chunk[0]["worker"] == "w-test"
    assert isinstance(chunk[0]["duration_ms"], float) and chunk[0]["level"] == "info"
    # logged deep inside the provider call, yet it carries the chunk's context: the context is bound
    throttled = [r for r in records if r["event"] == "provider.throttled"]
    assert throttled and all(r["job_id"] == job_id and r["chunk_no"] == 0 for r in throttled)
    outside = logging.getLogger("code2asin.test")
    outside.info("outside.any.chunk")
    after = json_lines(capsys.readouterr().err)
    assert after[-1]["event"] == "outside.any.chunk" and "job_id" not in after[-1]


@pytest.mark.usefixtures("restore_root_logging")
def test_key_value_format_writes_the_event_then_its_fields(capsys: pytest.CaptureFixture[str]) -> None:
    observability.configure_logging(level="INFO", fmt="keyvalue")
    with observability.bind(job_id="J1", chunk_no=7):
        logging.getLogger("code2asin.test").info("job.chunk.completed", extra={"outcome": "done"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert " info    job.chunk.completed " in line
    assert 'job_id="J1"' in line and "chunk_no=7" in line and 'outcome="done"' in line


SECRETS = [
    "c2a_Zx81kLmN0pQrStUv",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl",
    "Atzr|IwEBIAbcdefRefresh",
    "s3cr3t-client-value",
    "pg-password-42",
    "KEEPA-api-key-999",
]


@pytest.mark.usefixtures("restore_root_logging")
def test_redaction_masks_bearer_tokens_jwts_secret_fields_and_url_passwords(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.configure_logging(level="DEBUG")
    logger = logging.getLogger("some.third.party")
    logger.info("calling with Authorization: Bearer %s", SECRETS[0])
    logger.info("jwt %s refresh %s", SECRETS[1], SECRETS[2])
    logger.warning(
        "request.sent",
        extra={
            "headers": {"Authorization": f"Bearer {SECRETS[0]}", "Accept": "application/json"},
            "client_secret": SECRETS[3],
            "url": f"postgresql://app:{SECRETS[4]}@db:5432/code2asin",
            "body": f"api_key={SECRETS[5]}&domain=4",
        },
    )
    try:
        raise RuntimeError(f"token rejected: {SECRETS[0]}")
    except RuntimeError:
        logger.exception("provider.failed")
    out = capsys.readouterr().err
    for secret in SECRETS:
        assert secret not in out
    records = json_lines(out)
    assert records[0]["event"] == "calling with Authorization: Bearer [REDACTED]"
    sent = next(r for r in records if r["event"] == "request.sent")
    assert sent["headers"] == {"Authorization": "[REDACTED]", "Accept": "application/json"}
    assert sent["client_secret"] == "[REDACTED]"
    assert sent["url"] == "postgresql://app:[REDACTED]@db:5432/code2asin"
    assert "[REDACTED]" in str(records[-1]["exception"])


def test_redact_keeps_ordinary_values_untouched() -> None:
    value = {"job_id": "J1", "codes": ["3017620422003"], "message": "matched 12 of 12", "token_count": None}
    assert observability.redact(value) == value
