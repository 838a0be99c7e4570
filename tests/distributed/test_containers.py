"""The image, built and run for real: migration, API, two workers and beat as podman containers.

The containers share the host's network (``--network host``): they reach this test's PostgreSQL
database, its private Redis and the sandbox on loopback, as compose's services reach theirs by name.
Each container keeps its own ``/data`` (the API builds the workbook from the database). A job of a few
hundred sandbox codes goes in through the API; one worker is stopped with SIGTERM while it holds a chunk
and the other finishes it; the API is stopped with SIGTERM in the middle of an upload and answers it.
``scripts/container-prerequisites`` (run by ``make test``) installs podman and builds the base image.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from code2asin.db import Database
from code2asin.jobs.models import ChunkStatus, ConversionLog, JobChunk
from code2asin.sandbox.sample_codes import generate_codes
from code2asin.sandbox.server import SandboxServer

from .conftest import (
    RedisServer,
    assert_every_row_exactly_once,
    cluster_env,
    free_port,
    multipart_import,
    slow_upload,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_DIR = Path(os.environ.get("CODE2ASIN_CONTAINERS_DIR", "/var/tmp/code2asin-containers"))
BASE_IMAGE = "localhost/debian:bookworm-slim"
IMAGE = "localhost/code2asin:test"
CODES = 400
LEASE_SECONDS = 300  # takeover well before it proves a hand-back


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_DIR / "containers.conf")}


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``podman --runtime /usr/sbin/runc ARGS`` (crun cannot run here: ../docs on containers)."""
    result = subprocess.run(
        ["podman", "--runtime", "/usr/sbin/runc", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result


@pytest.fixture(scope="module")
def image() -> str:
    """The Containerfile built on the local Debian base (layers cached between runs)."""
    if shutil.which("podman") is None or not (CONTAINERS_DIR / "containers.conf").exists():
        pytest.fail("podman is not set up: run scripts/container-prerequisites (make test does).")
    assert podman("image", "exists", BASE_IMAGE, check=False).returncode == 0, (
        f"{BASE_IMAGE} is missing: run scripts/container-prerequisites."
    )
    podman(
        "build",
        "--format",
        "docker",
        "--network",
        "host",
        "-v",
        f"{CONTAINERS_DIR / 'pip.conf'}:/etc/pip.conf:ro",
        "-v",
        "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/host-ca.crt:ro",
        "--build-arg",
        f"BASE={BASE_IMAGE}",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=1200,
    )
    return IMAGE


class Containers:
    """The containers of one test, each named ``c2a-<run>-<role>`` and removed at the end."""

    def __init__(self, image: str, env_file: Path) -> None:
        self.image = image
        self.env_file = env_file
        self.run_id = uuid.uuid4().hex[:8]
        self.names: list[str] = []

    def name(self, role: str) -> str:
        return f"c2a-{self.run_id}-{role}"

    def _options(self, role: str) -> list[str]:
        return ["--name", self.name(role), "--network", "host", "--env-file", str(self.env_file)]

    def once(self, role: str, *args: str) -> str:
        """Run a one-shot container (``db upgrade``, ``token create``) and return what it printed."""
        self.names.append(self.name(role))
        result = podman("run", "--rm", *self._options(role), self.image, *args, timeout=300)
        return result.stdout

    def start(self, role: str, *args: str, options: tuple[str, ...] = ()) -> str:
        self.names.append(self.name(role))
        podman("run", "--detach", *self._options(role), *options, self.image, *args)
        return self.name(role)

    def healthy(self, role: str) -> bool:
        return podman("healthcheck", "run", self.name(role), check=False).returncode == 0

    def logs(self, role: str) -> str:
        result = podman("logs", self.name(role), check=False)
        return (result.stdout + result.stderr)[-4000:]

    def stop_with_sigterm(self, role: str) -> tuple[int, float]:
        """SIGTERM to the container's main process (as ``docker stop``); its exit code and the wait."""
        sent = time.monotonic()
        podman("kill", "--signal", "TERM", self.name(role))
        code = int(podman("wait", self.name(role), timeout=120).stdout.strip().splitlines()[-1])
        return code, time.monotonic() - sent

    def remove_all(self) -> None:
        for name in self.names:
            podman("rm", "--force", "--volumes", "--time", "0", name, check=False)


@pytest.fixture
def containers(
    image: str, postgres_url: str, redis_server: RedisServer, sandbox: SandboxServer, tmp_path: Path
) -> Iterator[Containers]:
    env = cluster_env(
        sandbox,
        postgres_url,
        redis_server.url,
        Path("/data"),
        # slow chunks (one catalog call a second, shared through Redis) and a long lease: a chunk is
        # held long enough to be caught, and only a hand-back explains a quick takeover
        CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND="1",
        CODE2ASIN_SPAPI_CATALOG_BURST="1",
        CODE2ASIN_WORKER_LEASE_SECONDS=str(LEASE_SECONDS),
        CODE2ASIN_LOG_FORMAT="json",
    )
    env_file = tmp_path / "container.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    made = Containers(image, env_file)
    try:
        yield made
    finally:
        made.remove_all()


def test_a_job_runs_through_the_containers_and_sigterm_loses_nothing(
    containers: Containers, postgres_url: str
) -> None:
    started = time.monotonic()
    port, token = _start_the_service(containers)
    up = time.monotonic() - started
    codes = list(generate_codes(CODES, seed=11))
    db = Database(postgres_url)
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
    ) as api:
        try:
            job_id = _import_and_start(api, codes)
            job_started = time.monotonic()
            held = wait_for(lambda: _leased_by(db, job_id, "celery@c2a-w1"), 60, "a chunk leased by w1")
            signalled = time.monotonic()
            code, exited = containers.stop_with_sigterm("w1")
            assert code == 0, containers.logs("w1")
            wait_for(lambda: _taken_over(db, job_id, held, "celery@c2a-w2"), LEASE_SECONDS / 2, "a takeover")
            takeover = time.monotonic() - signalled

            def finished() -> str | None:
                status = str(api.get(f"/code2asin/jobs/{job_id}").json()["status"])
                return status if status in ("completed", "failed", "cancelled") else None

            status = wait_for(finished, 300, "the job to finish", interval=0.5)
            assert status == "completed", containers.logs("w2")
            duration = time.monotonic() - job_started
            assert_every_row_exactly_once(db, job_id, CODES)
            # w1 wrote none of the rows it held: it stopped, handed them back, and w2 did them
            with db.unit_of_work() as session:
                writers = set(
                    session.scalars(
                        select(ConversionLog.actor).where(
                            ConversionLog.job_id == job_id, ConversionLog.row_no.in_(_rows_of(held))
                        )
                    )
                )
            assert writers and all(w.startswith("celery@c2a-w2/") for w in writers), writers
        finally:
            db.dispose()

        download = api.get(f"/code2asin/jobs/{job_id}/download")
    assert download.status_code == 200
    assert download.headers["content-disposition"].endswith('codes.results.xlsx"')
    rows = CalamineWorkbook.from_filelike(io.BytesIO(download.content)).get_sheet_by_index(0).to_python()
    header, body = rows[0], rows[1:]
    assert len(body) == CODES
    assert [str(r[header.index("input_code")]) for r in body] == codes
    assert [int(r[header.index("row")]) for r in body] == list(range(1, CODES + 1))

    # SIGTERM to the API in the middle of an upload: it answers it, then exits 0
    boundary = "code2asin-container-boundary"
    upload = multipart_import(boundary, codes[:50], {"provider": "spapi+creators"})
    conn = slow_upload(port, upload, boundary, token)
    with conn:
        time.sleep(0.5)  # the request is being read
        podman("kill", "--signal", "TERM", containers.name("api"))
        time.sleep(1.0)  # draining: this connection goes on
        conn.sendall(upload[-100:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.split(b"\r\n", 1)[0].split()[1] == b"201", answer[:500]
    assert podman("wait", containers.name("api")).stdout.strip() == "0", containers.logs("api")
    print(
        f"containers healthy {up:.1f} s after the migration started; {CODES} codes in {duration:.1f} s;"
        f" w1 exited {exited:.1f} s after SIGTERM; its chunks {held} were taken over {takeover:.1f} s later"
    )


def _start_the_service(containers: Containers) -> tuple[int, str]:
    """Migration, a token, the API, two workers and beat, each healthy; the API's port and the token."""
    containers.once("migrate", "db", "upgrade")
    token = containers.once("token", "token", "create", "--permissions", "ADMIN_CODE2ASIN").strip()
    port = free_port()
    containers.start(
        "api",
        *("serve", "--host", "127.0.0.1", "--port", str(port), "--graceful-timeout", "30"),
        # the image's own check (compose's too), with this test's port instead of 8000
        options=_health_cmd("api", "--url", f"http://127.0.0.1:{port}/code2asin/health"),
    )
    for worker in ("w1", "w2"):
        containers.start(
            worker,
            *("worker", "--concurrency", "2"),
            options=("--hostname", f"c2a-{worker}", *_health_cmd("worker")),
        )
    containers.start("beat", "beat", options=_health_cmd("beat"))
    for role in ("api", "w1", "w2", "beat"):
        wait_for(lambda role=role: containers.healthy(role), 90, f"the {role} container to be healthy")
    return port, token


def _import_and_start(api: httpx.Client, codes: list[str]) -> str:
    csv_text = "ean;title\n" + "".join(f"{code};Product {n}\n" for n, code in enumerate(codes))
    created = api.post(
        "/code2asin/import",
        data={
            "supplier_code": "SUP001",
            "use_amazon_api": "true",
            "options": '{"provider": "spapi+creators"}',
        },
        files={"file": ("codes.csv", csv_text.encode(), "text/csv")},
    )
    assert created.status_code == 201, created.text
    job_id = str(created.json()["job_id"])
    assert api.post(f"/code2asin/jobs/{job_id}/start").status_code == 200
    return job_id


def _health_cmd(service: str, *extra: str) -> tuple[str, str]:
    """compose.yaml's health check of ``service`` (the image's own is the API's)."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    test = compose["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return ("--health-cmd", json.dumps([*test[1:], *extra]))


def _leased_by(db: Database, job_id: str, worker: str) -> list[int]:
    with db.unit_of_work() as session:
        return [
            chunk_no
            for chunk_no, owner in session.execute(
                select(JobChunk.chunk_no, JobChunk.lease_owner).where(
                    JobChunk.job_id == job_id, JobChunk.status == ChunkStatus.RUNNING
                )
            ).all()
            if (owner or "").startswith(f"{worker}/")
        ]


def _taken_over(db: Database, job_id: str, chunks: list[int], worker: str) -> bool:
    with db.unit_of_work() as session:
        owners = session.execute(
            select(JobChunk.status, JobChunk.lease_owner).where(
                JobChunk.job_id == job_id, JobChunk.chunk_no.in_(chunks)
            )
        ).all()
    return all(
        status == ChunkStatus.DONE or (owner or "").startswith(f"{worker}/") for status, owner in owners
    )


def _rows_of(chunks: list[int]) -> list[int]:
    return [n * 100 + r for n in chunks for r in range(1, 101)]
