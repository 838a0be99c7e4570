"""Distributed benchmark (issue 4): end-to-end throughput of two Celery workers vs the embedded pool.

``python -m benchmarks distributed [--codes 100000] [--workers 2] [--concurrency 2] [--threads 4]``

One job of ``--codes`` valid sandbox codes (plan ``spapi+creators``, marketplace FR) runs twice, each time
on a fresh PostgreSQL database built by the migrations (so the lookup cache starts empty):

* ``embedded``: the ``EmbeddedDispatcher`` in this process (``--threads`` chunk threads);
* ``celery``: ``--workers`` Celery worker processes (``--concurrency`` pool processes each) and beat, on a
  private ``redis-server``, started and ready before the clock starts.

The sandbox runs in its own process with quotas lifted, and the provider rates are raised far above what
the machine can do, so the figures measure our own code (chunking, leasing, lookups, matching, commits),
not Amazon's quotas. The time is from dispatch to the job's ``completed`` status.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks.processes import celery_workers, free_port, redis_server, stop

ADMIN_URL = os.environ.get("CODE2ASIN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PLAN = "spapi+creators"
SANDBOX = """
import sys, threading
from code2asin.sandbox.server import SandboxServer
server = SandboxServer("127.0.0.1", 0, quotas=None).start()
print(server.base_url, flush=True)
threading.Event().wait()
"""


@contextmanager
def _database() -> Iterator[str]:
    name = f"c2a_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        "postgresql+psycopg://" + ADMIN_URL.split("://", 1)[1], isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _env(sandbox_url: str, data_dir: Path) -> dict[str, str]:
    from code2asin.sandbox import server as sb

    return {
        "CODE2ASIN_DATA_DIR": str(data_dir),
        "CODE2ASIN_PROVIDER": PLAN,
        "CODE2ASIN_SPAPI_API_URL": sandbox_url,
        "CODE2ASIN_SPAPI_TOKEN_URL": f"{sandbox_url}/auth/o2/token",
        "CODE2ASIN_SPAPI_CLIENT_ID": sb.DEFAULT_LWA_CLIENT_ID,
        "CODE2ASIN_SPAPI_CLIENT_SECRET": sb.DEFAULT_LWA_CLIENT_SECRET,
        "CODE2ASIN_SPAPI_REFRESH_TOKEN": sb.DEFAULT_REFRESH_TOKEN,
        "CODE2ASIN_CREATORS_API_URL": sandbox_url,
        "CODE2ASIN_CREATORS_TOKEN_URL": f"{sandbox_url}/oauth2/token",
        "CODE2ASIN_CREATORS_CREDENTIAL_ID": sb.DEFAULT_CREDENTIAL_ID,
        "CODE2ASIN_CREATORS_CREDENTIAL_SECRET": sb.DEFAULT_CREDENTIAL_SECRET,
        "CODE2ASIN_CREATORS_PARTNER_TAG": sb.DEFAULT_PARTNER_TAG,
        "CODE2ASIN_CREATORS_CREDENTIAL_VERSION": "2.2",
        "CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND": "100000",
        "CODE2ASIN_SPAPI_CATALOG_BURST": "100",
        "CODE2ASIN_SPAPI_PRICING_REQUESTS_PER_SECOND": "100000",
        "CODE2ASIN_CREATORS_REQUESTS_PER_SECOND": "100000",
        "CODE2ASIN_WORKER_LEASE_SECONDS": "120",
        "CODE2ASIN_WORKER_SWEEP_SECONDS": "5",
    }


def _create_job(database_url: str, csv_path: Path) -> str:
    from code2asin.db import Database
    from code2asin.ingest import open_table
    from code2asin.jobs.creation import NewJob, create_job
    from code2asin.jobs.lifecycle import JobAction
    from code2asin.jobs.models import JobMode
    from code2asin.jobs.service import get_job, transition

    db = Database(database_url)
    db.upgrade()
    job_id = create_job(
        db,
        open_table(csv_path),
        NewJob(
            supplier_code="BENCH",
            mode=JobMode.AMAZON,
            marketplace="FR",
            provider_plan=PLAN,
            source_filename=csv_path.name,
        ),
    )
    with db.unit_of_work() as session:
        transition(session, get_job(session, job_id), JobAction.START, actor="bench")
    db.dispose()
    return job_id


def _wait_completed(database_url: str, job_id: str, timeout: float) -> tuple[str, int]:
    from code2asin.db import Database
    from code2asin.jobs.models import Job

    db = Database(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with db.unit_of_work() as session:
                job = session.get(Job, job_id)
                assert job is not None
                if job.status not in ("processing", "pending"):
                    return job.status, job.processed_codes
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job_id} did not finish within {timeout:.0f} s")
            time.sleep(0.2)
    finally:
        db.dispose()


def _timed(dispatcher: Any, url: str, job_id: str, timeout: float) -> tuple[str, int, float]:
    """Dispatch the job and wait for its end: (status, codes processed, seconds from the dispatch)."""
    started = time.perf_counter()
    dispatcher.dispatch(job_id)
    status, processed = _wait_completed(url, job_id, timeout)
    elapsed = time.perf_counter() - started
    dispatcher.close()
    return status, processed, elapsed


def run_embedded(csv_path: Path, threads: int, timeout: float) -> float:
    from code2asin.config import Settings
    from code2asin.db import Database
    from code2asin.jobs.dispatch import EmbeddedDispatcher

    with _database() as url:
        job_id = _create_job(url, csv_path)
        settings = Settings(database_url=url, broker_url=None)
        db = Database(url)
        dispatcher = EmbeddedDispatcher(settings, db, chunk_workers=threads)
        status, processed, elapsed = _timed(dispatcher, url, job_id, timeout)
        db.dispose()
    print(f"embedded: {status}, {processed} codes in {elapsed:.1f} s")
    return elapsed


def run_celery(csv_path: Path, workers: int, concurrency: int, folder: Path, timeout: float) -> float:
    from code2asin.config import Settings
    from code2asin.db import Database
    from code2asin.jobs.celery_app import create_celery
    from code2asin.jobs.dispatch import CeleryDispatcher

    port = free_port()
    redis = redis_server(folder, port)
    try:
        with _database() as url:
            broker = f"redis://127.0.0.1:{port}/0"
            env = {
                **os.environ,
                "CODE2ASIN_DATABASE_URL": url,
                "CODE2ASIN_BROKER_URL": broker,
                "PYTHONWARNINGS": "ignore",
            }
            job_id = _create_job(url, csv_path)
            settings = Settings(database_url=url, broker_url=broker)
            app = create_celery(settings)
            with celery_workers(folder, env, app, workers, concurrency, timeout=60):
                db = Database(url)
                status, processed, elapsed = _timed(CeleryDispatcher(settings, db, app), url, job_id, timeout)
                db.dispose()
    finally:
        stop(redis)
    shape = f"{workers} workers x {concurrency} processes"
    print(f"celery ({shape}): {status}, {processed} codes in {elapsed:.1f} s")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks distributed")
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per Celery worker")
    parser.add_argument("--threads", type=int, default=4, help="chunk threads of the embedded pool")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per run")
    args = parser.parse_args(argv)

    from code2asin.sandbox.sample_codes import generate_codes

    with tempfile.TemporaryDirectory(prefix="c2a-bench-") as tmp:
        folder = Path(tmp)
        sandbox = subprocess.Popen(
            [sys.executable, "-c", SANDBOX], stdout=subprocess.PIPE, start_new_session=True
        )
        try:
            assert sandbox.stdout is not None
            sandbox_url = sandbox.stdout.readline().decode().strip()
            os.environ.update(_env(sandbox_url, folder / "data"))
            csv_path = folder / "codes.csv"
            with csv_path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, delimiter=";")
                writer.writerow(["ean", "title"])
                for n, code in enumerate(generate_codes(args.codes, seed=42)):
                    writer.writerow([code, f"Product {n}"])
            print(
                f"{args.codes} codes, plan {PLAN}, sandbox quotas lifted, PostgreSQL, {os.cpu_count()} CPUs"
            )
            embedded = run_embedded(csv_path, args.threads, args.timeout)
            celery = run_celery(csv_path, args.workers, args.concurrency, folder, args.timeout)
        finally:
            stop(sandbox, grace=15)
    print(f"embedded pool ({args.threads} threads): {args.codes / embedded:,.0f} codes/s")
    print(f"celery ({args.workers} workers x {args.concurrency}): {args.codes / celery:,.0f} codes/s")
    print(f"ratio celery / embedded: {embedded / celery:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
