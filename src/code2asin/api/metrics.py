"""Prometheus metrics on ``GET /metrics`` (READ_CODE2ASIN: design 9.7, only health and readiness answer
without a token; give the scraper a read-only token).

Two sources:

* **The database, at scrape time**, so every API process reports the same global numbers whichever
  worker did the work: ``code2asin_jobs{status}``, ``code2asin_job_codes{state}`` (the jobs' counters:
  matched, unmatched, pending), ``code2asin_queue_chunks{status}`` (chunks of processing jobs) and
  ``code2asin_job_queue_depth{job_id}`` (chunks not done yet, per processing job). A few grouped queries
  over ``jobs`` and ``job_chunks`` (never over ``job_items``).
* **This process** (``code2asin.observability``): codes processed by outcome, provider calls by
  provider/operation/status, provider call and chunk durations. In embedded mode this process runs the
  chunks; Celery workers serve their own (``code2asin.observability.start_metrics_server``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from code2asin import observability
from code2asin.db import Database
from code2asin.jobs.models import ChunkStatus, Job, JobChunk, JobStatus


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        with self.db.unit_of_work() as session:
            jobs = dict(session.execute(select(Job.status, func.count(Job.id)).group_by(Job.status)).all())
            total, processed, matched = session.execute(
                select(
                    func.coalesce(func.sum(Job.total_codes), 0),
                    func.coalesce(func.sum(Job.processed_codes), 0),
                    func.coalesce(func.sum(Job.successful_conversions), 0),
                )
            ).one()
            per_job = session.execute(
                select(JobChunk.job_id, JobChunk.status, func.count(JobChunk.id))
                .join(Job, Job.id == JobChunk.job_id)
                .where(Job.status == JobStatus.PROCESSING)
                .group_by(JobChunk.job_id, JobChunk.status)
            ).all()
        by_status = GaugeMetricFamily("code2asin_jobs", "Jobs by status.", labels=["status"])
        for status in JobStatus:
            by_status.add_metric([status.value], float(jobs.get(status.value, 0)))
        yield by_status
        codes = GaugeMetricFamily(
            "code2asin_job_codes",
            "Rows of the jobs that exist, from their counters: matched, unmatched (ended), pending.",
            labels=["state"],
        )
        codes.add_metric(["matched"], float(matched))
        codes.add_metric(["unmatched"], float(processed - matched))
        codes.add_metric(["pending"], float(total - processed))
        yield codes
        chunks = dict.fromkeys((s.value for s in ChunkStatus), 0)
        depth: dict[str, int] = {}
        for job_id, chunk_status, count in per_job:
            chunks[chunk_status] = chunks.get(chunk_status, 0) + int(count)
            if chunk_status != ChunkStatus.DONE:
                depth[job_id] = depth.get(job_id, 0) + int(count)
            else:
                depth.setdefault(job_id, 0)
        queue = GaugeMetricFamily(
            "code2asin_queue_chunks",
            "Chunks of processing jobs, by chunk status (queue depth).",
            labels=["status"],
        )
        for chunk_status, count in chunks.items():
            queue.add_metric([chunk_status], float(count))
        yield queue
        per_job_depth = GaugeMetricFamily(
            "code2asin_job_queue_depth",
            "Chunks not done yet (pending or running), per processing job.",
            labels=["job_id"],
        )
        for job_id, count in sorted(depth.items()):
            per_job_depth.add_metric([job_id], float(count))
        yield per_job_depth


class ProcessCollector(Collector):
    """This process's counters and histograms (``code2asin.observability``)."""

    def collect(self) -> Iterator[Metric]:
        return observability.process_metrics()


def create_registry(db: Database) -> CollectorRegistry:
    """A registry of its own per app (the global one would collide between apps in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(db))
    registry.register(ProcessCollector())
    return registry
