"""``code2asin track create/list/run``: price trackers from the command line.

Registered in ``cli.py`` as the ``track`` group. ``track run`` starts a re-pricing at once; on the
embedded backend it waits for the run and prints its statistics, with a broker it leaves the run to the
workers. Messages go to standard error, ids and tables to standard output.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, NoReturn

import typer

from code2asin.cli_service import _database
from code2asin.config import load_settings
from code2asin.errors import Code2AsinError

track_app = typer.Typer(no_args_is_help=True, help="Price trackers: scheduled re-pricing with alerts.")


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


@track_app.command("create")
def track_create(
    supplier: Annotated[str | None, typer.Option("--supplier", help="Follow every matched product.")] = None,
    job: Annotated[str | None, typer.Option("--job", help="Follow the matched rows of this job.")] = None,
    marketplace: Annotated[str | None, typer.Option("--marketplace", help="FR, DE, ...")] = None,
    plan: Annotated[
        str | None, typer.Option("--provider", help="Provider plan (spapi, creators, ...).")
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="cron expression, UTC (default weekly: 0 6 * * 1).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Alert on moves over this percent (default 10).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label.")] = None,
    webhook_url: Annotated[str | None, typer.Option("--webhook-url", help="POST signed alerts here.")] = None,
) -> None:
    """Create a tracker and print its id (and the generated webhook secret, once, on standard error)."""
    from code2asin.pricing.service import TrackerSpec, create_tracker

    spec = TrackerSpec(
        name=name,
        supplier_code=supplier,
        source_job_id=job,
        marketplace=marketplace,
        provider_plan=plan,
        schedule=schedule,
        threshold_percent=Decimal(str(threshold)) if threshold is not None else None,
        webhook_url=webhook_url,
    )
    try:
        with _database() as db, db.unit_of_work() as session:
            tracker, secret = create_tracker(session, spec, "cli")
            tracker_id, next_run = tracker.id, tracker.next_run_at
    except Code2AsinError as exc:
        _fail(str(exc))
    typer.echo(tracker_id)
    typer.echo(f"Tracker {tracker_id} created; next run at {next_run:%Y-%m-%d %H:%M} UTC.", err=True)
    if secret:
        typer.echo(f"Webhook secret (shown once): {secret}", err=True)


@track_app.command("list")
def track_list() -> None:
    """List trackers: id, name, supplier, marketplace, schedule, threshold, status, next run, last run job."""
    from code2asin.pricing.service import list_trackers

    with _database() as db, db.unit_of_work() as session:
        trackers, _total = list_trackers(session, per_page=10_000)
        typer.echo("id\tname\tsupplier\tmarketplace\tschedule\tthreshold\tstatus\tnext_run_at\tlast_job_id")
        for t in trackers:
            fields = [
                t.id,
                t.name,
                t.supplier_code,
                t.marketplace,
                t.schedule,
                str(t.threshold_percent),
                t.status,
                t.next_run_at.isoformat(timespec="minutes") if t.next_run_at else "",
                t.last_job_id or "",
            ]
            typer.echo("\t".join(fields))


@track_app.command("run")
def track_run(
    tracker_id: Annotated[str, typer.Argument(metavar="ID", help="Tracker id (see `track list`).")],
) -> None:
    """Start a re-pricing of the tracker now; prints the run's job id."""
    from code2asin.jobs.celery_app import create_dispatcher
    from code2asin.jobs.dispatch import EmbeddedDispatcher
    from code2asin.jobs.models import Job
    from code2asin.pricing.service import get_tracker, start_run

    settings = load_settings()
    try:
        with _database() as db:
            with db.unit_of_work() as session:
                started = start_run(session, get_tracker(session, tracker_id), "cli")
            typer.echo(started.job_id)
            if not started.dispatch:
                return
            dispatcher = create_dispatcher(settings, db)
            try:
                dispatcher.dispatch(started.job_id)
                if isinstance(dispatcher, EmbeddedDispatcher):
                    dispatcher.wait(started.job_id)
                    with db.unit_of_work() as session:
                        job = session.get(Job, started.job_id)
                        assert job is not None
                        typer.echo(
                            f"Run {job.status}: {job.successful_conversions} priced, "
                            f"{job.failed_conversions} not priced, of {job.total_codes}.",
                            err=True,
                        )
            finally:
                dispatcher.close()
    except Code2AsinError as exc:
        _fail(str(exc))
