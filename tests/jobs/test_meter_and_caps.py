"""Live progress per provider call, calls and Keepa tokens counted, and the caps that pause a job, over real
HTTP against the sandbox on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.sandbox_support import endpoints_for

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import PoolOutcome, run_job
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import Job, JobChunk, JobEvent, JobItem, JobMode
from code2asin.jobs.runner import ChunkRunner
from code2asin.providers.plan import build_plan
from code2asin.providers.stages import Plan
from code2asin.sandbox import sample_codes
from code2asin.sandbox import server as sb

API_CALLS = {"searchItems", "getItems", "searchCatalogItems", "getCompetitivePricing", "keepaProduct"}


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(port=0, quotas=None) as server:
        yield server


def new_job(db: Database, path: Path, plan: str, count: int, **options: Any) -> str:
    codes = list(sample_codes.generate_codes(count, seed=14))
    path.write_text("EAN;Titre\n" + "".join(f"{c};Produit {n}\n" for n, c in enumerate(codes)), "utf-8")
    new = creation.NewJob(
        "SUP001", JobMode.AMAZON, "FR", plan, path.name, options=creation.JobOptions(**options)
    )
    job_id = creation.create_job(db, open_table(path), new)
    with db.unit_of_work() as session:
        service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
    return job_id


def api_calls(server: sb.SandboxServer) -> int:
    return sum(1 for e in server.request_log if e.operation in API_CALLS)


def job(db: Database, job_id: str) -> Job:
    with db.unit_of_work() as session:
        found = session.get(Job, job_id)
        assert found is not None
        session.expunge(found)
        return found


def pending(db: Database, job_id: str) -> int:
    with db.unit_of_work() as session:
        return len(
            session.scalars(
                select(JobItem.id).where(JobItem.job_id == job_id, JobItem.status == "pending")
            ).all()
        )


def run(db: Database, plan: Plan, job_id: str, workers: int = 4) -> PoolOutcome:
    runner = ChunkRunner(db, plan, LookupCacheStore(db, 3600, 3600), sleep=lambda _s: None)
    return run_job(db, runner, job_id, workers=workers)


def test_max_calls_pauses_the_job_with_its_reason_and_a_higher_cap_finishes_it(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    job_id = new_job(any_db, tmp_path / "in.csv", "spapi+creators", 450, max_calls=12)
    plan = build_plan(Settings(), "spapi+creators", "FR", endpoints=endpoints_for(sandbox))
    try:
        assert run(any_db, plan, job_id) is PoolOutcome.FINISHED
        paused = job(any_db, job_id)
        assert paused.status == "paused"
        # the check and the charge are one UPDATE, so four chunks at once start no call past the cap; a batch
        # is of one identifier type (one request), only a second page of answers (unknowable before) is more
        assert 12 <= paused.provider_calls <= 12 + 4
        assert api_calls(sandbox) == paused.provider_calls  # every request counted, tokens not
        assert paused.error_message is not None
        assert "Paused: the job reached its cap of 12 provider calls (max_calls)" in paused.error_message
        with any_db.unit_of_work() as session:
            event = session.scalars(
                select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.event == "pause")
            ).one()
            assert event.actor == "embedded" and "max_calls" in event.detail["reason"]
        left = pending(any_db, job_id)
        assert left > 0 and paused.processed_codes == 450 - left  # nothing lost, nothing doubled
        with any_db.unit_of_work() as session:
            service.resume_job(session, job_id, "test", max_calls=10_000)
        assert run(any_db, plan, job_id) is PoolOutcome.FINISHED
    finally:
        plan.close()
    done = job(any_db, job_id)
    assert done.status == "completed" and done.processed_codes == 450 and done.error_message is None
    assert done.provider_calls == api_calls(sandbox)
    assert done.options["max_calls"] == 10_000


def test_max_keepa_tokens_stops_before_the_call_that_would_spend_past_it(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    job_id = new_job(sqlite_db, tmp_path / "in.csv", "keepa", 250, max_keepa_tokens=150)
    plan = build_plan(Settings(), "keepa", "FR", endpoints=endpoints_for(sandbox))
    try:
        run(sqlite_db, plan, job_id, workers=1)
    finally:
        plan.close()
    paused = job(sqlite_db, job_id)
    assert paused.status == "paused"
    # chunk 1 sends 100 codes, charged 100 tokens up front, then what Keepa consumed (a product found
    # costs one, a code not found nothing); chunk 2's 100 would take that past 150
    products = [e for e in sandbox.request_log if e.operation == "keepaProduct"]
    assert sum(len(e.codes) for e in products) == 100 and len(products) == 1
    consumed = products[0].tokens
    assert consumed + 100 > 150
    assert (paused.keepa_tokens, paused.provider_calls) == (consumed, 1)
    assert paused.error_message is not None
    assert (
        f"needs 100 tokens and the job has spent {consumed} of its 150 (max_keepa_tokens)"
        in paused.error_message
    )
    assert pending(sqlite_db, job_id) == 150


def test_a_keepa_job_counts_the_tokens_keepa_consumed_not_the_codes_it_sent(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    """Charged up front one per code (what the cap checks), then set right to Keepa's ``tokensConsumed``: one
    per product returned, so a code Keepa does not know costs nothing and a shared code costs several."""
    job_id = new_job(any_db, tmp_path / "in.csv", "keepa", 300, max_keepa_tokens=1000)
    plan = build_plan(Settings(), "keepa", "FR", endpoints=endpoints_for(sandbox))
    try:
        assert run(any_db, plan, job_id) is PoolOutcome.FINISHED
    finally:
        plan.close()
    products = [e for e in sandbox.request_log if e.operation == "keepaProduct"]
    consumed = sum(e.tokens for e in products)
    assert sum(len(e.codes) for e in products) == 300
    assert 0 < consumed != 300  # the sample has codes Keepa does not know, and codes with several products
    assert job(any_db, job_id).keepa_tokens == consumed


@dataclass
class Seen:
    looked_up: int
    enriched: int


class Watching:
    """An enrich stage that, before each call, reads the running chunk's live counters from the database."""

    def __init__(self, inner: Any, db: Database, job_id: str) -> None:
        self.inner, self.db, self.job_id = inner, db, job_id
        self.name, self.enrich_batch_size = inner.name, inner.enrich_batch_size
        self.seen: list[Seen] = []

    def enrich(self, asins: list[str]) -> dict[str, Any]:
        with self.db.unit_of_work() as session:
            chunk = session.scalars(
                select(JobChunk).where(JobChunk.job_id == self.job_id, JobChunk.status == "running")
            ).one()
            self.seen.append(Seen(chunk.looked_up_rows, chunk.enriched_rows))
        return dict(self.inner.enrich(asins))


def test_progress_moves_with_each_call_and_ends_in_the_committed_counters(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    job_id = new_job(any_db, tmp_path / "in.csv", "spapi+creators", 100)
    plan = build_plan(Settings(), "spapi+creators", "FR", endpoints=endpoints_for(sandbox))
    watching = Watching(plan.enrich[0], any_db, job_id)
    plan.enrich = [watching]
    try:
        assert run(any_db, plan, job_id, workers=1) is PoolOutcome.FINISHED
    finally:
        plan.close()
    # rows looked up and enriched grow call by call, enriched never ahead of looked up
    assert len(watching.seen) >= 5
    looked = [s.looked_up for s in watching.seen]
    enriched = [s.enriched for s in watching.seen]
    assert looked == sorted(looked) and enriched == sorted(enriched)
    assert all(e <= lk for e, lk in zip(enriched, looked, strict=True))
    # stages overlap: the first getItems leaves while codes are still being looked up
    assert looked[0] < looked[-1] <= 100 and enriched[0] < enriched[-1] < 100
    done = job(any_db, job_id)
    assert done.status == "completed" and done.processed_codes == 100
    assert done.provider_calls == api_calls(sandbox) > len(watching.seen)
    with any_db.unit_of_work() as session:
        chunk = session.scalars(select(JobChunk).where(JobChunk.job_id == job_id)).one()
        assert (chunk.looked_up_rows, chunk.enriched_rows) == (0, 0)  # committed: the job's counters hold it
