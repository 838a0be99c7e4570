"""How a job ends: failed with one sentence, or completed once no chunk is open (with its counters
recounted); called by the runner, the sweeps and the one-shot CLI run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from code2asin.db import Database, rowcount
from code2asin.jobs.lifecycle import JobAction, target_status
from code2asin.jobs.models import ChunkStatus, Job, JobChunk, JobEvent, JobStatus
from code2asin.jobs.stats import job_counters


def fail_job(db: Database, job_id: str, message: str, *, actor: str, now: datetime) -> None:
    """Fail a job that cannot go on (a configuration fault) with ``message`` and a timeline event."""
    with db.unit_of_work() as session:
        job = session.get(Job, job_id)
        if job is None or job.status not in (JobStatus.PROCESSING, JobStatus.PAUSED, JobStatus.PENDING):
            return
        before = job.status
        job.status = target_status(JobAction.FAIL, before) or before
        job.error_message = message
        job.completed_at = now
        session.add(
            JobEvent(
                job_id=job_id,
                event="fail",
                actor=actor,
                from_status=before,
                to_status=job.status,
                detail={"error": message},
            )
        )


def complete_if_finished(db: Database, job_id: str, *, actor: str, now: datetime) -> bool:
    """Mark the job completed when no chunk is left; safe under concurrency (conditional update)."""
    with db.unit_of_work() as session:
        left = session.scalar(
            select(func.count(JobChunk.id)).where(
                JobChunk.job_id == job_id, JobChunk.status != ChunkStatus.DONE
            )
        )
        if left:
            return False
        target = target_status(JobAction.COMPLETE, JobStatus.PROCESSING)
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.PROCESSING)
            .values(status=target, completed_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result):
            session.add(
                JobEvent(
                    job_id=job_id,
                    event="complete",
                    actor=actor,
                    from_status=JobStatus.PROCESSING,
                    to_status=target,
                )
            )
            _refresh_job_counters(session, job_id)
            return True
    return False


def _refresh_job_counters(session: Session, job_id: str) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(**job_counters(session, job_id))
        .execution_options(synchronize_session=False)
    )
