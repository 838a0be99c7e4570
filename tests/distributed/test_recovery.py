"""Recovery with real processes: workers killed while holding several chunks, Redis wiped, PostgreSQL
stopped and restarted. Every takeover comes within one lease plus one sweep, the API and the web
UI answer 503 (with ``Retry-After``) while the database is down, and every row ends exactly once.

The job runs on a private PostgreSQL cluster (this module's ``postgres_url``), so stopping it touches no
other test's database.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import httpx
import pytest
from sqlalchemy import select
from tests.sandbox_support import searched_codes

from code2asin.accounts.service import create_user
from code2asin.jobs.models import ChunkStatus, JobChunk

from .conftest import Cluster, PostgresServer, start_serve, wait_for

CODES = 3000
LEASE_SECONDS = 8
SWEEP_SECONDS = 2
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(private_postgres: PostgresServer) -> str:
    """This module's database: the private server's, which the test stops and restarts."""
    return private_postgres.url


class Progress:
    """Samples the rows processed every 0.25 s on a thread; the longest stretch without progress."""

    def __init__(self, cluster: Cluster, job_id: str) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(cluster, job_id), daemon=True)
        self._thread.start()

    def _run(self, cluster: Cluster, job_id: str) -> None:
        while not self._stop.wait(0.25):
            try:
                self.samples.append((time.monotonic(), cluster.processed(job_id)))
            except Exception:  # the database is down: no sample
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def longest_stall(self, since: float, until: float) -> float:
        """Seconds of the longest stretch in [since, until] during which the count did not move."""
        moved = [t for (_, before), (t, n) in itertools.pairwise(self.samples) if n != before]
        marks = [since, *[t for t in moved if since <= t <= until], until]
        return max(b - a for a, b in itertools.pairwise(marks))


def test_takeovers_within_a_lease_and_a_sweep_503_while_the_database_is_down_and_rows_exactly_once(
    make_cluster: Callable[..., Cluster], private_postgres: PostgresServer
) -> None:
    cluster = make_cluster(
        CODE2ASIN_CREATORS_REQUESTS_PER_SECOND="10",
        CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND="20",
        CODE2ASIN_WORKER_LEASE_SECONDS=str(LEASE_SECONDS),
        CODE2ASIN_WORKER_SWEEP_SECONDS=str(SWEEP_SECONDS),
    )
    workers = {name: cluster.start_worker(name, concurrency=3) for name in ("w1", "w2")}
    cluster.start_beat()
    port, token = _start_api(cluster)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})
    web = _signed_in_browser(cluster, port)
    cluster.sandbox.clear_log()
    job_id = cluster.create_started_job(CODES, seed=5)
    progress = Progress(cluster, job_id)
    takeovers: list[tuple[str, float]] = []
    try:

        def kill_one(label: str) -> None:
            name, held = wait_for(
                lambda: _worker_holding_several(cluster, job_id, workers), 60, "a worker with 2+ chunks"
            )
            Cluster.kill(workers[name])  # kill -9 of the worker and its pool children
            killed_at = time.monotonic()
            workers[name] = cluster.start_worker(name, concurrency=3)
            wait_for(lambda: _all_taken_over(cluster, job_id, held), 120, f"a takeover of {sorted(held)}")
            takeovers.append((f"{label} ({len(held)} chunks)", time.monotonic() - killed_at))

        wait_for(lambda: cluster.processed(job_id) >= 0.10 * CODES, 120, "10 % processed")
        kill_one("kill -9")

        wait_for(lambda: cluster.processed(job_id) >= 0.30 * CODES, 120, "30 % processed")
        cluster.redis_server.kill()
        cluster.redis_server.start()  # empty: the queue, the dispatch marks and the heartbeat are gone
        kill_one("kill -9 after Redis was wiped")

        wait_for(lambda: cluster.processed(job_id) >= 0.50 * CODES, 120, "50 % processed")
        private_postgres.stop()
        down = _answers_while_the_database_is_down(api, web, job_id)
        private_postgres.start()
        wait_for(lambda: api.get(f"/code2asin/jobs/{job_id}").status_code == 200, 30, "the API back at 200")
        assert api.get("/code2asin/ready").status_code == 200

        wait_for(lambda: cluster.processed(job_id) >= 0.65 * CODES, 180, "65 % processed")
        kill_one("kill -9 after PostgreSQL restarted")

        started = progress.samples[0][0] if progress.samples else time.monotonic()
        job = cluster.wait_finished(job_id, 300)
        finished = time.monotonic()
    finally:
        progress.stop()
        api.close()
        web.close()

    assert job.status == "completed"
    cluster.assert_every_row_exactly_once(job_id, CODES)
    bound = LEASE_SECONDS + SWEEP_SECONDS  # beat's takeover threads need no free worker process
    assert all(seconds <= bound for _, seconds in takeovers), (takeovers, bound)
    assert len(takeovers) == 3

    # codes the provider saw twice: only the calls the killed runs had in flight (the cache holds the rest)
    searched = searched_codes(cluster.sandbox)
    assert len(searched) == CODES
    twice = sum(n - 1 for n in searched.values() if n > 1)
    assert twice <= 100 * len(takeovers), twice
    stall = progress.longest_stall(started, finished)
    print(
        "takeovers: "
        + "; ".join(f"{label} {seconds:.1f} s" for label, seconds in takeovers)
        + f" (bound {bound} s); while PostgreSQL was down: {down}; codes searched twice: {twice};"
        f" longest stall of progress {stall:.1f} s; job {finished - started:.0f} s"
    )


def _worker_holding_several(
    cluster: Cluster, job_id: str, names: Iterable[str]
) -> tuple[str, dict[int, str]] | None:
    """One of the worker ``names`` and the chunks (chunk -> lease owner) it holds, when it holds two or
    more (beat's takeover threads hold leases too, as ``takeover@HOST``)."""
    held: dict[str, dict[int, str]] = {name: {} for name in names}
    for chunk_no, owner in cluster.running_leases(job_id):
        name = owner.split("@", 1)[0]
        if name in held:
            held[name][chunk_no] = owner
    return next(((name, chunks) for name, chunks in held.items() if len(chunks) >= 2), None)


def _all_taken_over(cluster: Cluster, job_id: str, held: dict[int, str]) -> bool:
    """Each chunk is done or leased by another run than the killed one (lease owners are unique per run)."""
    with cluster.db.unit_of_work() as session:
        rows = session.execute(
            select(JobChunk.chunk_no, JobChunk.status, JobChunk.lease_owner).where(
                JobChunk.job_id == job_id, JobChunk.chunk_no.in_(list(held))
            )
        ).all()
    return all(status == ChunkStatus.DONE or owner != held[n] for n, status, owner in rows)


def _answers_while_the_database_is_down(api: httpx.Client, web: httpx.Client, job_id: str) -> str:
    job = api.get(f"/code2asin/jobs/{job_id}")
    assert job.status_code == 503, job.text
    assert job.headers["retry-after"] == "5"
    assert job.json() == {
        "error": {
            "code": "database_unavailable",
            "message": "The database is unavailable; retry in 5 seconds.",
        }
    }
    listing = api.get("/code2asin/jobs")
    assert listing.status_code == 503 and listing.json()["error"]["code"] == "database_unavailable"
    ready = api.get("/code2asin/ready")
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
    assert api.get("/code2asin/health").status_code == 200  # the process itself is alive
    page = web.get("/code2asin/ui/jobs")
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert "Database unavailable, retrying" in page.text and 'http-equiv="refresh"' in page.text
    return "API 503 + Retry-After: 5, /ready 503, web page 503 'Database unavailable, retrying'"


def _start_api(cluster: Cluster) -> tuple[int, str]:
    """``code2asin serve`` on a free port with the cluster's settings; the port and an admin token."""
    code2asin = [sys.executable, "-m", "code2asin"]
    token = subprocess.run(
        [*code2asin, "token", "create", "--permissions", "ADMIN_CODE2ASIN"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    server, port = start_serve(cluster.env, cluster.folder)
    cluster.processes["serve"] = server  # killed with the cluster
    return port, token


def _signed_in_browser(cluster: Cluster, port: int) -> httpx.Client:
    with cluster.db.unit_of_work() as session:
        create_user(session, "alice", PASSWORD, ["ADMIN_CODE2ASIN"], [])
    web = httpx.Client(base_url=f"http://127.0.0.1:{port}")
    match = _CSRF.search(web.get("/code2asin/ui/login").text)
    assert match
    signed = web.post(
        "/code2asin/ui/login",
        data={"csrf_token": match.group(1), "username": "alice", "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    assert web.get("/code2asin/ui/jobs").status_code == 200
    return web
