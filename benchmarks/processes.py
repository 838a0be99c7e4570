"""The processes a benchmark starts: a private ``redis-server``, Celery workers and beat, each in its own
process group with its log in the run's folder, stopped as a group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CELERY = [sys.executable, "-m", "code2asin.jobs.celery_app"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes], grace: float = 0.0) -> None:
    """Stop ``process`` and its children: SIGTERM with ``grace`` seconds to exit, then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        if grace > 0:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                pass
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def spawn(
    folder: Path, name: str, args: list[str], env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``args`` in a process group of its own, output in ``folder/NAME.log``."""
    with (folder / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            args, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def redis_server(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """A throw-away ``redis-server`` on loopback (nothing saved)."""
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return spawn(folder, "redis", args)


@contextmanager
def celery_workers(
    folder: Path, env: dict[str, str], app: Any, workers: int, concurrency: int, timeout: float = 120.0
) -> Iterator[None]:
    """``workers`` Celery workers (prefork, ``concurrency`` processes each, the chunk queue) and beat,
    with ``env``; yields once every worker answers ``app``'s ping, stops them all on the way out."""
    processes = [
        spawn(
            folder,
            f"worker{n}",
            [
                *CELERY,
                "worker",
                "-n",
                f"bench{n}@%h",
                "-c",
                str(concurrency),
                "-Q",
                "code2asin",
                "--loglevel",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
                "--pool",
                "prefork",
            ],
            env,
        )
        for n in range(workers)
    ]
    try:
        beat = [*CELERY, "beat", "--loglevel", "WARNING", "--schedule", str(folder / "beat.db")]
        processes.append(spawn(folder, "beat", beat, env))
        deadline = time.monotonic() + timeout
        while len(app.control.ping(timeout=1.0) or []) < workers:
            if any(p.poll() is not None for p in processes):
                raise SystemExit(f"a Celery process exited; see the logs in {folder}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the Celery workers did not answer within {timeout:.0f} s")
        yield
    finally:
        for process in reversed(processes):
            stop(process)
