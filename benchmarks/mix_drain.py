"""The mix benchmark's drain: in a copy of the database taken at the deadline, end every row whose
answers were all fetched within the window (see ``bench_mix``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from code2asin.config import Settings
    from code2asin.errors import ProviderError
    from code2asin.providers.base import Candidate, LookupCode, LookupOutcome

from benchmarks.mix_results import DRAIN_CLOCK_AHEAD, MARKETPLACE


class _Unreachable:
    """A provider stage the drain may not call: every call fails as a network fault, so a row ends only
    on answers already in the lookup cache. Same ``name`` and batch size as the stage it stands for."""

    def __init__(self, name: str, batch_size: int) -> None:
        self.name = name
        self.identify_batch_size = batch_size
        self.enrich_batch_size = batch_size

    def identify(self, codes: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        from code2asin.errors import ErrorType, ProviderError

        raise ProviderError("Not fetched within the benchmark window.", ErrorType.NETWORK)

    def enrich(self, asins: Sequence[str]) -> dict[str, Candidate | ProviderError]:
        from code2asin.errors import ErrorType, ProviderError

        raise ProviderError("Not fetched within the benchmark window.", ErrorType.NETWORK)


def _row_statuses(database_url: str, job_id: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from code2asin.db import Database
    from code2asin.jobs.models import JobItem

    db = Database(database_url)
    try:
        with db.unit_of_work() as session:
            rows = session.execute(
                select(JobItem.status, func.count()).where(JobItem.job_id == job_id).group_by(JobItem.status)
            ).all()
        return {str(status): int(n) for status, n in rows}
    finally:
        db.dispose()


def _drain(settings: Settings, database_url: str, job_id: str, plan_name: str) -> tuple[int, float]:
    """End, in the copy at ``database_url``, every row whose answers were all fetched in the window.

    Returns (codes with an identify answer in the cache, candidate ASINs per such code).
    """
    from sqlalchemy import select

    from code2asin.db import Database
    from code2asin.jobs.cache import LookupCacheStore
    from code2asin.jobs.models import ChunkStatus, JobChunk, LookupCache, utcnow
    from code2asin.jobs.runner import ChunkRunner, Plan
    from code2asin.providers.base import EnrichProvider
    from code2asin.providers.keepa import KeepaClient
    from code2asin.providers.plan import Endpoints, build_plan
    from code2asin.providers.ratelimit import InProcessLimiter
    from code2asin.sandbox.server import SandboxServer

    unmetered = SandboxServer("127.0.0.1", 0, quotas=None).start()
    db = Database(database_url)
    built = build_plan(
        settings,
        plan_name,
        MARKETPLACE,
        endpoints=Endpoints.for_running_sandbox(settings, unmetered, MARKETPLACE),
        limiter=InProcessLimiter(),
    )
    try:
        enrich: list[EnrichProvider] = [
            stage if isinstance(stage, KeepaClient) else _Unreachable(stage.name, stage.enrich_batch_size)
            for stage in built.enrich
        ]
        identify = _Unreachable(built.identify.name, built.identify.identify_batch_size)
        plan = Plan(name=plan_name, identify=identify, enrich=enrich)
        cache = LookupCacheStore(db, settings.cache_ttl_seconds, settings.price_cache_ttl_seconds)
        runner = ChunkRunner(
            db,
            plan,
            cache,
            worker_id="bench-drain",
            sleep=lambda _seconds: None,
            clock=lambda: utcnow() + DRAIN_CLOCK_AHEAD,
        )
        with db.unit_of_work() as session:
            started = list(
                session.scalars(
                    select(JobChunk.chunk_no)
                    .where(
                        JobChunk.job_id == job_id, JobChunk.status != ChunkStatus.DONE, JobChunk.attempts > 0
                    )
                    .order_by(JobChunk.chunk_no)
                )
            )
            answers: list[dict[str, Any]] = list(
                session.scalars(
                    select(LookupCache.payload).where(
                        LookupCache.provider == built.identify.name,
                        LookupCache.marketplace == MARKETPLACE,
                        LookupCache.key.like("gtin:%"),
                    )
                )
            )
        for chunk_no in started:
            runner.run_chunk(job_id, chunk_no)
        candidates = sum(len(list(p.get("candidates") or [])) for p in answers)
        return len(answers), candidates / len(answers) if answers else 0.0
    finally:
        built.close()
        db.dispose()
        unmetered.stop()


def _snapshot(live_path: Path, copy_path: Path) -> None:
    """A consistent copy of the live SQLite database (what was committed at this instant)."""
    source = sqlite3.connect(live_path)
    target = sqlite3.connect(copy_path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


