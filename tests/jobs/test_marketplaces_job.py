"""A job on FR, DE and IT over real HTTP against the sandbox (SQLite and PostgreSQL): one result per row
and marketplace, with each marketplace's own ASIN, price and currency, and every row accounted for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.sandbox_support import endpoints_for

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.convert import export_job
from code2asin.jobs.embedded import PoolOutcome, run_job
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import ConversionLog, JobChunk, JobItem, JobMode
from code2asin.jobs.runner import ChunkRunner
from code2asin.jobs.stats_snapshot import job_availability
from code2asin.providers.plan import build_plan
from code2asin.providers.ratelimit import InProcessLimiter
from code2asin.providers.stages import Plan
from code2asin.sandbox import catalogue, sample_codes
from code2asin.sandbox import server as sb

MARKETPLACES = ("FR", "DE", "IT")
INVALID = ["3017620422004", "ABC"]


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(port=0, quotas=None) as server:
        yield server


def _plans(server: sb.SandboxServer, plan: str) -> dict[str, Plan]:
    limiter = InProcessLimiter()
    return {
        m: build_plan(Settings(), plan, m, endpoints=endpoints_for(server, m), limiter=limiter)
        for m in MARKETPLACES
    }


def _run(db: Database, path: Path, plans: dict[str, Plan], plan_name: str) -> str:
    job_id = creation.create_job(
        db,
        open_table(path),
        creation.NewJob("SUP001", JobMode.AMAZON, "FR", plan_name, path.name, marketplaces=list(plans)),
    )
    with db.unit_of_work() as session:
        service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
    runner = ChunkRunner(
        db,
        plans["FR"],
        LookupCacheStore(db, 3600, 3600),
        sleep=lambda _s: None,
        plan_for=plans.__getitem__,
    )
    assert run_job(db, runner, job_id) is PoolOutcome.FINISHED
    return job_id


@pytest.mark.parametrize("plan_name", ["spapi+creators+keepa", "creators"])
def test_fr_de_it_give_each_row_its_own_asin_and_price_on_each_marketplace(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path, plan_name: str
) -> None:
    codes = sample_codes.multi_marketplace_codes(12, MARKETPLACES, not_sold=4)
    assert any(c.kind(m) == "local_asin" for c in codes for m in MARKETPLACES)
    assert any(not c.sold_everywhere for c in codes)
    path = tmp_path / "in.csv"
    lines = [c.code for c in codes] + INVALID + [codes[0].code]  # a duplicate too
    path.write_text("EAN\n" + "\n".join(lines) + "\n", "utf-8")
    plans = _plans(sandbox, plan_name)
    try:
        job_id = _run(any_db, path, plans, plan_name)
    finally:
        for plan in plans.values():
            plan.close()

    with any_db.unit_of_work() as session:
        items = list(session.scalars(select(JobItem).where(JobItem.job_id == job_id)))
        job = service.get_job(session, job_id)
        assert job.status == "completed" and job.marketplace_list == list(MARKETPLACES)
        assert job.total_codes == job.processed_codes == len(lines) * 3
        availability = job_availability(session, job)
        chunks = {c.chunk_no: c.marketplace for c in session.scalars(select(JobChunk).where(
            JobChunk.job_id == job_id))}  # fmt: skip
        logged = {log.marketplace for log in session.scalars(select(ConversionLog).where(
            ConversionLog.job_id == job_id))}  # fmt: skip
    assert chunks == {0: "FR", 1: "DE", 2: "IT"}
    assert logged == set(MARKETPLACES)
    by_key = {(i.row_no, i.marketplace): i for i in items}
    assert len(by_key) == len(items) == len(lines) * 3  # exactly one result per row and marketplace

    for row_no, code in enumerate([c.code for c in codes] + INVALID + [codes[0].code], start=1):
        for market in MARKETPLACES:
            item = by_key[(row_no, market)]
            if code in INVALID:
                assert item.status == "invalid" and item.error_message
                continue
            expected = catalogue.marketplace_asin(code, market)
            if expected is None:
                assert item.status == "not_found" and item.asin is None and item.error_message, (code, market)
            else:
                assert (item.status, item.asin) == ("matched", expected), (code, market, item.error_message)
                assert item.amazon_price is not None and item.amazon_currency == "EUR"
                assert item.detail_page_url and f"amazon.{market.lower()}/" in item.detail_page_url
                assert item.field_sources and item.field_sources["asin"] == plan_name.split("+", 1)[0]

    # a local listing really differs from the French one, and each store prices on its own
    local = [c for c in codes if any(c.kind(m) == "local_asin" for m in MARKETPLACES)]
    assert local and any(
        by_key[(1 + codes.index(c), "FR")].asin != by_key[(1 + codes.index(c), m)].asin
        for c in local for m in ("DE", "IT") if c.kind(m) == "local_asin"
    )  # fmt: skip
    sold = [n for n, c in enumerate(codes, start=1) if c.sold_everywhere]
    assert any(len({by_key[(n, m)].amazon_price for m in MARKETPLACES}) > 1 for n in sold)

    assert availability is not None and availability["rows"] == len(lines)
    everywhere = sum(1 for c in codes if c.sold_everywhere) + 1  # the duplicate row
    assert availability["on_every_marketplace"] == everywhere
    assert availability["on_no_marketplace"] == len(INVALID)

    out = export_job(any_db, job_id, tmp_path / "out.xlsx")
    assert out.rows == len(lines) and list(out.by_marketplace) == list(MARKETPLACES)


def test_sp_api_pacing_is_shared_by_the_marketplaces_of_one_region(sandbox: sb.SandboxServer) -> None:
    plans = _plans(sandbox, "spapi")
    try:
        keys = {m: str(getattr(plans[m].identify, "catalog_key", "")) for m in MARKETPLACES}
    finally:
        for plan in plans.values():
            plan.close()
    assert len(set(keys.values())) == 1 and ":eu:" in keys["FR"]


def _creators_plans(server: sb.SandboxServer, stores: dict[str, object]) -> dict[str, Plan]:
    from code2asin.config import CreatorsSettings

    limiter = InProcessLimiter()
    plans = {}
    for market in ("FR", "DE"):
        endpoints = endpoints_for(server, market)
        endpoints.creators_stores = CreatorsSettings.model_validate({"stores": stores}).stores
        plans[market] = build_plan(Settings(), "creators", market, endpoints=endpoints, limiter=limiter)
    return plans


def test_each_marketplace_uses_its_own_associates_store_tag(any_db: Database, tmp_path: Path) -> None:
    codes = sample_codes.multi_marketplace_codes(3, ("FR", "DE"))
    path = tmp_path / "in.csv"
    path.write_text("EAN\n" + "\n".join(c.code for c in codes) + "\n", "utf-8")
    # real Amazon: a store's tracking ID is refused on another marketplace (InvalidPartnerTag)
    with sb.SandboxServer(port=0, quotas=None, store_tags={"DE": "code2asin-de-21"}) as server:
        plans = _creators_plans(server, {})
        try:
            job_id = creation.create_job(
                any_db,
                open_table(path),
                creation.NewJob(
                    "SUP001", JobMode.AMAZON, "FR", "creators", path.name, marketplaces=["FR", "DE"]
                ),
            )
            with any_db.unit_of_work() as session:
                service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
            runner = ChunkRunner(any_db, plans["FR"], None, sleep=lambda _s: None, plan_for=plans.__getitem__)
            run_job(any_db, runner, job_id)
        finally:
            for plan in plans.values():
                plan.close()
        with any_db.unit_of_work() as session:
            failed = service.get_job(session, job_id)
            assert failed.status == "failed"
            assert "www.amazon.de" in (failed.error_message or "")
            assert "CODE2ASIN_CREATORS_STORES" in (failed.error_message or "")

        plans = _creators_plans(server, {"de": {"partner_tag": "code2asin-de-21"}})
        try:
            job_id = _run(any_db, path, plans, "creators")
        finally:
            for plan in plans.values():
                plan.close()
    with any_db.unit_of_work() as session:
        items = list(session.scalars(select(JobItem).where(JobItem.job_id == job_id)))
    links = {(i.marketplace, i.detail_page_url) for i in items if i.status == "matched"}
    assert {m for m, _ in links} == {"FR", "DE"} and len(links) == 2 * len(codes)
    for market, url in links:
        assert ("tag=code2asin-de-21" if market == "DE" else "tag=code2asin-21") in (url or "")
