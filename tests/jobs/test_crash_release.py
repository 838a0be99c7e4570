"""A chunk run that raises ends its lease at once (both databases): the next sweep takes the chunk over,
instead of the chunk waiting for its lease to run out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import due_chunks_with_expiry
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import ChunkStatus, JobChunk, JobMode
from code2asin.jobs.runner import ChunkOutcome, ChunkRunner
from code2asin.providers.base import LookupCode, LookupOutcome
from code2asin.providers.stages import Plan
from code2asin.sandbox import sample_codes


class RedisGone:
    """An identify stage whose calls fail the way a run does while Redis restarts (the shared limiter)."""

    name = "spapi"
    identify_batch_size = 20

    def __init__(self) -> None:
        self.fail = True

    def identify(self, codes: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        if self.fail:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return {code.gtin: LookupOutcome() for code in codes}


def test_a_run_that_raises_ends_its_lease_and_the_next_run_takes_the_chunk_over(
    any_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("EAN\n" + "".join(f"{c}\n" for c in sample_codes.generate_codes(30, seed=3)), "utf-8")
    new = creation.NewJob("SUP", JobMode.AMAZON, "FR", "spapi", path.name)
    job_id = creation.create_job(any_db, open_table(path), new)
    with any_db.unit_of_work() as session:
        service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
    stage = RedisGone()
    runner = ChunkRunner(any_db, Plan("spapi", stage), LookupCacheStore(any_db, 60, 60), lease_seconds=600)
    with pytest.raises(ConnectionError):
        runner.run_chunk(job_id, 0)
    with any_db.unit_of_work() as session:
        chunk = session.scalars(select(JobChunk).where(JobChunk.job_id == job_id)).one()
        assert chunk.status == ChunkStatus.RUNNING and chunk.lease_owner is not None
        owner = chunk.lease_owner
    # due now as a takeover of that lease (beat's threads take those first), not in ten minutes
    assert due_chunks_with_expiry(any_db, job_id) == [(0, owner)]
    stage.fail = False
    assert runner.run_chunk(job_id, 0) is ChunkOutcome.DONE
