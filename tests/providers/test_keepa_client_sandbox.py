"""The Keepa client against the sandbox over real HTTP: batching, mapping, token pacing, errors, plans."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.sandbox_support import endpoints_for

from code2asin import barcodes
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import PoolOutcome, run_job
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import JobItem, JobMode
from code2asin.jobs.runner import ChunkRunner
from code2asin.providers.base import LookupCode
from code2asin.providers.keepa import KeepaClient
from code2asin.providers.plan import Endpoints, build_plan
from code2asin.providers.spapi import SpapiPricing
from code2asin.providers.stages import parse_plan
from code2asin.sandbox import catalogue, sample_codes
from code2asin.sandbox import server as sb

_open: list[httpx.Client] = []


@pytest.fixture(scope="module")
def examples() -> dict[str, list[str]]:
    return sample_codes.example_codes()


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(quotas=None) as server:
        yield server
    while _open:
        _open.pop().close()


def keepa_client(server: sb.SandboxServer, key: str = sb.DEFAULT_KEEPA_KEY, **kwargs: Any) -> KeepaClient:
    http = httpx.Client(timeout=httpx.Timeout(5.0))
    _open.append(http)
    return KeepaClient(
        http=http,
        api_key=key,
        marketplace="FR",
        api_url=server.base_url,
        image_base_url=f"{server.base_url}/images/I/",
        **kwargs,
    )


def lookup(code: str) -> LookupCode:
    parsed = barcodes.parse_code(code)
    assert parsed.gtin is not None and parsed.code_type is not None
    return LookupCode(parsed.gtin, parsed.code or code, str(parsed.code_type))


def many_codes(n: int) -> list[LookupCode]:
    seen: dict[str, LookupCode] = {}
    for code in sample_codes.generate_codes(4 * n, seed=8):
        found = lookup(code)
        seen.setdefault(found.gtin, found)
        if len(seen) == n:
            break
    return list(seen.values())


def product_calls(server: sb.SandboxServer) -> list[sb.LoggedRequest]:
    return [e for e in server.request_log if e.operation == "keepaProduct"]


def test_codes_go_100_per_call_and_every_candidate_proves_its_own_code(sandbox: sb.SandboxServer) -> None:
    codes = many_codes(250)
    out = keepa_client(sandbox).identify(codes)
    calls = product_calls(sandbox)
    assert [len(e.codes) for e in calls] == [100, 100, 50] and len(calls) == math.ceil(len(codes) / 100)
    assert set(out) == {c.gtin for c in codes}
    known = 0
    for code in codes:
        outcome = out[code.gtin]
        assert outcome.error is None
        expected = {i.asin for i in catalogue.products_for_gtin(code.gtin)}
        assert {c.asin for c in outcome.candidates} == expected, code
        for candidate in outcome.candidates:
            ids = {v.zfill(14) for values in candidate.identifiers.values() for v in values}
            assert code.gtin in ids
        known += bool(expected)
    assert known > 150


def test_results_carry_ratings_reviews_prices_and_sandbox_images(
    sandbox: sb.SandboxServer, examples: dict[str, list[str]]
) -> None:
    codes = [lookup(c) for c in examples["single"] + examples["book"]]
    out = keepa_client(sandbox).identify(codes)
    candidates = [c for o in out.values() for c in o.candidates]
    assert candidates
    for candidate in candidates:
        item = catalogue.sandbox_item(candidate.asin)
        assert item is not None
        rating = catalogue.rating_for(candidate.asin)
        assert (candidate.rating, candidate.review_count) == (rating if rating else (None, None))
        assert candidate.title == item.title and candidate.brand == item.brand
        assert candidate.currency == "EUR" and candidate.price is not None
        assert all(url.startswith(f"{sandbox.base_url}/images/I/") for url in candidate.images)
    assert any(c.rating is not None and c.review_count for c in candidates)
    image = candidates[0].images[0]
    assert httpx.get(image).headers["content-type"] == "image/jpeg"


def test_isbn10_is_sent_as_its_isbn13(sandbox: sb.SandboxServer, examples: dict[str, list[str]]) -> None:
    book = catalogue.products_for_gtin(examples["book"][0])[0]
    code = lookup(book.asin)  # print books use their ISBN-10 as ASIN
    assert code.code_type == "ISBN10"
    out = keepa_client(sandbox).identify([code])
    assert [c.asin for c in out[code.gtin].candidates] == [book.asin]
    assert product_calls(sandbox)[0].codes == (code.gtin[-13:],)


def test_enrich_by_asin_100_per_call(sandbox: sb.SandboxServer) -> None:
    asins = sorted({i.asin for c in many_codes(220) for i in catalogue.products_for_gtin(c.gtin)})[:150]
    assert len(asins) == 150
    out = keepa_client(sandbox).enrich([*asins, "B0ZZZZZZZZ"])
    assert [len(e.asins) for e in product_calls(sandbox)] == [100, 51]
    assert all(not isinstance(out[a], ProviderError) for a in asins)
    missing = out["B0ZZZZZZZZ"]
    assert isinstance(missing, ProviderError) and missing.error_type is ErrorType.INVALID_DATA


def test_a_small_bucket_makes_the_client_wait_for_the_refill_instead_of_earning_429() -> None:
    interval = 0.2
    quotas = SandboxQuotas(keepa_tokens=60, keepa_refill_rate=30, keepa_refill_interval_s=interval)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    with sb.SandboxServer(quotas=quotas) as server:
        client = keepa_client(server, sleep=sleep)
        codes = many_codes(300)
        out = client.identify(codes)
        log = [e for e in server.request_log if e.operation in ("keepaProduct", "keepaToken")]
    assert all(o.error is None for o in out.values())
    assert [e.status for e in log if e.status != 200] == []  # no 429: the client waited
    assert len([e for e in log if e.operation == "keepaProduct"]) == 3
    assert sleeps and all(0 < s <= interval + 0.06 for s in sleeps)  # each wait is one refill away
    assert sum(sleeps) >= 4 * interval  # the balance went negative after the first call: several refills


def test_429_is_a_rate_limit_with_keepas_refill_delay(sandbox: sb.SandboxServer) -> None:
    client = keepa_client(sandbox)
    sandbox.inject_faults("keepaProduct", "429")
    error = client.enrich(["B000000001"])["B000000001"]
    assert isinstance(error, ProviderError) and error.error_type is ErrorType.API_RATE_LIMIT
    assert error.retry_after == 60.0


def test_an_expired_subscription_stops_with_one_sentence(sandbox: sb.SandboxServer) -> None:
    client = keepa_client(sandbox, key=sb.EXPIRED_KEEPA_KEY)
    with pytest.raises(
        ConfigurationError, match=r"^Keepa refused the API key: .*\(CODE2ASIN_KEEPA_API_KEY\)\.$"
    ):
        client.identify([lookup("4006381333931")])
    with pytest.raises(ConfigurationError, match="CODE2ASIN_KEEPA_API_KEY"):
        keepa_client(sandbox, key="not-a-key").enrich(["B000000001"])


# --- plans ----------------------------------------------------------------------------------------------

SandboxQuotas = sb.SandboxQuotas


def test_plan_stages_with_keepa() -> None:
    assert parse_plan("sandbox") == ["spapi", "creators", "keepa"]
    assert parse_plan("spapi+creators+keepa") == ["spapi", "creators", "keepa"]
    with pytest.raises(ConfigurationError, match="CODE2ASIN_KEEPA_API_KEY"):
        build_plan(Settings(), "keepa", "FR")
    with pytest.raises(ConfigurationError, match=r"www\.amazon\.nl"):
        build_plan(Settings(), "keepa", "NL", endpoints=endpoints_for_keyless())


def endpoints_for_keyless() -> Endpoints:
    endpoints = Endpoints.from_settings(Settings())
    endpoints.keepa_api_key = "some-key"
    return endpoints


def test_the_sandbox_plan_includes_keepa_where_keepa_serves_the_marketplace() -> None:
    fr = build_plan(Settings(), "sandbox", "FR")
    nl = build_plan(Settings(), "sandbox", "NL")
    try:
        assert [s.name for s in fr.enrich] == ["creators", "keepa"]
        assert [s.name for s in nl.enrich] == ["creators"]
    finally:
        fr.close()
        nl.close()


def test_keepa_plans_compose(sandbox: sb.SandboxServer) -> None:
    alone = build_plan(Settings(), "keepa", "DE", endpoints=endpoints_for(sandbox))
    spapi = build_plan(Settings(), "spapi+keepa", "FR", endpoints=endpoints_for(sandbox))
    try:
        assert isinstance(alone.identify, KeepaClient) and list(alone.enrich) == []
        assert spapi.identify.name == "spapi" and [type(s) for s in spapi.enrich] == [KeepaClient]
        assert not any(isinstance(s, SpapiPricing) for s in spapi.enrich)
    finally:
        alone.close()
        spapi.close()


def run_plan(
    db: Database, path: Path, plan_name: str, endpoints: Endpoints, codes: list[str]
) -> list[JobItem]:
    path.write_text("EAN;Désignation\n" + "".join(f"{c};Produit {n}\n" for n, c in enumerate(codes)), "utf-8")
    job_id = creation.create_job(
        db, open_table(path), creation.NewJob("SUP001", JobMode.AMAZON, "FR", plan_name, path.name)
    )
    with db.unit_of_work() as session:
        service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
    plan = build_plan(Settings(), plan_name, "FR", endpoints=endpoints)
    try:
        runner = ChunkRunner(db, plan, LookupCacheStore(db, 3600, 3600), sleep=lambda _s: None)
        assert run_job(db, runner, job_id) is PoolOutcome.FINISHED
    finally:
        plan.close()
    with db.unit_of_work() as session:
        return list(session.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.row_no)))


@pytest.mark.parametrize("plan_name", ["spapi+creators+keepa", "keepa"])
def test_a_job_with_keepa_in_its_plan_has_ratings_and_review_counts(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path, plan_name: str
) -> None:
    examples = sample_codes.example_codes()
    codes = examples["single"] + examples["several_asins"] + examples["book"] + examples["unknown"][:2]
    rows = run_plan(sqlite_db, tmp_path / "in.csv", plan_name, endpoints_for(sandbox), codes)
    matched = [r for r in rows if r.status == "matched"]
    assert len(matched) >= len(examples["single"])
    rated = 0
    for row in matched:
        expected = catalogue.rating_for(row.asin or "")
        assert (row.amazon_rating, row.amazon_review_count) == (expected if expected else (None, None))
        rated += expected is not None
    assert rated >= len(matched) // 2
    keepa_calls = [e for e in sandbox.request_log if e.operation == "keepaProduct"]
    if plan_name == "keepa":
        assert all(e.codes and not e.asins for e in keepa_calls) and len(keepa_calls) == 1
    else:
        assert all(e.asins and not e.codes for e in keepa_calls) and len(keepa_calls) == 1
