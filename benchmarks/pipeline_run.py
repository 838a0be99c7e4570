"""One measured job for ``python -m benchmarks pipeline`` (run as a script, so the code under test is
whichever ``code2asin`` comes first on ``PYTHONPATH``: this tree, or a baseline worktree).

``python benchmarks/pipeline_run.py PLAN CODES FACTOR WORKERS DATABASE_URL [REDIS_URL [MODE]]`` (with this
repository on ``PYTHONPATH`` after the code, for ``benchmarks.processes``) prints one JSON line: the
seconds from the workers' first request to ``completed``, the sandbox's log per operation, the 429s, and
(when the code under test has ``jobs.estimate``) the estimate made before the run.

The sandbox runs here, in its own thread, with Amazon's default quotas times FACTOR (Creators 1 req/s,
SP-API catalogue 2/s burst 2, pricing 0.5/s; Keepa 1,200 tokens refilled by 20 every 60 s / FACTOR) and
25 ms of latency; our clients are paced at the same scaled rates.

* MODE ``embedded`` (the default): WORKERS processes (spawned) each run the embedded pool (4 chunk threads)
  on the same database; with 2 they share one Redis limiter.
* MODE ``celery``: WORKERS ``code2asin worker`` processes (4 pool processes each) and one beat, on a
  private ``redis-server`` (broker and limiter) and DATABASE_URL (PostgreSQL), configured the way an
  operator would, through ``CODE2ASIN_*`` variables; the job is dispatched by the ``CeleryDispatcher``
  once every worker answers a ping. The Redis at REDIS_URL is not used.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.processes import celery_workers, free_port, redis_server, stop

LATENCY_MS = 25.0
#: pool processes per Celery worker: as many as the embedded pool's chunk threads
CELERY_CONCURRENCY = 4


def endpoints(base: dict[str, Any], factor: float) -> Any:
    from code2asin.config import Settings
    from code2asin.providers.plan import Endpoints

    class Running:  # what ``Endpoints.for_running_sandbox`` reads of a running sandbox
        host, port = base["host"], base["port"]
        base_url, cognito_token_url, lwa_token_url = base["url"], base["cognito"], base["lwa"]

    found = Endpoints.for_running_sandbox(Settings(), Running(), "FR")  # type: ignore[arg-type]
    found.creators_rate = 1.0 * factor
    found.spapi_catalog_rate = 2.0 * factor
    found.spapi_catalog_burst = 2
    found.spapi_pricing_rate = 0.5 * factor
    return found


def work(
    plan_name: str, database_url: str, redis_url: str | None, job_id: str, base: dict[str, Any], factor: float
) -> None:
    from code2asin.config import Settings
    from code2asin.db import Database
    from code2asin.jobs.cache import LookupCacheStore
    from code2asin.jobs.embedded import run_job
    from code2asin.jobs.runner import ChunkRunner
    from code2asin.providers.plan import build_plan
    from code2asin.providers.ratelimit import InProcessLimiter, RedisLimiter

    # the limiter keeps its 10 ms of slack against network jitter: shrunk with the time factor, the sandbox's
    # burst-1 buckets answer 429 (measured: 10 of 182 calls at 20x with 0.5 ms)
    limiter: Any = InProcessLimiter()
    if redis_url:
        from redis import Redis

        limiter = RedisLimiter(Redis.from_url(redis_url), prefix=f"bench:{job_id}:")
    db = Database(database_url)
    plan = build_plan(Settings(), plan_name, "FR", endpoints=endpoints(base, factor), limiter=limiter)
    try:
        runner = ChunkRunner(
            db, plan, LookupCacheStore(db, 3600, 3600), worker_id=f"bench-{mp.current_process().pid}"
        )
        while True:
            run_job(db, runner, job_id, workers=int(os.environ.get("BENCH_THREADS", "4")))
            with db.unit_of_work() as session:
                from code2asin.jobs.models import Job

                job = session.get(Job, job_id)
                if job is None or job.status != "processing":
                    return
            time.sleep(0.05)  # rows due again (a 429's retry): come back for them
    finally:
        plan.close()
        db.dispose()


def celery_env(
    plan_name: str, database_url: str, broker_url: str, base: dict[str, Any], factor: float, data_dir: Path
) -> dict[str, str]:
    """What an operator sets for workers on this sandbox: its endpoints and test credentials, the scaled
    quotas, and a sweep every second (a row due again after a 429 is sent out without delay)."""
    from code2asin.sandbox import server as sb

    url = base["url"]
    return {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "CODE2ASIN_DATABASE_URL": database_url,
        "CODE2ASIN_BROKER_URL": broker_url,
        "CODE2ASIN_DATA_DIR": str(data_dir),
        "CODE2ASIN_PROVIDER": plan_name,
        "CODE2ASIN_MARKETPLACE": "FR",
        "CODE2ASIN_SPAPI_API_URL": url,
        "CODE2ASIN_SPAPI_TOKEN_URL": base["lwa"],
        "CODE2ASIN_SPAPI_CLIENT_ID": sb.DEFAULT_LWA_CLIENT_ID,
        "CODE2ASIN_SPAPI_CLIENT_SECRET": sb.DEFAULT_LWA_CLIENT_SECRET,
        "CODE2ASIN_SPAPI_REFRESH_TOKEN": sb.DEFAULT_REFRESH_TOKEN,
        "CODE2ASIN_CREATORS_API_URL": url,
        "CODE2ASIN_CREATORS_TOKEN_URL": base["cognito"],
        "CODE2ASIN_CREATORS_CREDENTIAL_ID": sb.DEFAULT_CREDENTIAL_ID,
        "CODE2ASIN_CREATORS_CREDENTIAL_SECRET": sb.DEFAULT_CREDENTIAL_SECRET,
        "CODE2ASIN_CREATORS_PARTNER_TAG": sb.DEFAULT_PARTNER_TAG,
        "CODE2ASIN_CREATORS_CREDENTIAL_VERSION": "2.2",
        "CODE2ASIN_KEEPA_API_KEY": sb.DEFAULT_KEEPA_KEY,
        "CODE2ASIN_KEEPA_API_URL": url,
        "CODE2ASIN_CREATORS_REQUESTS_PER_SECOND": str(1.0 * factor),
        "CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND": str(2.0 * factor),
        "CODE2ASIN_SPAPI_CATALOG_BURST": "2",
        "CODE2ASIN_SPAPI_PRICING_REQUESTS_PER_SECOND": str(0.5 * factor),
        "CODE2ASIN_WORKER_LEASE_SECONDS": "120",
        "CODE2ASIN_WORKER_SWEEP_SECONDS": "1",
    }


@contextmanager
def celery_cluster(
    plan_name: str, database_url: str, workers: int, base: dict[str, Any], factor: float, folder: Path
) -> Iterator[tuple[Any, Any]]:
    """A private Redis, WORKERS Celery workers and beat, all answering; yields (settings, Celery app)."""
    from code2asin.config import Settings
    from code2asin.jobs.celery_app import create_celery

    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    env = celery_env(plan_name, database_url, broker, base, factor, folder / "data")
    redis = redis_server(folder, port)
    try:
        settings = Settings(database_url=database_url, broker_url=broker, data_dir=folder / "data")
        app = create_celery(settings)
        with celery_workers(folder, env, app, workers, CELERY_CONCURRENCY):
            yield settings, app
    finally:
        stop(redis)


def run_celery(
    plan_name: str,
    database_url: str,
    workers: int,
    base: dict[str, Any],
    factor: float,
    job_id: str,
    start: Callable[[], None],
    timeout: float = 4 * 3600,
) -> None:
    """Start ``job_id`` (``start``: clear the request log, START) once WORKERS Celery workers and beat
    answer, dispatch it and wait for it to leave ``processing``."""
    from code2asin.db import Database
    from code2asin.jobs.dispatch import CeleryDispatcher
    from code2asin.jobs.models import Job

    with (
        tempfile.TemporaryDirectory(prefix="c2a-pipeline-celery-") as tmp,
        celery_cluster(plan_name, database_url, workers, base, factor, Path(tmp)) as (settings, app),
    ):
        db = Database(database_url)
        dispatcher = CeleryDispatcher(settings, db, app)
        # started only now: beat's sweep sends the chunks of a processing job, so a job started before
        # the workers answered would partly run before the clock (and the request log) start
        start()
        dispatcher.dispatch(job_id)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                with db.unit_of_work() as session:
                    job = session.get(Job, job_id)
                    if job is None or job.status != "processing":
                        return
                time.sleep(0.1)
            raise SystemExit(f"job {job_id} still processing after {timeout:.0f} s")
        finally:
            dispatcher.close()
            db.dispose()


def main() -> None:
    plan_name, codes, factor, workers, database_url = (
        sys.argv[1],
        int(sys.argv[2]),
        float(sys.argv[3]),
        int(sys.argv[4]),
        sys.argv[5],
    )
    redis_url = sys.argv[6] if len(sys.argv) > 6 else None
    mode = sys.argv[7] if len(sys.argv) > 7 else "embedded"
    from code2asin.db import Database
    from code2asin.ingest import open_table
    from code2asin.jobs import creation, service
    from code2asin.jobs.lifecycle import JobAction
    from code2asin.jobs.models import Job, JobMode
    from code2asin.sandbox import sample_codes
    from code2asin.sandbox import server as sb

    quotas = sb.SandboxQuotas(
        creators_rps=1.0 * factor,
        spapi_catalog_rps=2.0 * factor,
        spapi_catalog_burst=2,
        spapi_pricing_rps=0.5 * factor,
        keepa_refill_interval_s=60.0 / factor,
    )
    server = sb.SandboxServer("127.0.0.1", 0, latency_ms=LATENCY_MS, quotas=quotas).start()
    base = {
        "host": server.host,
        "port": server.port,
        "url": server.base_url,
        "cognito": server.cognito_token_url,
        "lwa": server.lwa_token_url,
    }
    db = Database(database_url)
    db.upgrade()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "codes.csv"
        source.write_text("EAN\n" + "\n".join(sample_codes.generate_codes(codes, seed=14)) + "\n", "utf-8")
        new = creation.NewJob("BENCH", JobMode.AMAZON, "FR", plan_name, source.name)
        job_id = creation.create_job(db, open_table(source), new)
    estimate: dict[str, Any] | None = None
    try:
        from code2asin.jobs.estimate import Quotas, estimate_job

        rates = Quotas(1.0 * factor, 2.0 * factor, 2, 0.5 * factor, 1200, 20 * factor)
        with db.unit_of_work() as session:
            job = session.get(Job, job_id)
            estimate = estimate_job(session, job, rates).as_dict()  # type: ignore[arg-type]
    except ImportError:
        pass  # the baseline has no estimate

    def start() -> None:
        server.clear_log()
        with db.unit_of_work() as session:
            service.transition(session, service.get_job(session, job_id), JobAction.START, actor="bench")

    if mode != "celery":
        start()
    started = time.time()
    if mode == "celery":
        run_celery(plan_name, database_url, workers, base, factor, job_id, start)
    else:
        ctx = mp.get_context("spawn")
        procs = [
            ctx.Process(
                target=work,
                args=(plan_name, database_url, redis_url if workers > 1 else None, job_id, base, factor),
            )
            for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    with db.unit_of_work() as session:
        job = session.get(Job, job_id)
        status, finished = job.status, job.completed_at  # type: ignore[union-attr]
    ended = finished.timestamp() if finished is not None else time.time()
    # the clock starts at the first request the workers send (a token): the workers' own start-up (a spawned
    # process importing the code) is not the runner's time; a service's workers are up before a job comes
    started = min((e.time for e in server.request_log), default=started)
    log = [e for e in server.request_log if e.kind == "api"]
    server.stop()
    db.dispose()
    calls = Counter(e.operation for e in log if e.status in (200, 404))
    keepa = [e for e in log if e.operation in ("keepaProduct", "keepaSearch") and e.status == 200]
    # what Keepa consumed (one token per product returned); a baseline's sandbox may not log it (None)
    keepa_tokens = sum(e.tokens for e in keepa) if all(hasattr(e, "tokens") for e in keepa) else None
    print(
        json.dumps(
            {
                "plan": plan_name,
                "codes": codes,
                "workers": workers,
                "mode": mode,
                "status": status,
                "seconds": ended - started,
                "calls": dict(calls),
                "throttled": sum(1 for e in log if e.status == 429),
                "keepa_tokens": keepa_tokens,
                "estimate": estimate,
            }
        )
    )


if __name__ == "__main__":
    main()
