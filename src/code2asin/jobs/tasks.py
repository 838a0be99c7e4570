"""Celery tasks of distributed mode. Thin: ids in, reload, skip what is done, call the runner.

* ``code2asin.run_chunk(job_id, chunk_no)``: run one chunk with the ``ChunkRunner``. Safe to deliver twice:
  a second copy finds the chunk leased or done and does nothing.
* The sweep is not a task: beat's own process runs it on a thread every ``sweep_seconds``
  (``start_sweeper``, on Celery's ``beat_init`` signal): it re-sends expired leases, due retries and
  messages Redis lost, starts due price-tracking runs and completes finished jobs. As a task it waited
  for a free pool process, and with every process busy on long chunks a dead worker's chunk waited that
  long again (takeovers of 89 s and 249 s with a 30 s lease); on beat's thread it runs on time, and
  each sweep leaves a heartbeat in Redis that ``code2asin healthcheck beat`` reads. A lost worker's
  chunks do not wait for a pool process either: beat runs them on threads of its own (``TakeoverPool``).

Task messages carry ids only (never settings or secrets). Each worker process builds its database
engine, its Redis limiter and its provider plans once (per plan and marketplace), after the fork, so the
access tokens and the limiter keys are shared by every chunk the process runs and every process shares
one quota through Redis. A task does not retry through Celery: retries are rows' ``next_attempt_at`` in
the database, picked up by the sweep; a task that crashes leaves its lease to expire.

Graceful shutdown: SIGTERM (or Ctrl-C) to a worker's main process is Celery's warm shutdown, which waits
for the running tasks. So that it does not wait for a whole chunk, the main process raises a flag in
memory shared with its pool processes (``ShutdownFlag``); a running chunk sees it before its next
provider call, commits nothing more (what it fetched stays in the lookup cache), gives its lease back and
sends its own message again, ahead of the queued chunks, so another worker takes it over as soon as
it has a free process instead of one lease later.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import socket
import threading
import time
import uuid
from typing import Any

from sqlalchemy import select

from code2asin import observability
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.errors import ConfigurationError
from code2asin.image_tasks import ImageCopier
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.dispatch import (
    DispatchMarks,
    TaskSender,
    mark_ttl,
    seconds_to_next_sweep,
    send_chunks,
    send_due_image_tasks,
    sweep_jobs,
    worker_settings,
)
from code2asin.jobs.job_end import fail_job
from code2asin.jobs.models import ChunkStatus, Job, JobChunk, JobStatus, utcnow
from code2asin.jobs.queues import (
    COPY_IMAGE_TASK,
    IMAGES_QUEUE,
    RUN_CHUNK_TASK,
    STARTED_BEFORE_PRIORITY,
    SWEEP_HEARTBEAT_KEY,
)
from code2asin.jobs.runner import ChunkOutcome, ChunkRunner
from code2asin.providers.ratelimit import RateLimiter, create_limiter
from code2asin.providers.stages import Plan

log = logging.getLogger(__name__)

SKIPPED = "skipped"
JOB_FAILED = "job_failed"
HANDED_BACK = "handed_back"


class ShutdownFlag:
    """"This worker is shutting down", written by its main process and read by its pool processes.

    A byte of shared memory created before the pool forks (``register_tasks`` runs when the app is
    built), so a prefork child sees the parent's write without a signal; the threads and solo pools
    share it trivially.
    """

    def __init__(self) -> None:
        self._value = multiprocessing.RawValue(ctypes.c_bool, False)

    def set(self) -> None:
        self._value.value = True

    def is_set(self) -> bool:
        return bool(self._value.value)


class WorkerRuntime:
    """What one worker process builds once and reuses: database, limiter, lookup cache, plans, marks.

    Everything is built lazily in the process that uses it and rebuilt after a fork (a pool child must
    not share its parent's sockets). Thread-safe, for the ``threads`` pool too.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lease_seconds = worker_settings(settings).lease_seconds
        self.shutdown = ShutdownFlag()
        self._lock = threading.RLock()
        self._pid: int | None = None
        self._db: Database | None = None
        self._limiter: RateLimiter | None = None
        self._cache: LookupCacheStore | None = None
        self._marks: DispatchMarks | None = None
        self._plans: dict[tuple[str, str], Plan] = {}
        self._copier: ImageCopier | None = None

    def _this_process(self) -> None:
        pid = os.getpid()
        if pid == self._pid:
            return
        if self._db is not None:
            self._db.engine.dispose(close=False)  # the parent's connections stay the parent's
        self._db = self._limiter = self._cache = self._marks = None
        self._copier = None
        self._plans = {}
        self._pid = pid

    @property
    def db(self) -> Database:
        with self._lock:
            self._this_process()
            if self._db is None:
                self._db = Database.from_settings(self.settings)
            return self._db

    @property
    def limiter(self) -> RateLimiter:
        with self._lock:
            self._this_process()
            if self._limiter is None:
                self._limiter = create_limiter(self.settings.broker_url)
            return self._limiter

    @property
    def cache(self) -> LookupCacheStore:
        db = self.db
        with self._lock:
            if self._cache is None:
                self._cache = LookupCacheStore(
                    db, self.settings.cache_ttl_seconds, self.settings.price_cache_ttl_seconds
                )
            return self._cache

    @property
    def marks(self) -> DispatchMarks:
        with self._lock:
            self._this_process()
            if self._marks is None:
                from redis import Redis

                assert self.settings.broker_url  # create_celery refuses an empty broker URL
                self._marks = DispatchMarks(Redis.from_url(self.settings.broker_url), mark_ttl(self.settings))
            return self._marks

    @property
    def copier(self) -> ImageCopier:
        """The image copier of this process (database, storage, safe fetcher), built once."""
        db = self.db
        with self._lock:
            if self._copier is None:
                self._copier = ImageCopier.from_settings(self.settings, db)
            return self._copier

    def plan(self, name: str, marketplace: str) -> Plan:
        """The provider plan for (``name``, ``marketplace``), built once per process.

        Raises ``ConfigurationError`` for an unknown plan or missing credentials.
        """
        from code2asin.providers.plan import build_plan

        limiter = self.limiter
        with self._lock:
            key = (name, marketplace)
            plan = self._plans.get(key)
            if plan is None:
                plan = build_plan(self.settings, name, marketplace, limiter=limiter)
                self._plans[key] = plan
            return plan

    def close(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                return
            for plan in self._plans.values():
                plan.close()
            self._plans = {}
            if self._db is not None:
                self._db.dispose()
                self._db = None


def run_chunk(
    runtime: WorkerRuntime,
    job_id: str,
    chunk_no: int,
    *,
    worker_name: str = "worker",
    sender: TaskSender | None = None,
) -> str:
    """Run chunk ``chunk_no`` of ``job_id`` unless it is done or its job is not processing.

    Returns the outcome (``done``, ``skipped``, ``released``, ``waiting``, ``job_failed``, or
    ``handed_back`` when the worker is shutting down and the chunk's message went back to the queue
    through ``sender``). A configuration fault fails the job with its sentence; other errors propagate
    (the chunk's lease then expires and the sweep sends it again).
    """
    if runtime.shutdown.is_set() and sender is not None:
        return _hand_back(runtime, sender, job_id, chunk_no)
    runtime.marks.clear(job_id, chunk_no)
    db = runtime.db
    with db.unit_of_work() as session:
        job = session.get(Job, job_id)
        if job is None or job.status != JobStatus.PROCESSING:
            return SKIPPED
        chunk = session.execute(
            select(JobChunk.status, JobChunk.marketplace).where(
                JobChunk.job_id == job_id, JobChunk.chunk_no == chunk_no
            )
        ).first()
        if chunk is None or chunk.status == ChunkStatus.DONE:
            return SKIPPED
        plan_name, marketplace = job.provider_plan, chunk.marketplace or job.marketplace
    # one id per run: two runs in one process never mistake each other's lease for their own
    worker_id = f"{worker_name}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    try:
        plan = runtime.plan(plan_name, marketplace)
    except ConfigurationError as exc:
        fail_job(db, job_id, str(exc), actor=worker_id, now=utcnow())
        return JOB_FAILED
    runner = ChunkRunner(
        db,
        plan,
        runtime.cache,
        worker_id=worker_id,
        lease_seconds=runtime.lease_seconds,
        stop_requested=runtime.shutdown.is_set,
    )
    outcome = runner.run_chunk(job_id, chunk_no)
    log.info("job.chunk.ran", extra={"job_id": job_id, "chunk": chunk_no, "outcome": outcome.value})
    if outcome is ChunkOutcome.RELEASED and runtime.shutdown.is_set() and sender is not None:
        return _hand_back(runtime, sender, job_id, chunk_no)
    return outcome.value


def _hand_back(runtime: WorkerRuntime, sender: TaskSender, job_id: str, chunk_no: int) -> str:
    """Shutting down: send the chunk's message again for another worker (the chunk is not leased)."""
    send_chunks(sender, runtime.marks, job_id, [chunk_no], priority=STARTED_BEFORE_PRIORITY)
    log.info("job.chunk.handed_back", extra={"job_id": job_id, "chunk": chunk_no})
    return HANDED_BACK


class TakeoverPool:
    """Threads of beat's process that run a lost worker's chunks themselves, as soon as their lease ends.

    A chunk sent back to the queue waits for a free worker process, and when every surviving process is
    running a chunk that is up to a whole chunk's time (measured: 1.2-4.0 s on top of an 8 s lease).
    Here it starts about 0.05 s after its lease ends (the sweeper wakes then), wherever the workers are,
    also after Redis restarted empty. ``offer`` takes a chunk only while one of the ``threads`` is free;
    the sweep sends the others as before. The chunk runs as in a worker (its own lease, the shared quota
    limiter, the lookup cache), and its image copies are sent to their queue once it is done.
    """

    def __init__(self, runtime: WorkerRuntime, sender: TaskSender, threads: int, name: str = "beat") -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._runtime, self._sender, self._name = runtime, sender, f"takeover@{name}"
        self._free = threading.BoundedSemaphore(max(1, threads))
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="code2asin-takeover")

    def offer(self, job_id: str, chunk_no: int) -> bool:
        """Run the chunk on a free thread (True), or decline at once when none is free (False)."""
        if not self._free.acquire(blocking=False):
            return False
        try:
            self._pool.submit(self._run, job_id, chunk_no)
        except RuntimeError:  # shutting down
            self._free.release()
            return False
        return True

    def _run(self, job_id: str, chunk_no: int) -> None:
        try:
            outcome = run_chunk(self._runtime, job_id, chunk_no, worker_name=self._name)
            log.info("job.chunk.taken_over_by_beat", extra={"job_id": job_id, "chunk": chunk_no,
                                                             "outcome": outcome})
            if outcome == "done":
                send_due_image_tasks(self._runtime.db, self._sender, job_id)
        except Exception:  # the lease it may hold expires and the next sweep sends the chunk again
            log.exception("job.chunk.takeover_failed", extra={"job_id": job_id, "chunk": chunk_no})
        finally:
            self._free.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def sweep(runtime: WorkerRuntime, sender: TaskSender, takeover: TakeoverPool | None = None) -> int:
    """Start due price-tracking runs, re-send what is due for every processing job (a lost worker's chunks
    to ``takeover`` first) and complete finished ones, then leave the heartbeat (kept ten periods) saying a
    sweep ran; returns the chunks and image tasks sent or taken over."""
    from code2asin.pricing.scheduler import sweep_pricing

    sweep_pricing(runtime.db, None, utcnow())  # the new runs' chunks go out with sweep_jobs below
    sent = sweep_jobs(runtime.db, sender, runtime.marks, takeover.offer if takeover is not None else None)
    if sent:
        log.info("job.sweep.sent", extra={"messages": sent})
    period = runtime.settings.worker.sweep_seconds
    runtime.marks.redis.set(SWEEP_HEARTBEAT_KEY, f"{time.time():.3f}", ex=max(10, int(10 * period)))
    return sent


def start_sweeper(runtime: WorkerRuntime, sender: TaskSender) -> threading.Thread:
    """Sweep now and every ``sweep_seconds`` on a daemon thread of this (beat's) process, and just after
    a running chunk's lease runs out when that comes sooner (``dispatch.seconds_to_next_sweep``); a lost
    worker's chunks run on ``takeover_threads`` threads of this process (``TakeoverPool``; 0: sent back to
    the queue only).

    A failed sweep (database or Redis down) is logged and the next one runs on time.
    """
    period = runtime.settings.worker.sweep_seconds
    threads = runtime.settings.worker.takeover_threads
    takeover = TakeoverPool(runtime, sender, threads, socket.gethostname()) if threads else None

    def forever() -> None:
        while True:
            started, swept_from = time.monotonic(), utcnow()
            wait = period
            try:
                sweep(runtime, sender, takeover)
                wait = seconds_to_next_sweep(runtime.db, period, since=swept_from)
            except Exception:  # the sweeper outlives any one failure; the next sweep retries
                log.exception("job.sweep.failed")
            time.sleep(max(0.0, wait - (time.monotonic() - started)))

    thread = threading.Thread(target=forever, name="code2asin-sweeper", daemon=True)
    thread.start()
    log.info("job.sweeper.started", extra={"sweep_seconds": period, "takeover_threads": threads})
    return thread


def register_tasks(app: Any, settings: Settings) -> WorkerRuntime:
    """Bind ``code2asin.run_chunk`` and ``code2asin.copy_image`` to the Celery ``app``, and the sweeper to
    its beat; returns their runtime."""
    from celery.signals import beat_init, worker_process_shutdown, worker_shutting_down

    runtime = WorkerRuntime(settings)
    observability.instrument_celery(app, settings)

    def run_chunk_task(task: Any, job_id: str, chunk_no: int) -> str:
        hostname = str(task.request.hostname or "worker")
        return run_chunk(runtime, job_id, int(chunk_no), worker_name=hostname, sender=app)

    def copy_image_task(task_id: int) -> str:
        return runtime.copier.run(int(task_id)).value

    def run_chunk_then_images(task: Any, job_id: str, chunk_no: int) -> str:
        outcome = run_chunk_task(task, job_id, chunk_no)
        if outcome == "done":  # the rows of this chunk now owe their image copies, on their own queue
            send_due_image_tasks(runtime.db, app, job_id)
        return outcome

    app.task(name=RUN_CHUNK_TASK, bind=True, ignore_result=True, acks_late=True)(run_chunk_then_images)
    app.task(name=COPY_IMAGE_TASK, ignore_result=True, acks_late=True, queue=IMAGES_QUEUE)(copy_image_task)

    def _close(**_: Any) -> None:
        runtime.close()

    def _shutting_down(**_: Any) -> None:
        log.info("worker.shutting_down", extra={"pid": os.getpid()})
        runtime.shutdown.set()

    def _beat_started(**_: Any) -> None:
        start_sweeper(runtime, app)

    beat_init.connect(_beat_started, weak=False)
    worker_process_shutdown.connect(_close, weak=False)
    worker_shutting_down.connect(_shutting_down, weak=False)
    return runtime
