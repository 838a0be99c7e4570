"""``code2asin convert``: one job from a file to a results file, on the configured backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.export import write_results
from code2asin.image_tasks import ImageCopier, images_not_copied
from code2asin.images import ImageFetcher
from code2asin.ingest_table import InputTable
from code2asin.jobs import creation, result_queries, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import PoolOutcome, give_up_waiting_rows, run_job_waiting
from code2asin.jobs.estimate import Estimate, record_estimate
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import JobMode, JobStatus
from code2asin.jobs.progress import LiveProgress, live_progress
from code2asin.jobs.runner import ChunkRunner
from code2asin.jobs.stats import job_statistics
from code2asin.providers.plan import build_plans
from code2asin.providers.stages import Plan
from code2asin.storage import open_storage
from code2asin.tiles import Tile


@dataclass(frozen=True, slots=True)
class ConvertRequest:
    input_path: Path
    output_path: Path
    mode: str = "amazon"
    provider_plan: str = "sandbox"
    marketplace: str = "FR"
    #: several marketplaces: one result per input row on each (``marketplace`` is ignored then)
    marketplaces: tuple[str, ...] = ()
    supplier_code: str = "DEFAULT"
    download_images: bool = False
    max_images: int = 10
    image_mode: str = "replace"
    code_column: str | None = None
    confidence_threshold: float = 0.5
    #: how long the run may wait, in all, for rows due again (a quota refill, the 1- and 5-minute retries)
    max_wait_seconds: float = 600.0
    #: caps: the job pauses before a call past them (None: no cap)
    max_calls: int | None = None
    max_keepa_tokens: int | None = None
    #: the title and brand search for rows whose code found nothing, and the score it needs
    title_search: bool = False
    title_search_invalid: bool = False
    title_threshold: float = 0.70


@dataclass(frozen=True, slots=True)
class ConvertResult:
    job_id: str
    status: str
    rows: int
    tiles: list[Tile]
    error_message: str | None = None
    #: several-marketplace jobs: each marketplace's tiles, and the "available on" summary
    by_marketplace: dict[str, list[Tile]] = field(default_factory=dict)
    availability: dict[str, Any] | None = None


def run_convert(
    settings: Settings,
    request: ConvertRequest,
    *,
    table_opener: Callable[[Path], InputTable],
    on_read: Callable[[int], None] | None = None,
    on_process: Callable[[LiveProgress], None] | None = None,
    on_wait: Callable[[datetime], None] | None = None,
    on_estimate: Callable[[Estimate], None] | None = None,
) -> ConvertResult:
    """Create the job, run it to its end, write the results file; returns the job's outcome.

    Raises ``Code2AsinError`` (one sentence) when the file cannot be read or the job cannot run.
    """
    mode = JobMode(request.mode)
    table = table_opener(request.input_path)
    marketplaces = list(dict.fromkeys(m.upper() for m in (request.marketplaces or [request.marketplace])))
    plans: dict[str, Plan] = {}
    if mode is JobMode.AMAZON:
        # fail on a bad plan or missing credentials before any job exists
        plans = build_plans(settings, request.provider_plan, marketplaces)
    db = Database.from_settings(settings)
    try:
        db.upgrade()
        new = creation.NewJob(
            supplier_code=request.supplier_code,
            mode=mode,
            marketplace=marketplaces[0],
            marketplaces=marketplaces,
            provider_plan=request.provider_plan,
            source_filename=request.input_path.name,
            options=creation.JobOptions(
                download_images=request.download_images,
                max_images_per_product=request.max_images,
                image_mode=request.image_mode,
                confidence_threshold=request.confidence_threshold,
                max_calls=request.max_calls,
                max_keepa_tokens=request.max_keepa_tokens,
                title_search=request.title_search,
                title_search_invalid=request.title_search_invalid,
                title_threshold=request.title_threshold,
            ),
            actor="cli",
        )
        job_id = creation.create_job(db, table, new, on_progress=on_read)
        if plans:
            first = plans[marketplaces[0]]
            estimated = record_estimate(db, job_id, settings, cache_name=first.cache_name)
            if estimated is not None and on_estimate:
                on_estimate(estimated)
        with db.unit_of_work() as session:
            job = service.get_job(session, job_id)
            service.transition(session, job, JobAction.START, actor="cli")
        if not plans:
            with db.unit_of_work() as session:
                job = service.get_job(session, job_id)
                service.refresh_counters(session, job)
                if on_process:
                    on_process(live_progress(session, job))
                service.transition(session, job, JobAction.COMPLETE, actor="cli")
        else:
            cache = LookupCacheStore(db, settings.cache_ttl_seconds, settings.price_cache_ttl_seconds)
            runner = ChunkRunner(
                db, plans[marketplaces[0]], cache, worker_id="cli", plan_for=plans.__getitem__
            )
            runner.complete_if_finished(job_id)  # a file without any valid code has nothing to look up
            outcome = run_job_waiting(
                db,
                runner,
                job_id,
                max_wait_seconds=request.max_wait_seconds,
                on_progress=on_process,
                on_wait=on_wait,
            )
            if outcome is PoolOutcome.WAITING:
                give_up_waiting_rows(db, job_id, runner)
            if request.download_images:
                copy_images(settings, db, *plans.values())
        return export_job(db, job_id, request.output_path)
    finally:
        for plan in plans.values():
            plan.close()
        db.dispose()


def copy_images(settings: Settings, db: Database, *plans: Plan, concurrency: int = 8) -> None:
    """Run every image copy owed (the embedded path of the images queue) with the plans' image hosts."""
    fetcher = ImageFetcher([*settings.image_hosts, *(h for plan in plans for h in plan.image_hosts)])
    try:
        ImageCopier(db, open_storage(settings), fetcher).run_due(concurrency)
    finally:
        fetcher.close()


def export_job(db: Database, job_id: str, output_path: Path) -> ConvertResult:
    """Write the job's results file and return its outcome."""
    from code2asin.jobs.stats_snapshot import job_availability

    with db.unit_of_work() as session:
        job = service.get_job(session, job_id)
        stats = job_statistics(session, job_id)
        marketplaces = job.marketplace_list
        headers = list(job.source_info.get("headers") or [])
        extra = [
            Tile("Job", job.id, "text"),
            Tile("Status", job.status, "text"),
            Tile("Supplier", job.supplier_code, "text"),
            Tile("Mode", job.mode, "text"),
            Tile("Marketplaces" if len(marketplaces) > 1 else "Marketplace", ", ".join(marketplaces), "text"),
            Tile("Provider plan", job.provider_plan, "text"),
            Tile("Source file", job.source_filename, "text"),
            Tile("Matched", stats.matched),
            Tile("Not found", stats.not_found),
            Tile("Invalid", stats.invalid),
            Tile("Failed", stats.failed),
        ]
        by_marketplace: dict[str, list[Tile]] = {}
        availability = job_availability(session, job)
        if availability is not None:
            for market in marketplaces:
                by_marketplace[market] = job_statistics(session, job_id, market).tiles()
                extra += [replace(t, label=f"{market} · {t.label}") for t in by_marketplace[market]]
            extra += availability_lines(availability)
        tiles = stats.tiles()
        if (job.options or {}).get("download_images"):
            tiles.append(Tile("Images Not Copied", images_not_copied(session, job_id)))
        rows = write_results(
            output_path,
            result_queries.export_rows(session, job_id),
            headers,
            tiles,
            extra,
            marketplaces=marketplaces,
        )
        return ConvertResult(
            job_id=job.id,
            status=job.status,
            rows=rows,
            tiles=tiles,
            error_message=job.error_message if job.status != JobStatus.COMPLETED else None,
            by_marketplace=by_marketplace,
            availability=availability,
        )


def availability_lines(availability: dict[str, Any]) -> list[Tile]:
    """The "available on" summary as lines for the Summary sheet and the CLI."""
    n = len(availability["marketplaces"])
    return [
        Tile("Input rows", availability["rows"]),
        Tile(f"Found on all {n} marketplaces", availability["on_every_marketplace"]),
        Tile("Found on some marketplaces", availability["on_some_marketplaces"]),
        Tile("Found on no marketplace", availability["on_no_marketplace"]),
    ]
