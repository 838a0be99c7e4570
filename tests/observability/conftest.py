"""Observability fixtures: a sandbox, a provider plan pointed at it, and an Amazon-mode job to run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.sandbox_support import endpoints_for

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import JobMode
from code2asin.jobs.runner import ChunkRunner
from code2asin.providers.plan import build_plan
from code2asin.providers.stages import Plan
from code2asin.sandbox import sample_codes
from code2asin.sandbox import server as sb


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(port=0, quotas=None) as server:
        yield server


@pytest.fixture
def plan(sandbox: sb.SandboxServer) -> Iterator[Plan]:
    built = build_plan(Settings(), "spapi+creators", "FR", endpoints=endpoints_for(sandbox))
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def codes() -> list[str]:
    """A few codes of every kind the sandbox catalogue has (found, not found, books, packs...)."""
    return [code for codes in sample_codes.example_codes().values() for code in codes[:3]]


@pytest.fixture
def started_job(tmp_path: Path) -> Callable[[Database, list[str]], str]:
    """Create an Amazon-mode job from ``codes`` (plus one invalid code) and start it; returns its id."""

    def make(db: Database, codes: list[str]) -> str:
        path = tmp_path / "in.csv"
        lines = "".join(f"{c};Produit {n}\n" for n, c in enumerate([*codes, "ABC"]))
        path.write_text("EAN;Désignation\n" + lines, "utf-8")
        job_id = creation.create_job(
            db, open_table(path), creation.NewJob("SUP001", JobMode.AMAZON, "FR", "spapi+creators", path.name)
        )
        with db.unit_of_work() as session:
            service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
        return job_id

    return make


@pytest.fixture
def make_runner(plan: Plan) -> Callable[[Database], ChunkRunner]:
    """A chunk runner over the sandbox plan that never sleeps between quick retries."""

    def make(db: Database) -> ChunkRunner:
        cache = LookupCacheStore(db, 3600, 3600)
        return ChunkRunner(db, plan, cache, sleep=lambda _s: None, worker_id="w-test")

    return make


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    """``configure_logging`` changes the root logger: put it back as it was after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
