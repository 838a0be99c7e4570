"""``code2asin healthcheck api|worker|beat``: is this process's role alive (container health checks).

Exit code 0 and one line on standard output when healthy; one sentence on standard error and exit code 1
otherwise. Nothing here needs a token, and nothing printed carries a secret (URLs are shown without
passwords).
"""

from __future__ import annotations

import socket
import time
from enum import StrEnum
from typing import Annotated, NoReturn

import typer

from code2asin.config import Settings, load_settings


class Role(StrEnum):
    api = "api"
    worker = "worker"
    beat = "beat"


def _unhealthy(message: str) -> NoReturn:
    typer.echo(f"Unhealthy: {message}", err=True)
    raise typer.Exit(1)


def _check_api(url: str, timeout: float) -> str:
    import httpx

    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        _unhealthy(f"the API does not answer at {url} ({type(exc).__name__}).")
    if response.status_code != 200:
        _unhealthy(f"the API answered {response.status_code} at {url}.")
    return f"API answers at {url}"


def _check_broker(settings: Settings, timeout: float, *, sweeper: bool = False) -> str:
    """The broker answers; with ``sweeper``, beat's last sweep is recent (three periods, 10 s of slack)."""
    from redis import Redis
    from redis.exceptions import RedisError

    from code2asin.jobs.queues import SWEEP_HEARTBEAT_KEY

    if not settings.broker_url:
        _unhealthy("CODE2ASIN_BROKER_URL is not set (workers and beat need Redis).")
    client = Redis.from_url(settings.broker_url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
        last = client.get(SWEEP_HEARTBEAT_KEY) if sweeper else None
    except RedisError as exc:
        _unhealthy(f"the broker does not answer ({type(exc).__name__}).")
    finally:
        client.close()
    if not sweeper:
        return "broker answers"
    period = settings.worker.sweep_seconds
    if last is None:
        _unhealthy("no sweep has run in the last ten periods: is `code2asin beat` running?")
    age = time.time() - float(last)
    if age > 3 * period + 10:
        _unhealthy(f"the last sweep ran {age:.0f} s ago (every {period:g} s expected; see beat's log).")
    return f"broker answers, last sweep {age:.0f} s ago"


def _check_database(settings: Settings) -> str:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from code2asin.db import Database

    db = Database.from_settings(settings)
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        _unhealthy(f"the database does not answer ({type(exc).__name__}).")
    finally:
        db.dispose()
    return "database answers"


def _check_worker(settings: Settings, name: str, timeout: float) -> str:
    from code2asin.jobs.celery_app import create_celery

    _check_broker(settings, timeout)
    app = create_celery(settings)
    try:
        replies = app.control.ping(destination=[name], timeout=timeout)
    except Exception as exc:  # kombu raises transport-specific errors
        _unhealthy(f"could not ask worker {name} ({type(exc).__name__}).")
    finally:
        app.close()
    if not any(name in reply for reply in replies or []):
        _unhealthy(f"worker {name} did not answer a ping within {timeout:g} s.")
    return f"worker {name} answers"


def healthcheck(
    role: Annotated[Role, typer.Argument(help="The role this process runs: api, worker or beat.")],
    url: Annotated[
        str, typer.Option(help="api: the health URL to ask.")
    ] = "http://127.0.0.1:8000/code2asin/health",
    name: Annotated[
        str | None, typer.Option(help="worker: its node name (default celery@HOSTNAME).")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for an answer.")] = 5.0,
) -> None:
    """Exit 0 when this role is healthy (the API answers; the worker answers a ping; beat reaches the
    broker and the database and has swept lately), else print why and exit 1. For container health
    checks."""
    if role is Role.api:
        typer.echo(f"Healthy: {_check_api(url, timeout)}.")
        return
    settings = load_settings()
    if role is Role.worker:
        typer.echo(f"Healthy: {_check_worker(settings, name or f'celery@{socket.gethostname()}', timeout)}.")
        return
    found = [_check_broker(settings, timeout, sweeper=True), _check_database(settings)]
    typer.echo(f"Healthy: {', '.join(found)}.")
