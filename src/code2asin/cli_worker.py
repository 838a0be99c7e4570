"""``code2asin worker`` and ``code2asin beat``: Celery processes of distributed mode.

Both read the ``CODE2ASIN_*`` settings (``CODE2ASIN_BROKER_URL`` must name a Redis server and
``CODE2ASIN_DATABASE_URL`` the PostgreSQL database shared by every worker). Run any number of workers, on
any number of hosts, and exactly one beat (standalone, or embedded in one worker with ``--beat``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from code2asin.config import Settings, load_settings
from code2asin.jobs.queues import CHUNK_QUEUE, IMAGES_QUEUE


def _settings_or_exit() -> Settings:
    settings = load_settings()
    if not settings.broker_url:
        typer.echo(
            "Error: code2asin worker needs CODE2ASIN_BROKER_URL (redis://HOST:6379/0) and "
            "CODE2ASIN_DATABASE_URL (postgresql://...); without a broker, `code2asin serve` runs jobs "
            "in-process.",
            err=True,
        )
        raise typer.Exit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _run(settings: Settings, argv: list[str]) -> None:
    from code2asin.jobs.celery_app import create_celery

    code = create_celery(settings).start(argv=argv)
    if code:
        raise typer.Exit(int(code))


def worker(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", min=1, help="Worker processes (default: CPUs).")
    ] = None,
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Queues to consume, comma-separated.")
    ] = f"{CHUNK_QUEUE},{IMAGES_QUEUE}",
    beat: Annotated[
        bool,
        typer.Option("--beat/--no-beat", help="Also run the sweeper schedule (one beat per deployment)."),
    ] = False,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="Log level.")] = "INFO",
    hostname: Annotated[
        str | None, typer.Option("--hostname", "-n", help="Worker name (default celery@HOST).")
    ] = None,
) -> None:
    """Run a Celery worker on the code2asin queues (distributed mode)."""
    settings = _settings_or_exit()
    argv = ["worker", "--queues", queues, "--loglevel", loglevel]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    if hostname:
        argv += ["--hostname", hostname]
    if beat:
        argv += ["--beat", "--schedule", str(settings.data_dir / "celerybeat-schedule")]
    _run(settings, argv)


def beat(
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="Log level.")] = "INFO",
) -> None:
    """Run the sweeper schedule alone (exactly one per deployment)."""
    settings = _settings_or_exit()
    _run(
        settings,
        ["beat", "--loglevel", loglevel, "--schedule", str(settings.data_dir / "celerybeat-schedule")],
    )
