"""Dispatchers: who runs a job's chunks once it is ``processing``.

Services call ``Dispatcher.dispatch(job_id)`` only after the transaction that started (or resumed) the
job has committed. The embedded dispatcher runs chunks on threads of this process (``code2asin serve``
with no broker); the Celery dispatcher (``code2asin worker``) sends "run chunk N of job J" messages.
Both run the same ``ChunkRunner``; a sweeper re-dispatches expired leases and due retries.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select

from code2asin.config import Settings, WorkerSettings
from code2asin.db import Database
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import due_chunks, due_chunks_with_expiry, run_job
from code2asin.jobs.job_end import complete_if_finished, fail_job
from code2asin.jobs.models import ChunkStatus, Job, JobChunk, JobStatus, utcnow
from code2asin.jobs.queues import (
    CHUNK_PRIORITY,
    CHUNK_QUEUE,
    COPY_IMAGE_TASK,
    IMAGES_QUEUE,
    RUN_CHUNK_TASK,
    STARTED_BEFORE_PRIORITY,
)
from code2asin.jobs.runner import ChunkRunner
from code2asin.providers.ratelimit import RateLimiter, create_limiter

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def dispatch(self, job_id: str) -> None:
        """Make sure the chunks of ``job_id`` get run (idempotent)."""
        ...

    def close(self) -> None: ...


#: the shortest wait between two sweeps, and how long after a lease's end its sweep comes
_SWEEP_FLOOR_SECONDS = 0.2
_AFTER_EXPIRY_SECONDS = 0.05


def seconds_to_next_sweep(
    db: Database, period: float, now: datetime | None = None, since: datetime | None = None
) -> float:
    """How long the sweeper sleeps: ``period``, or less when a running chunk's lease (as last renewed)
    runs out sooner. A lost worker's chunks are then sent out just after their lease ends, not up to a
    whole period later; living runs renew their leases long before, so they cost no extra sweep.

    ``since``: when the sweep just done started. A lease that ran out after that was not seen by it
    (it ended while the sweep ran), so the next sweep comes at once (``_SWEEP_FLOOR_SECONDS``); a lease
    that ended before was that sweep's to send."""
    now = now or utcnow()
    with db.unit_of_work() as session:
        expiry = session.scalar(
            select(func.min(JobChunk.lease_expires_at))
            .join(Job, Job.id == JobChunk.job_id)
            .where(
                Job.status == JobStatus.PROCESSING,
                JobChunk.status == ChunkStatus.RUNNING,
                JobChunk.lease_expires_at > (since if since is not None and since < now else now),
            )
        )
    if expiry is None:
        return period
    if expiry.tzinfo is None:  # SQLite keeps no time zone: our timestamps are UTC
        expiry = expiry.replace(tzinfo=UTC)
    until = (expiry - now).total_seconds() + _AFTER_EXPIRY_SECONDS
    return max(_SWEEP_FLOOR_SECONDS, min(period, until))


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
        from code2asin.providers.plan import build_plans

        with self.db.unit_of_work() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != JobStatus.PROCESSING:
                return
            plan_name, marketplaces = job.provider_plan, job.marketplace_list
        try:
            # every marketplace's plan up front: a missing credential fails the job before any lookup
            plans = build_plans(self.settings, plan_name, marketplaces, limiter=self.limiter)
        except Exception as exc:  # a configuration fault fails the job with its sentence
            fail_job(self.db, job_id, str(exc), actor="embedded", now=utcnow())
            return
        plan = plans[marketplaces[0]]
        cache = LookupCacheStore(
            self.db, self.settings.cache_ttl_seconds, self.settings.price_cache_ttl_seconds
        )
        try:
            runner = ChunkRunner(
                self.db,
                plan,
                cache,
                worker_id=f"embedded-{threading.get_ident()}",
                plan_for=plans.__getitem__,
                stop_requested=self._stop.is_set,  # closing: chunks stop at their next call
            )
            runner.complete_if_finished(job_id)
            run_job(self.db, runner, job_id, workers=self.chunk_workers)
            if self._wants_images(job_id):
                from code2asin.jobs.convert import copy_images

                copy_images(self.settings, self.db, *plans.values())
        except Exception:
            log.exception("job.run.crashed", extra={"job_id": job_id})
        finally:
            for built in plans.values():
                built.close()

    def _wants_images(self, job_id: str) -> bool:
        with self.db.unit_of_work() as session:
            job = session.get(Job, job_id)
            return bool(job is not None and (job.options or {}).get("download_images"))

    def _sweep_forever(self) -> None:
        wait = self._sweep_seconds
        while not self._stop.wait(wait):
            wait = self._sweep_seconds
            try:
                started = utcnow()
                self.sweep()
                wait = seconds_to_next_sweep(self.db, self._sweep_seconds, since=started)
            except Exception:
                log.exception("job.sweep.failed")

    def sweep(self) -> None:
        """Start due price-tracking runs, send due webhooks, then dispatch every processing job that has a
        due chunk (retry time reached or lease expired)."""
        from code2asin.pricing.scheduler import sweep_pricing

        sweep_pricing(self.db, self, utcnow())
        with self.db.unit_of_work() as session:
            job_ids = list(session.scalars(select(Job.id).where(Job.status == JobStatus.PROCESSING)))
        for job_id in job_ids:
            if due_chunks(self.db, job_id):
                self.dispatch(job_id)
            else:
                complete_if_finished(self.db, job_id, actor="sweeper", now=utcnow())

    def close(self) -> None:
        """Stop: running chunks commit nothing more and give their rows back (a restart resumes them)."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


# -- distributed mode ------------------------------------------------------------------------------------

#: Redis keys saying "a run_chunk message for this chunk was sent recently" (see ``DispatchMarks``)
MARK_PREFIX = "code2asin:dispatched:"


def worker_settings(settings: Settings) -> WorkerSettings:
    """The distributed-mode settings group (``CODE2ASIN_WORKER_*``)."""
    return settings.worker


class TaskSender(Protocol):
    """What the dispatcher needs of a Celery app (kept structural: this module does not import Celery)."""

    def send_task(self, name: str, args: Sequence[Any] | None = ..., **options: Any) -> Any: ...


#: ``takeover(job_id, chunk_no)``: run a lost worker's chunk here and now if there is room (True), else
#: leave it to be sent (False); see ``tasks.TakeoverPool``
Takeover = Callable[[str, int], bool]


def mark_ttl(settings: Settings) -> int:
    """Seconds a dispatch mark lives: about ten leases, at least three sweeps (see ``DispatchMarks``)."""
    worker = worker_settings(settings)
    return max(1, int(10 * worker.lease_seconds), int(3 * worker.sweep_seconds))


class DispatchMarks:
    """Which chunks have a ``run_chunk`` message sent and not yet started, kept in the broker's Redis.

    One key per chunk. Sending a message sets it (to ``queued``, or to the expired lease a takeover
    message is for); a worker starting the chunk deletes it, whatever it holds, before anything else
    can fail. The sweeper re-sends a pending, due chunk only when it has no mark, so chunks still
    waiting in the queue are not sent again every sweep, and a chunk whose lease expired (its worker was
    lost) only when its mark does not name that lease: once per lost lease, and a plain mark left behind
    (a message the lost worker had received and took with it) cannot hold the takeover back. A takeover
    message whose run failed before it took the lease (the database went down in between) lost its mark
    when it started, so the next sweep sends it again.

    The marks live in the same Redis as the messages: when Redis restarts empty, messages and marks
    vanish together and the next sweep sends everything again. A mark expires after ``ttl_seconds``
    (``mark_ttl``, about ten leases): the message lost while Redis keeps its mark is one a worker had
    received and died before starting; with ack emulation off (``celery_app``) Redis never hands it out
    again, so the expiry is what re-sends it. A chunk still waiting in a long queue when its mark
    expires is sent a second time, which is harmless: the copy finds it leased or done.
    """

    QUEUED = "queued"

    def __init__(self, redis_client: Redis, ttl_seconds: int, *, prefix: str = MARK_PREFIX) -> None:
        self._redis = redis_client
        self._ttl = max(1, ttl_seconds)
        self._prefix = prefix

    @property
    def redis(self) -> Redis:
        """The broker's Redis these marks live in (the sweeper's heartbeat goes there too)."""
        return self._redis

    def _key(self, job_id: str, chunk_no: int) -> str:
        return f"{self._prefix}{job_id}:{chunk_no}"

    def unmarked(self, job_id: str, chunks: Sequence[int], leases: Sequence[str] | None = None) -> list[int]:
        """The chunks with no mark (with ``leases``: no mark for the takeover of that expired lease)."""
        if not chunks:
            return []
        found = self._redis.mget([self._key(job_id, n) for n in chunks])
        if leases is None:
            return [n for n, value in zip(chunks, found, strict=True) if value is None]
        return [
            n
            for n, lease, value in zip(chunks, leases, found, strict=True)
            if value is None or (value if isinstance(value, str) else value.decode()) != lease
        ]

    def clear(self, job_id: str, chunk_no: int) -> None:
        """A worker started the chunk: no message for it is waiting any more (a duplicate may be)."""
        self._redis.delete(self._key(job_id, chunk_no))

    def mark(self, job_id: str, chunks: Sequence[int], leases: Sequence[str] | None = None) -> None:
        if not chunks:
            return
        values = leases if leases is not None else [self.QUEUED] * len(chunks)
        with self._redis.pipeline(transaction=False) as pipe:
            for n, value in zip(chunks, values, strict=True):
                pipe.set(self._key(job_id, n), value, ex=self._ttl)
            pipe.execute()


def send_due_image_tasks(
    db: Database, sender: TaskSender, job_id: str | None = None, limit: int = 500
) -> int:
    """Send one ``copy_image`` message per due image task (of one job, or of all); returns how many.

    A second copy of a message is harmless: the task is leased before anything is fetched.
    """
    from code2asin.image_tasks import due_image_tasks_of

    ids = due_image_tasks_of(db, job_id, limit)
    for task_id in ids:
        sender.send_task(COPY_IMAGE_TASK, args=[task_id], queue=IMAGES_QUEUE)
    return len(ids)




def send_due_chunks(
    db: Database,
    sender: TaskSender,
    marks: DispatchMarks,
    job_id: str,
    *,
    resend_marked: bool,
    takeover: Takeover | None = None,
) -> int:
    """Send one ``run_chunk`` message per due chunk of ``job_id`` (ids only); returns how many chunks went
    out (sent, or taken over by ``takeover``).

    ``resend_marked=False`` (the sweeper) skips chunks whose message was sent less than a mark ago.
    A chunk whose lease expired (its worker was lost) is first offered to ``takeover`` (beat's own
    threads: the chunk starts now, whether or not a worker process is free); one it declines goes ahead
    of the queued chunks, so it waits for the next free worker process, not for the whole queue. Its mark
    names the lost lease, so a mark left by a message the lost worker had received (and took with it)
    cannot hold the takeover back. Call it only after the transaction that made the chunks due has
    committed.
    """
    due = due_chunks_with_expiry(db, job_id)
    expired = {n: lease for n, lease in due if lease is not None}
    pending = [n for n, lease in due if lease is None]
    if not resend_marked:
        pending = marks.unmarked(job_id, pending)
        expired = {n: expired[n] for n in marks.unmarked(job_id, list(expired), list(expired.values()))}
    if expired:
        log.info("job.chunks.lease_expired", extra={"job_id": job_id, "chunks": sorted(expired)})
    sent = send_chunks(
        sender,
        marks,
        job_id,
        list(expired),
        priority=STARTED_BEFORE_PRIORITY,
        leases=list(expired.values()),
        run_here=takeover,
    )
    return sent + send_chunks(sender, marks, job_id, pending)


def send_chunks(
    sender: TaskSender,
    marks: DispatchMarks,
    job_id: str,
    chunks: Sequence[int],
    *,
    priority: int = CHUNK_PRIORITY,
    leases: Sequence[str] | None = None,
    run_here: Takeover | None = None,
) -> int:
    """Mark the chunks of ``job_id`` sent (each mark naming the expired lease it takes over, when ``leases``
    are given), then send one ``run_chunk`` message per chunk that ``run_here`` (if given) does not take
    to run in this process; returns how many chunks went out either way.

    Marks go first: a worker may start a chunk while the others are still being sent, and its start
    clears the mark. A mark written after that start would hide the chunk from the sweeper, when it comes
    back for a retry, for a whole mark lifetime. A chunk whose message could not be sent loses its mark.
    """
    marks.mark(job_id, chunks, leases)
    for i, n in enumerate(chunks):
        if run_here is not None and run_here(job_id, n):
            continue
        try:
            sender.send_task(RUN_CHUNK_TASK, args=[job_id, n], queue=CHUNK_QUEUE, priority=priority)
        except Exception:
            with contextlib.suppress(Exception):  # Redis is likely down: its marks go with it
                for unsent in chunks[i:]:
                    marks.clear(job_id, unsent)
            raise
    return len(chunks)


def sweep_jobs(
    db: Database, sender: TaskSender, marks: DispatchMarks, takeover: Takeover | None = None
) -> int:
    """Re-send expired leases (offered to ``takeover`` first) and due retries of every processing job;
    complete finished jobs.

    Returns the number of chunks sent or taken over, and image tasks sent.
    """
    with db.unit_of_work() as session:
        job_ids = list(session.scalars(select(Job.id).where(Job.status == JobStatus.PROCESSING)))
    sent = 0
    for job_id in job_ids:
        sent += send_due_chunks(db, sender, marks, job_id, resend_marked=False, takeover=takeover)
        complete_if_finished(db, job_id, actor="sweeper", now=utcnow())
    return sent + send_due_image_tasks(db, sender)


class CeleryDispatcher:
    """Sends "run chunk N of job J" messages to the ``code2asin`` queue for Celery workers.

    ``dispatch`` sends every due chunk (also chunks whose message may still be queued: after a resume the
    messages drained during the pause are gone, and a second copy of a queued one is a no-op because the
    chunk's lease is taken or the chunk is done).
    """

    def __init__(self, settings: Settings, db: Database, celery_app: TaskSender) -> None:
        if not settings.broker_url:
            raise ValueError("The Celery dispatcher needs CODE2ASIN_BROKER_URL (a redis:// URL).")
        from redis import Redis

        self.settings = settings
        self.db = db
        self.celery_app = celery_app
        self._redis = Redis.from_url(settings.broker_url)
        self.marks = DispatchMarks(self._redis, mark_ttl(settings))

    def dispatch(self, job_id: str) -> None:
        sent = send_due_chunks(self.db, self.celery_app, self.marks, job_id, resend_marked=True)
        log.info("job.dispatched", extra={"job_id": job_id, "chunks": sent})

    def close(self) -> None:
        self._redis.close()
