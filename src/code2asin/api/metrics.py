"""Prometheus metrics computed from the database at scrape time (so every process reports the same).

Exposed on ``GET /metrics`` behind READ_CODE2ASIN (design 9.7: nothing but health and readiness answers
without a token); give the scraper a read-only token.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from code2asin.db import Database
from code2asin.jobs.models import ChunkStatus, Job, JobChunk, JobStatus


class DatabaseCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        with self.db.unit_of_work() as session:
            jobs = dict(session.execute(select(Job.status, func.count(Job.id)).group_by(Job.status)).all())
            total, matched, failed = session.execute(
                select(
                    func.coalesce(func.sum(Job.total_codes), 0),
                    func.coalesce(func.sum(Job.successful_conversions), 0),
                    func.coalesce(func.sum(Job.failed_conversions), 0),
                )
            ).one()
            chunks = dict(
                session.execute(
                    select(JobChunk.status, func.count(JobChunk.id))
                    .join(Job, Job.id == JobChunk.job_id)
                    .where(Job.status == JobStatus.PROCESSING)
                    .group_by(JobChunk.status)
                ).all()
            )
        by_status = GaugeMetricFamily("code2asin_jobs", "Jobs by status.", labels=["status"])
        for status in JobStatus:
            by_status.add_metric([status.value], float(jobs.get(status.value, 0)))
        yield by_status
        codes = GaugeMetricFamily(
            "code2asin_codes_processed",
            "Codes processed by the jobs that exist, by outcome.",
            labels=["outcome"],
        )
        codes.add_metric(["matched"], float(matched))
        codes.add_metric(["unmatched"], float(failed))
        yield codes
        yield GaugeMetricFamily("code2asin_codes", "Codes (rows) of the jobs that exist.", float(total))
        depth = GaugeMetricFamily(
            "code2asin_queue_chunks",
            "Chunks of processing jobs, by chunk status (queue depth).",
            labels=["status"],
        )
        for chunk_status in ChunkStatus:
            depth.add_metric([chunk_status.value], float(chunks.get(chunk_status.value, 0)))
        yield depth


def create_registry(db: Database) -> CollectorRegistry:
    """A registry of its own per app (the global one would collide between apps in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db))
    return registry
