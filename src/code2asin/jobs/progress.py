"""A job's progress as it moves with each provider call: committed rows plus the running chunks' own
counters (``jobs.meter``), and what the job has spent."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from code2asin.jobs.models import ChunkStatus, Job, JobChunk


@dataclass(frozen=True, slots=True)
class LiveProgress:
    total: int
    processed: int  # rows with their final status (committed)
    looked_up: int  # processed + rows of running chunks whose code has been looked up
    enriched: int  # processed + rows of running chunks whose candidates have been enriched
    provider_calls: int
    keepa_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def live_progress(session: Session, job: Job) -> LiveProgress:
    """One query over the job's running chunks (a job has few at once: one per worker thread)."""
    looked_up, enriched = session.execute(
        select(
            func.coalesce(func.sum(JobChunk.looked_up_rows), 0),
            func.coalesce(func.sum(JobChunk.enriched_rows), 0),
        ).where(JobChunk.job_id == job.id, JobChunk.status == ChunkStatus.RUNNING)
    ).one()
    total, processed = job.total_codes, job.processed_codes
    return LiveProgress(
        total=total,
        processed=processed,
        looked_up=min(processed + int(looked_up), total),
        enriched=min(processed + int(enriched), total),
        provider_calls=job.provider_calls,
        keepa_tokens=job.keepa_tokens,
    )
