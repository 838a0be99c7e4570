"""Closing the in-process dispatcher (``code2asin serve`` on SIGTERM) mid-job: chunks stop at their next
provider call and give their rows back, no lease is left behind, and the next start finishes the job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.distributed.conftest import cluster_env, wait_for
from tests.jobs.test_runner_sandbox import new_job, write_csv

from code2asin.config import load_settings
from code2asin.db import Database
from code2asin.jobs.dispatch import EmbeddedDispatcher
from code2asin.jobs.models import ChunkStatus, ConversionLog, Job, JobChunk
from code2asin.sandbox import server as sb
from code2asin.sandbox.sample_codes import generate_codes

CODES = 400


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(port=0, quotas=None) as server:
        yield server


def _chunks(db: Database, job_id: str, status: ChunkStatus) -> int:
    with db.unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count()).where(JobChunk.job_id == job_id, JobChunk.status == status)
            )
            or 0
        )


def test_closing_the_embedded_dispatcher_mid_job_hands_chunks_back_and_a_restart_finishes_it(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_db.engine.url.render_as_string(hide_password=False)
    env = cluster_env(sandbox, url, "", tmp_path / "data", CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND="2")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    job_id = new_job(sqlite_db, write_csv(tmp_path / "codes.csv", generate_codes(CODES, seed=5)))

    first = EmbeddedDispatcher(settings, sqlite_db, sweep_seconds=3600)
    first.dispatch(job_id)
    wait_for(lambda: _chunks(sqlite_db, job_id, ChunkStatus.RUNNING), 30, "a chunk to run")
    started = time.monotonic()
    first.close()
    closed_in = time.monotonic() - started
    with sqlite_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "processing"
        assert job.processed_codes < CODES
    assert _chunks(sqlite_db, job_id, ChunkStatus.RUNNING) == 0  # no lease left to wait for

    second = EmbeddedDispatcher(settings, sqlite_db, sweep_seconds=3600)
    try:
        second.dispatch(job_id)
        second.wait(job_id, timeout=300)
    finally:
        second.close()
    with sqlite_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "completed"
        assert job.processed_codes == CODES
        logs = dict(
            session.execute(
                select(ConversionLog.row_no, func.count())
                .where(ConversionLog.job_id == job_id)
                .group_by(ConversionLog.row_no)
            ).all()
        )
    assert sorted(logs) == list(range(1, CODES + 1)) and set(logs.values()) == {1}
    print(f"the in-process pool stopped {closed_in:.1f} s after close()")
