"""Dispatchers: who runs a job's chunks once it is ``processing``.

Services call ``Dispatcher.dispatch(job_id)`` only after the transaction that started (or resumed) the
job has committed. The embedded dispatcher runs chunks on threads of this process (``code2asin serve``
with no broker); the Celery dispatcher (``code2asin worker``) sends "run chunk N of job J" messages.
Both run the same ``ChunkRunner``; a sweeper re-dispatches expired leases and due retries.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from sqlalchemy import select

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import due_chunks, run_job
from code2asin.jobs.models import Job, JobStatus, utcnow
from code2asin.jobs.runner import ChunkRunner, complete_if_finished, fail_job
from code2asin.providers.ratelimit import RateLimiter, create_limiter

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def dispatch(self, job_id: str) -> None:
        """Make sure the chunks of ``job_id`` get run (idempotent)."""
        ...

    def close(self) -> None: ...


class EmbeddedDispatcher:
    """Runs jobs on threads of this process; a sweeper thread picks up due retries and stale leases."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        jobs_at_once: int = 4,
        chunk_workers: int = 4,
        sweep_seconds: float = 5.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.chunk_workers = chunk_workers
        self.limiter = limiter or create_limiter(settings.broker_url)
        self._pool = ThreadPoolExecutor(max_workers=jobs_at_once, thread_name_prefix="code2asin-job")
        self._active: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweep_seconds = sweep_seconds
        self._sweeper = threading.Thread(target=self._sweep_forever, name="code2asin-sweeper", daemon=True)
        self._sweeper.start()

    def dispatch(self, job_id: str) -> None:
        with self._lock:
            running = self._active.get(job_id)
            if running is not None and not running.done():
                return
            self._active[job_id] = self._pool.submit(self._run, job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Wait for the current run of ``job_id`` (tests and the CLI)."""
        with self._lock:
            future = self._active.get(job_id)
        if future is not None:
            future.result(timeout=timeout)

    def _run(self, job_id: str) -> None:
        from code2asin.providers.plan import build_plan

        with self.db.unit_of_work() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != JobStatus.PROCESSING:
                return
            plan_name, marketplace = job.provider_plan, job.marketplace
        try:
            plan = build_plan(self.settings, plan_name, marketplace, limiter=self.limiter)
        except Exception as exc:  # a configuration fault fails the job with its sentence
            fail_job(self.db, job_id, str(exc), actor="embedded", now=utcnow())
            return
        cache = LookupCacheStore(
            self.db, self.settings.cache_ttl_seconds, self.settings.price_cache_ttl_seconds
        )
        try:
            runner = ChunkRunner(self.db, plan, cache, worker_id=f"embedded-{threading.get_ident()}")
            runner.complete_if_finished(job_id)
            run_job(self.db, runner, job_id, workers=self.chunk_workers)
        except Exception:
            log.exception("job.run.crashed", extra={"job_id": job_id})
        finally:
            plan.close()

    def _sweep_forever(self) -> None:
        while not self._stop.wait(self._sweep_seconds):
            try:
                self.sweep()
            except Exception:
                log.exception("job.sweep.failed")

    def sweep(self) -> None:
        """Dispatch every processing job that has a due chunk (retry time reached or lease expired)."""
        with self.db.unit_of_work() as session:
            job_ids = list(session.scalars(select(Job.id).where(Job.status == JobStatus.PROCESSING)))
        for job_id in job_ids:
            if due_chunks(self.db, job_id):
                self.dispatch(job_id)
            else:
                complete_if_finished(self.db, job_id, actor="sweeper", now=utcnow())

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
