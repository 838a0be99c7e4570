"""Real processes for the distributed-mode tests: a private Redis, Celery workers and beat, the sandbox.

Every test gets a fresh PostgreSQL database (``postgres_url``), its own ``redis-server`` on a free
loopback port (the queue name and the limiter keys are fixed by contract, so a shared Redis would mix
concurrent runs; a private server is also the one the "Redis restarted empty" test may kill), and the
sandbox in this process with quotas lifted (the workers reach it by URL; our own pacing is what limits
them). Workers are ``python -m code2asin.jobs.celery_app worker`` subprocesses, each in its own process
group so ``kill -9`` takes the main process and its pool children at once, as a lost machine would.
Every process started here is killed by the fixtures' finalizers.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
from sqlalchemy import func, select

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs.celery_app import create_celery
from code2asin.jobs.creation import NewJob, create_job
from code2asin.jobs.dispatch import CeleryDispatcher
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import ChunkStatus, ConversionLog, ItemStatus, Job, JobChunk, JobItem, JobMode
from code2asin.jobs.service import get_job, transition
from code2asin.sandbox import server as sb
from code2asin.sandbox.sample_codes import generate_codes
from code2asin.sandbox.server import SandboxServer

REDIS_SERVER = os.environ.get("CODE2ASIN_TEST_REDIS_SERVER", "redis-server")
PLAN = "spapi+creators"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class RedisServer:
    """A private ``redis-server`` with no persistence: a restart starts it empty."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/14"

    def start(self) -> None:
        self.starts += 1
        with (self.folder / f"redis-{self.starts}.log").open("wb") as log:  # the child keeps its copy
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis.from_url(self.url)

        def ready() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            wait_for(ready, 10, "redis-server to answer")
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


def _pg_bin() -> Path:
    """The newest installed PostgreSQL's server programs (Debian's layout)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL's server programs (initdb, pg_ctl) are missing: apt-get install postgresql.")
    return found[-1].parent


class PostgresServer:
    """A private PostgreSQL cluster on a free loopback port, one a test may stop and restart.

    PostgreSQL refuses to run as root: as root it runs as the ``postgres`` user, in a folder of its own
    outside pytest's (root-only) temporary tree.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="code2asin-pg-"))
        self.data = self.folder / "data"
        self.bin = _pg_bin()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.folder / "postgres.log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: sessions are disconnected, what is committed stays."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def assert_every_row_exactly_once(db: Database, job_id: str, rows: int) -> None:
    """Every row present once, none pending, one log per row, counters equal to the row counts."""
    with db.unit_of_work() as session:
        job = get_job(session, job_id)
        row_nos = list(session.scalars(select(JobItem.row_no).where(JobItem.job_id == job_id)))
        statuses = dict(
            session.execute(
                select(JobItem.status, func.count()).where(JobItem.job_id == job_id).group_by(JobItem.status)
            ).all()
        )
        logs_per_row = dict(
            session.execute(
                select(ConversionLog.row_no, func.count())
                .where(ConversionLog.job_id == job_id)
                .group_by(ConversionLog.row_no)
            ).all()
        )
        open_chunks = session.scalar(
            select(func.count()).where(JobChunk.job_id == job_id, JobChunk.status != ChunkStatus.DONE)
        )
    assert job.status == "completed"
    assert len(row_nos) == rows
    assert sorted(row_nos) == list(range(1, rows + 1))
    assert ItemStatus.PENDING not in statuses
    assert open_chunks == 0
    assert sorted(logs_per_row) == list(range(1, rows + 1))
    doubled = {r: n for r, n in logs_per_row.items() if n != 1}
    assert not doubled, f"rows processed more than once: {sorted(doubled)[:10]}"
    assert job.total_codes == rows
    assert job.processed_codes == rows
    assert job.successful_conversions == statuses.get(ItemStatus.MATCHED, 0)
    assert job.failed_conversions == rows - statuses.get(ItemStatus.MATCHED, 0)


@dataclass
class Cluster:
    """The processes of one test and the handles to drive them."""

    folder: Path
    db: Database
    redis_server: RedisServer
    sandbox: SandboxServer
    settings: Settings
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _celery: Any = None
    _dispatcher: CeleryDispatcher | None = None

    @property
    def celery(self) -> Any:
        if self._celery is None:
            self._celery = create_celery(self.settings)
        return self._celery

    @property
    def dispatcher(self) -> CeleryDispatcher:
        if self._dispatcher is None:
            self._dispatcher = CeleryDispatcher(self.settings, self.db, self.celery)
        return self._dispatcher

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "code2asin.jobs.celery_app", *args],
                env=self.env,
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[f"{name}-{len(self.processes)}"] = process
        return process

    def start_worker(self, name: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self._spawn(
            name,
            [
                "worker",
                "--hostname",
                f"{name}@test",
                "--concurrency",
                str(concurrency),
                "--queues",
                "code2asin",
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
                "--pool",
                "prefork",
            ],
        )

    def start_beat(self) -> subprocess.Popen[bytes]:
        return self._spawn("beat", ["beat", "--loglevel", "INFO", "--schedule", str(self.folder / "beat.db")])

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """``kill -9`` the process and its pool children (its whole process group)."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            self.kill(process)
        if self._dispatcher is not None:
            self._dispatcher.close()

    # -- jobs ----------------------------------------------------------------------------------------
    def create_started_job(
        self,
        codes: int,
        *,
        seed: int = 0,
        dispatch: bool = True,
        marketplaces: Sequence[str] = ("FR",),
        code_list: Sequence[str] | None = None,
    ) -> str:
        """A job of ``codes`` valid sandbox codes (or ``code_list``) on ``marketplaces``, started; its chunks
        dispatched after the commit."""
        path = self.folder / f"codes-{seed}-{codes}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter=";")
            writer.writerow(["ean", "title"])
            for n, code in enumerate(code_list or generate_codes(codes, seed=seed)):
                writer.writerow([code, f"Product {n}"])
        table = open_table(path)
        job_id = create_job(
            self.db,
            table,
            NewJob(
                supplier_code="SUP",
                mode=JobMode.AMAZON,
                marketplace=marketplaces[0],
                provider_plan=PLAN,
                source_filename=path.name,
                marketplaces=marketplaces,
            ),
        )
        with self.db.unit_of_work() as session:
            transition(session, get_job(session, job_id), JobAction.START, actor="test")
        if dispatch:
            self.dispatcher.dispatch(job_id)
        return job_id

    def act(self, job_id: str, action: JobAction) -> float:
        """Apply ``action`` and commit; returns the wall-clock time of the commit."""
        with self.db.unit_of_work() as session:
            transition(session, get_job(session, job_id), action, actor="test")
        return time.time()

    def job(self, job_id: str) -> Job:
        with self.db.unit_of_work() as session:
            return get_job(session, job_id)

    def processed(self, job_id: str) -> int:
        with self.db.unit_of_work() as session:
            return int(
                session.scalar(
                    select(func.count()).where(JobItem.job_id == job_id, JobItem.status != ItemStatus.PENDING)
                )
                or 0
            )

    def running_leases(self, job_id: str) -> list[tuple[int, str]]:
        """(chunk_no, lease owner) of the chunks running now; owners read ``<worker>@test/<pid>/<run>``."""
        with self.db.unit_of_work() as session:
            return [
                (chunk_no, owner or "")
                for chunk_no, owner in session.execute(
                    select(JobChunk.chunk_no, JobChunk.lease_owner).where(
                        JobChunk.job_id == job_id, JobChunk.status == ChunkStatus.RUNNING
                    )
                ).all()
            ]

    def assert_every_row_exactly_once(self, job_id: str, rows: int) -> None:
        assert_every_row_exactly_once(self.db, job_id, rows)

    def wait_finished(self, job_id: str, timeout: float) -> Job:
        def finished() -> Job | None:
            job = self.job(job_id)
            return job if job.status in ("completed", "failed", "cancelled") else None

        return wait_for(finished, timeout, f"job {job_id} to finish", interval=0.25)


def worker_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CODE2ASIN_") or k.startswith("CODE2ASIN_TEST_")
    }
    env.update(settings_env)
    env["PYTHONWARNINGS"] = "ignore"  # worker logs stay readable; the test process keeps warnings as errors
    return env


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer("127.0.0.1", 0, quotas=None).start()
    try:
        yield server
    finally:
        server.stop()


def cluster_env(
    sandbox: SandboxServer, database_url: str, broker_url: str, data_dir: Path, **overrides: str
) -> dict[str, str]:
    env = {
        "CODE2ASIN_DATABASE_URL": database_url,
        "CODE2ASIN_BROKER_URL": broker_url,
        "CODE2ASIN_DATA_DIR": str(data_dir),
        "CODE2ASIN_PROVIDER": PLAN,
        "CODE2ASIN_MARKETPLACE": "FR",
        "CODE2ASIN_SPAPI_API_URL": sandbox.base_url,
        "CODE2ASIN_SPAPI_TOKEN_URL": sandbox.lwa_token_url,
        "CODE2ASIN_SPAPI_CLIENT_ID": sb.DEFAULT_LWA_CLIENT_ID,
        "CODE2ASIN_SPAPI_CLIENT_SECRET": sb.DEFAULT_LWA_CLIENT_SECRET,
        "CODE2ASIN_SPAPI_REFRESH_TOKEN": sb.DEFAULT_REFRESH_TOKEN,
        "CODE2ASIN_CREATORS_API_URL": sandbox.base_url,
        "CODE2ASIN_CREATORS_TOKEN_URL": sandbox.cognito_token_url,
        "CODE2ASIN_CREATORS_CREDENTIAL_ID": sb.DEFAULT_CREDENTIAL_ID,
        "CODE2ASIN_CREATORS_CREDENTIAL_SECRET": sb.DEFAULT_CREDENTIAL_SECRET,
        "CODE2ASIN_CREATORS_PARTNER_TAG": sb.DEFAULT_PARTNER_TAG,
        "CODE2ASIN_CREATORS_CREDENTIAL_VERSION": "2.2",
        # fast but paced: our limiter, shared through Redis, is what spaces the calls
        "CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND": "200",
        "CODE2ASIN_SPAPI_CATALOG_BURST": "2",
        "CODE2ASIN_SPAPI_PRICING_REQUESTS_PER_SECOND": "200",
        "CODE2ASIN_CREATORS_REQUESTS_PER_SECOND": "200",
        "CODE2ASIN_WORKER_LEASE_SECONDS": "4",
        "CODE2ASIN_WORKER_SWEEP_SECONDS": "1",
    }
    env.update(overrides)
    return env


@pytest.fixture
def make_cluster(
    postgres_url: str,
    redis_server: RedisServer,
    sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(**env_overrides)``: the database, Redis, sandbox and a process launcher."""
    made: list[Cluster] = []
    db = Database(postgres_url)
    db.upgrade()

    def make(**overrides: str) -> Cluster:
        data_dir = tmp_path / "data"
        data_dir.mkdir(exist_ok=True)
        env = cluster_env(sandbox, postgres_url, redis_server.url, data_dir, **overrides)
        for name, value in env.items():  # the dispatcher in this process uses the workers' lease
            if name.startswith("CODE2ASIN_WORKER_"):
                monkeypatch.setenv(name, value)
        settings = Settings(
            database_url=postgres_url,
            broker_url=redis_server.url,
            data_dir=data_dir,
        )
        cluster = Cluster(tmp_path, db, redis_server, sandbox, settings, worker_env(env))
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop()
        db.dispose()


def start_serve(env: dict[str, str], folder: Path, *options: str) -> tuple[subprocess.Popen[bytes], int]:
    """``code2asin serve`` on a free loopback port with ``env`` (log in ``folder/serve.log``); returns the
    process and its port once ``/code2asin/health`` answers. The caller stops the process."""
    port = free_port()
    with (folder / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "code2asin", "serve", "--port", str(port), *options],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as Cluster.kill expects
        )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/code2asin/health").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30, "code2asin serve to answer")
    return server, port


def slow_upload(port: int, body: bytes, boundary: str, token: str) -> socket.socket:
    """Open a POST /code2asin/import and send all but the last bytes of its body."""
    head = (
        f"POST /code2asin/import HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn.sendall(head + body[:-100])
    return conn


def multipart_import(boundary: str, codes: Sequence[str], options: dict[str, Any] | None = None) -> bytes:
    """The body of a ``POST /code2asin/import`` of ``codes`` (one CSV row each) with ``options``."""
    csv_text = "ean;title\n" + "".join(f"{code};Product {n}\n" for n, code in enumerate(codes))
    parts = [
        ("supplier_code", None, "SUP001"),
        ("use_amazon_api", None, "true"),
        ("options", None, json.dumps(options or {"provider": "sandbox"})),
        ("file", "codes.csv", csv_text),
    ]
    out = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n".encode()
    return out + f"--{boundary}--\r\n".encode()
