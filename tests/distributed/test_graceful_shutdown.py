"""SIGTERM to a worker hands its chunks back at once; SIGTERM to ``code2asin serve`` drains and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from code2asin.jobs.models import ChunkStatus, ConversionLog, JobChunk

from .conftest import Cluster, multipart_import, slow_upload, start_serve, wait_for

CODES = 600
LEASE_SECONDS = 120


def test_sigterm_to_a_worker_hands_its_chunks_to_another_worker_before_the_lease_could_expire(
    make_cluster: Callable[..., Cluster],
) -> None:
    # slow chunks (the shared catalog quota), a long lease: only a hand-back explains a quick takeover
    cluster = make_cluster(
        CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND="2",
        CODE2ASIN_WORKER_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    w1 = cluster.start_worker("w1")
    w2 = cluster.start_worker("w2")
    cluster.start_beat()
    wait_for(
        lambda: _healthcheck(cluster.env, "worker", "--name", "w1@test", "--timeout", "1").returncode == 0,
        60,
        "`code2asin healthcheck worker` to find w1 up",
    )
    job_id = cluster.create_started_job(CODES, seed=3)

    held = wait_for(
        lambda: [n for n, owner in cluster.running_leases(job_id) if owner.startswith("w1@test/")],
        60,
        "a chunk leased by w1",
    )
    w1.send_signal(signal.SIGTERM)  # the main process only, as `docker stop` does
    signalled = time.monotonic()
    assert w1.wait(timeout=60) == 0
    exited = time.monotonic() - signalled

    def taken_over() -> bool:
        with cluster.db.unit_of_work() as session:
            owners = session.execute(
                select(JobChunk.status, JobChunk.lease_owner).where(
                    JobChunk.job_id == job_id, JobChunk.chunk_no.in_(held)
                )
            ).all()
        return all(
            status == ChunkStatus.DONE or (owner or "").startswith("w2@test/") for status, owner in owners
        )

    wait_for(taken_over, LEASE_SECONDS / 2, "w2 to take w1's chunks over")
    takeover = time.monotonic() - signalled
    gone = _healthcheck(cluster.env, "worker", "--name", "w1@test", "--timeout", "1")
    assert gone.returncode == 1 and gone.stderr.startswith("Unhealthy: worker w1@test did not answer"), gone
    assert _healthcheck(cluster.env, "worker", "--name", "w2@test").returncode == 0
    assert _healthcheck(cluster.env, "beat").returncode == 0
    cluster.wait_finished(job_id, 300)
    assert w2.poll() is None

    cluster.assert_every_row_exactly_once(job_id, CODES)
    with cluster.db.unit_of_work() as session:
        chunk_rows = dict(
            session.execute(
                select(JobChunk.chunk_no, JobChunk.attempts).where(
                    JobChunk.job_id == job_id, JobChunk.chunk_no.in_(held)
                )
            ).all()
        )
        writers = set(
            session.scalars(
                select(ConversionLog.actor).where(
                    ConversionLog.job_id == job_id, ConversionLog.row_no.in_(_rows_of(held))
                )
            )
        )
    # w1 wrote none of the rows it held: it stopped, handed them back, and w2 did them
    assert writers and all(w.startswith("w2@test/") for w in writers), writers
    assert all(attempts >= 2 for attempts in chunk_rows.values()), chunk_rows
    print(f"w1 exited {exited:.1f} s after SIGTERM; its chunks {held} taken over after {takeover:.1f} s")


def _healthcheck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "code2asin", "healthcheck", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _rows_of(chunks: list[int]) -> list[int]:
    return [n * 100 + r for n in chunks for r in range(1, 101)]


def test_sigterm_to_serve_finishes_the_request_in_flight_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODE2ASIN_")}
    env["CODE2ASIN_DATA_DIR"] = str(tmp_path / "data")
    code2asin = [sys.executable, "-m", "code2asin"]
    token = subprocess.run(
        [*code2asin, "token", "create", "--permissions", "WRITE_CODE2ASIN,READ_CODE2ASIN"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    server, port = start_serve(env, tmp_path, "--graceful-timeout", "30")
    try:
        health_url = f"--url=http://127.0.0.1:{port}/code2asin/health"
        assert _healthcheck(env, "api", health_url).returncode == 0
        boundary = "code2asin-test-boundary"
        body = multipart_import(boundary, ["4006381333931"] * 2000)
        conn = slow_upload(port, body, boundary, token)
        time.sleep(0.5)  # the request is being read
        server.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the server is draining: new connections are refused, this one goes on
        assert server.poll() is None
        conn.sendall(body[-100:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        conn.close()
        status_line = answer.split(b"\r\n", 1)[0].decode()
        assert status_line.split()[1] == "201", answer[:500]
        assert server.wait(timeout=30) == 0
        down = _healthcheck(env, "api", health_url)
        assert down.returncode == 1 and down.stderr.startswith("Unhealthy: the API does not answer"), down
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
