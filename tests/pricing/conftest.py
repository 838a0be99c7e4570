"""Price-tracking fixtures: a sandbox, a source job of known products, a controllable clock, a receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.sandbox_support import endpoints_for

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import run_job
from code2asin.jobs.models import JobMode
from code2asin.jobs.runner import ChunkRunner
from code2asin.providers.plan import build_plan
from code2asin.sandbox import catalogue, categories, sample_codes
from code2asin.sandbox import server as sb


@pytest.fixture(autouse=True)
def local_webhook_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' webhook receivers listen on loopback: allow it past the SSRF guard."""
    monkeypatch.setenv("CODE2ASIN_WEBHOOK_HOSTS", '["127.0.0.1"]')


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(port=0, quotas=None) as server:
        yield server


def priced_products(count: int) -> list[tuple[str, str, float]]:
    """(EAN, ASIN, base EUR price) of single-ASIN sandbox products priced 10 EUR or more."""
    found: list[tuple[str, str, float]] = []
    for code in sample_codes.generate_codes(5000, seed=7):
        if categories.code_category(code) not in {"single", "upc_spelling"}:
            continue
        items = catalogue.products_for_gtin(code)
        if len(items) == 1 and items[0].base_price_eur and items[0].base_price_eur >= 10:
            found.append((code, items[0].asin, items[0].base_price_eur))
        if len(found) == count:
            return found
    raise AssertionError("not enough priced sandbox products")


def direct_job(
    db: Database, tmp_path: Path, rows: list[tuple[str, str, str]], supplier: str = "SUP001"
) -> str:
    """A completed direct-mode job of (EAN, ASIN, supplier price) rows."""
    path = tmp_path / "catalogue.csv"
    path.write_text("EAN;ASIN;Prix\n" + "".join(f"{e};{a};{p}\n" for e, a, p in rows), "utf-8")
    job_id = creation.create_job(
        db, open_table(path), creation.NewJob(supplier, JobMode.DIRECT, "FR", "direct", path.name)
    )
    with db.unit_of_work() as session:
        service.start_job(session, job_id, "test")
    return job_id


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class SyncDispatcher:
    """Runs a job's chunks at once on this thread, with the simulated clock (the test's worker)."""

    db: Database
    sandbox: sb.SandboxServer
    clock: Clock
    dispatched: list[str] = field(default_factory=list)

    def dispatch(self, job_id: str) -> None:
        self.dispatched.append(job_id)
        plan = build_plan(Settings(), "spapi+creators", "FR", endpoints=endpoints_for(self.sandbox))
        try:
            cache = LookupCacheStore(self.db, 3600, 3600)
            runner = ChunkRunner(self.db, plan, cache, sleep=lambda _s: None, clock=self.clock)
            run_job(self.db, runner, job_id, workers=2)
        finally:
            plan.close()


def set_sandbox(sandbox: sb.SandboxServer, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{sandbox.base_url}/_sandbox/prices", json=body, timeout=5)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    answered: int


class Receiver:
    """A local webhook receiver; answers 500 to the next ``fail_next`` requests."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = 500 if receiver.fail_next > 0 else 204
                    receiver.fail_next -= status == 500
                    receiver.requests.append(Received(body, dict(self.headers.items()), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/code2asin"

    def delivered(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests if r.answered == 204]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


MONDAY = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
ONE = Decimal("1.00")
