"""/metrics exposes the database gauges and this process's counters after a real sandbox job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from code2asin.accounts.service import create_token
from code2asin.api import create_app
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.dispatch import EmbeddedDispatcher
from code2asin.jobs.embedded import PoolOutcome, run_job
from code2asin.jobs.lookups import IN_RUN_RETRIES
from code2asin.jobs.models import ChunkStatus, JobChunk, utcnow
from code2asin.jobs.runner import ChunkOutcome, ChunkRunner
from code2asin.sandbox import server as sb

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(db: Database, tmp_path: Path) -> Samples:
    settings = Settings(data_dir=tmp_path / "data")
    dispatcher = EmbeddedDispatcher(settings, db, sweep_seconds=3600)
    with db.unit_of_work() as session:
        _, token = create_token(session, ["READ_CODE2ASIN"], [])
    try:
        with TestClient(create_app(settings, db=db, dispatcher=dispatcher)) as client:
            assert client.get("/metrics").status_code == 401
            response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    finally:
        dispatcher.close()
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def growth(before: Samples, after: Samples) -> Callable[..., float]:
    """``grew(name, **labels)``: how much a series grew between two scrapes."""

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    return grew


def test_metrics_count_codes_provider_calls_and_chunks_after_a_completed_sandbox_job(
    any_db: Database,
    make_runner: Callable[[Database], ChunkRunner],
    started_job: Callable[[Database, list[str]], str],
    codes: list[str],
    tmp_path: Path,
) -> None:
    before = scrape(any_db, tmp_path)
    job_id = started_job(any_db, codes)
    assert run_job(any_db, make_runner(any_db), job_id) is PoolOutcome.FINISHED
    after = scrape(any_db, tmp_path)

    grew = growth(before, after)

    matched = grew("code2asin_codes_processed_total", outcome="matched")
    not_found = grew("code2asin_codes_processed_total", outcome="not_found")
    assert matched > 0 and matched + not_found == len(codes)  # the invalid row never reached a chunk
    assert grew("code2asin_provider_calls_total", provider="spapi", operation="identify", status="ok") > 0
    assert grew("code2asin_provider_calls_total", provider="creators", operation="enrich", status="ok") > 0
    assert grew("code2asin_provider_call_duration_seconds_count", provider="spapi", operation="identify") > 0
    assert grew("code2asin_chunk_duration_seconds_count", outcome="done") == 1
    assert value(after, "code2asin_jobs", status="completed") == 1
    assert value(after, "code2asin_job_codes", state="pending") == 0
    assert value(after, "code2asin_job_codes", state="matched") == matched


def test_a_429_from_the_sandbox_is_counted_as_a_rate_limited_provider_call_and_a_retry(
    any_db: Database,
    sandbox: sb.SandboxServer,
    make_runner: Callable[[Database], ChunkRunner],
    started_job: Callable[[Database, list[str]], str],
    codes: list[str],
    tmp_path: Path,
) -> None:
    before = scrape(any_db, tmp_path)
    job_id = started_job(any_db, codes)
    # a search holds one identifier type, so its 429 is batch-wide: the run retries it twice at once
    # (``IN_RUN_RETRIES``), and the third 429 sends its rows to the retry schedule
    sandbox.inject_faults("searchCatalogItems", "429", count=IN_RUN_RETRIES + 1)
    assert run_job(any_db, make_runner(any_db), job_id) is PoolOutcome.WAITING
    after = scrape(any_db, tmp_path)

    grew = growth(before, after)

    throttled = grew(
        "code2asin_provider_calls_total", provider="spapi", operation="identify", status="api_rate_limit"
    )
    assert throttled == IN_RUN_RETRIES + 1
    waiting = grew("code2asin_codes_processed_total", outcome="retry_scheduled")
    ended = sum(grew("code2asin_codes_processed_total", outcome=o) for o in ("matched", "not_found"))
    assert waiting > 0 and waiting + ended == len(codes)
    assert grew("code2asin_chunk_duration_seconds_count", outcome="waiting") == 1
    assert value(after, "code2asin_job_queue_depth", job_id=job_id) == 1  # the chunk waits for its retry


def test_queue_depth_reports_the_chunks_left_per_processing_job(
    any_db: Database, started_job: Callable[[Database, list[str]], str], tmp_path: Path
) -> None:
    job_id = started_job(any_db, ["3017620422003"] * 250)  # 251 rows: 3 chunks of valid codes
    samples = scrape(any_db, tmp_path)
    assert value(samples, "code2asin_job_queue_depth", job_id=job_id) == 3
    assert value(samples, "code2asin_queue_chunks", status="pending") == 3
    assert value(samples, "code2asin_jobs", status="processing") == 1


def test_a_chunk_taken_over_from_a_lost_run_counts_a_takeover_and_its_calls_as_redone(
    any_db: Database,
    make_runner: Callable[[Database], ChunkRunner],
    started_job: Callable[[Database, list[str]], str],
    codes: list[str],
    tmp_path: Path,
) -> None:
    job_id = started_job(any_db, codes)
    # a run leased chunk 0 and was lost (kill -9): its lease is running and expired
    with any_db.unit_of_work() as session:
        session.execute(
            update(JobChunk)
            .where(JobChunk.job_id == job_id, JobChunk.chunk_no == 0)
            .values(
                status=ChunkStatus.RUNNING,
                lease_owner="lost@host/1/run",
                lease_expires_at=utcnow() - timedelta(seconds=1),
                attempts=1,
            )
        )
    before = scrape(any_db, tmp_path)
    runner = make_runner(any_db)
    assert runner.run_chunk(job_id, 0) is ChunkOutcome.DONE
    assert runner.run_chunk(job_id, 0) is ChunkOutcome.SKIPPED  # done: nothing to take over
    after = scrape(any_db, tmp_path)

    grew = growth(before, after)

    assert grew("code2asin_chunk_takeovers_total") == 1
    calls = grew("code2asin_provider_calls_total", provider="spapi", operation="identify", status="ok")
    assert calls > 0
    assert grew("code2asin_redone_provider_calls_total", provider="spapi", operation="identify") == calls
    with any_db.unit_of_work() as session:
        assert (
            session.scalar(select(JobChunk.attempts).where(JobChunk.job_id == job_id, JobChunk.chunk_no == 0))
            == 2
        )


def test_a_pending_chunk_run_is_no_takeover_and_redoes_no_call(
    any_db: Database,
    make_runner: Callable[[Database], ChunkRunner],
    started_job: Callable[[Database, list[str]], str],
    codes: list[str],
    tmp_path: Path,
) -> None:
    job_id = started_job(any_db, codes)
    before = scrape(any_db, tmp_path)
    assert make_runner(any_db).run_chunk(job_id, 0) is ChunkOutcome.DONE
    after = scrape(any_db, tmp_path)
    assert growth(before, after)("code2asin_chunk_takeovers_total") == 0
    redone = [
        k for k in after if k[0] == "code2asin_redone_provider_calls_total" and after[k] != before.get(k, 0)
    ]
    assert redone == []
