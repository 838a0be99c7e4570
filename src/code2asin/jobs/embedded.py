"""The embedded dispatcher: runs a job's chunks on a thread pool in this process (no broker needed)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import func, or_, select, update

from code2asin.db import Database
from code2asin.errors import ErrorType
from code2asin.jobs.models import ChunkStatus, ItemStatus, Job, JobChunk, JobItem, JobStatus, utcnow
from code2asin.jobs.progress import LiveProgress, live_progress
from code2asin.jobs.runner import ChunkRunner

ProgressCallback = Callable[[LiveProgress], None]


class PoolOutcome(StrEnum):
    FINISHED = "finished"  # the job left ``processing`` (completed, failed, paused or cancelled)
    WAITING = "waiting"  # only rows waiting for a scheduled retry are left
    STOPPED = "stopped"  # this process is shutting down; the job stays processing for a restart


def due_chunks(db: Database, job_id: str) -> list[int]:
    """The chunks of ``job_id`` to run now: pending and due, or running with an expired lease."""
    return [chunk_no for chunk_no, _ in due_chunks_with_expiry(db, job_id)]


def due_chunks_with_expiry(db: Database, job_id: str) -> list[tuple[int, str | None]]:
    """``(chunk_no, expired_lease)`` of each due chunk: ``expired_lease`` is the lease token of the run
    that started the chunk and was lost (its worker died or hung), so a takeover is due; None for a
    pending chunk."""
    now = utcnow()
    with db.unit_of_work() as session:
        return [
            (chunk_no, (owner or "?") if status == ChunkStatus.RUNNING else None)
            for chunk_no, status, owner in session.execute(
                select(JobChunk.chunk_no, JobChunk.status, JobChunk.lease_owner)
                .where(
                    JobChunk.job_id == job_id,
                    or_(
                        (JobChunk.status == ChunkStatus.PENDING)
                        & or_(JobChunk.next_attempt_at.is_(None), JobChunk.next_attempt_at <= now),
                        (JobChunk.status == ChunkStatus.RUNNING) & (JobChunk.lease_expires_at < now),
                    ),
                )
                .order_by(JobChunk.chunk_no)
            ).all()
        ]


def run_job(
    db: Database,
    runner: ChunkRunner,
    job_id: str,
    *,
    workers: int = 4,
    on_progress: ProgressCallback | None = None,
    poll_seconds: float = 0.2,
) -> PoolOutcome:
    """Run every due chunk of ``job_id`` until the job leaves ``processing`` or only retries are left.

    ``on_progress`` hears the live progress every ``poll_seconds`` while chunks run (it moves with each
    provider call, not per chunk)."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="code2asin-chunk") as pool:
        while True:
            if runner.stop_requested is not None and runner.stop_requested():
                return PoolOutcome.STOPPED
            with db.unit_of_work() as session:
                job = session.get(Job, job_id)
                if job is None or job.status != JobStatus.PROCESSING:
                    return PoolOutcome.FINISHED
                if on_progress:
                    on_progress(live_progress(session, job))
                left = session.scalar(
                    select(func.count(JobChunk.id)).where(
                        JobChunk.job_id == job_id, JobChunk.status != ChunkStatus.DONE
                    )
                )
                running = session.scalar(
                    select(func.count(JobChunk.id)).where(
                        JobChunk.job_id == job_id, JobChunk.status == ChunkStatus.RUNNING
                    )
                )
            if not left:
                runner.complete_if_finished(job_id)
                continue
            chunks = due_chunks(db, job_id)
            if not chunks:
                if running:
                    time.sleep(poll_seconds)  # another worker holds a lease; its end is not an event here
                    continue
                return PoolOutcome.WAITING
            running_now = {pool.submit(runner.run_chunk, job_id, n) for n in chunks}
            while running_now:
                done, running_now = wait(running_now, timeout=poll_seconds, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                if on_progress:
                    with db.unit_of_work() as session:
                        job = session.get(Job, job_id)
                        if job is not None:
                            on_progress(live_progress(session, job))


def next_retry_at(db: Database, job_id: str) -> datetime | None:
    """When the job's earliest waiting row is due again (None: no row waits)."""
    with db.unit_of_work() as session:
        due = session.scalar(
            select(func.min(JobItem.next_attempt_at)).where(
                JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING
            )
        )
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return due


def run_job_waiting(
    db: Database,
    runner: ChunkRunner,
    job_id: str,
    *,
    max_wait_seconds: float,
    on_progress: ProgressCallback | None = None,
    on_wait: Callable[[datetime], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PoolOutcome:
    """``run_job``, then wait for rows due again within ``max_wait_seconds`` in all (a quota refill, a quick
    retry) and run them; returns ``WAITING`` when what is left is due later than that (the one-shot CLI)."""
    deadline = time.monotonic() + max_wait_seconds
    while True:
        outcome = run_job(db, runner, job_id, on_progress=on_progress)
        if outcome is not PoolOutcome.WAITING:
            return outcome
        due = next_retry_at(db, job_id)
        if due is None:
            continue  # the rows ended meanwhile
        wait = max((due - utcnow()).total_seconds(), 0.0)
        if time.monotonic() + wait > deadline:
            return outcome
        if on_wait:
            on_wait(due)
        sleep(wait + 0.05)


def _gave_up(message: str | None) -> str:
    last = re.split(r" \((?:attempt|not sent yet)", message or "Lookup failed")[0]
    return (
        f"{last}; this one-shot run does not wait that long (--max-wait): convert the file again later, "
        "or run it as a job with `code2asin serve`, which retries after 1, 5, 15, 60 and 240 minutes."
    )


def give_up_waiting_rows(db: Database, job_id: str, runner: ChunkRunner) -> int:
    """End rows that wait for a scheduled retry as ``failed`` (used by the one-shot CLI run).

    The message keeps the last error and says how to try again; returns the number of rows ended.
    """
    with db.unit_of_work() as session:
        rows = session.execute(
            select(JobItem.id, JobItem.error_type, JobItem.error_message).where(
                JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING
            )
        ).all()
        if rows:
            session.execute(
                update(JobItem),
                [
                    {
                        "id": item_id,
                        "status": ItemStatus.FAILED,
                        "error_type": error_type or ErrorType.UNKNOWN,
                        "next_attempt_at": None,
                        "error_message": _gave_up(message),
                    }
                    for item_id, error_type, message in rows
                ],
            )
        session.execute(
            update(JobChunk)
            .where(JobChunk.job_id == job_id, JobChunk.status != ChunkStatus.DONE)
            .values(status=ChunkStatus.DONE, next_attempt_at=None, lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    runner.complete_if_finished(job_id)
    return len(rows)
