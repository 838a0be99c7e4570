"""Amazon-mode jobs end to end over real HTTP against the sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.sandbox_support import endpoints_for

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import PoolOutcome, run_job
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import ConversionLog, Job, JobChunk, JobItem, JobMode, utcnow
from code2asin.jobs.runner import ChunkOutcome, ChunkRunner
from code2asin.providers.base import LookupCode, LookupOutcome
from code2asin.providers.plan import build_plan
from code2asin.providers.stages import Plan
from code2asin.sandbox import catalogue, sample_codes
from code2asin.sandbox import server as sb

INVALID = ["3,01762E+12", "3017620422004", "2123456000009", "ABC", ""]


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(port=0, quotas=None) as server:
        yield server


def hard_codes() -> list[str]:
    examples = sample_codes.example_codes()
    return [code for codes in examples.values() for code in codes[:4]]


def write_csv(path: Path, codes: list[str]) -> Path:
    path.write_text("EAN;Désignation\n" + "".join(f"{c};Produit {n}\n" for n, c in enumerate(codes)), "utf-8")
    return path


def new_job(db: Database, path: Path, plan: str = "spapi+creators") -> str:
    job_id = creation.create_job(
        db, open_table(path), creation.NewJob("SUP001", JobMode.AMAZON, "FR", plan, path.name)
    )
    with db.unit_of_work() as session:
        service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
    return job_id


def runner_for(db: Database, plan: Plan, clock: Callable[[], datetime] = utcnow) -> ChunkRunner:
    cache = LookupCacheStore(db, 3600, 3600)
    return ChunkRunner(db, plan, cache, sleep=lambda _s: None, clock=clock)


def items(db: Database, job_id: str) -> list[JobItem]:
    with db.unit_of_work() as session:
        return list(session.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.row_no)))


def test_every_row_ends_with_a_status_and_invalid_codes_never_reach_amazon(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    codes = hard_codes()
    job_id = new_job(any_db, write_csv(tmp_path / "in.csv", [*codes, *INVALID, codes[0]]))
    plan = build_plan(Settings(), "spapi+creators", "FR", endpoints=endpoints_for(sandbox))
    try:
        assert run_job(any_db, runner_for(any_db, plan), job_id) is PoolOutcome.FINISHED
    finally:
        plan.close()
    rows = items(any_db, job_id)
    assert [r.row_no for r in rows] == list(range(1, len(codes) + len(INVALID) + 2))
    assert {r.status for r in rows} <= {"matched", "not_found", "invalid"}
    assert all(r.status == "invalid" for r in rows[len(codes) : len(codes) + len(INVALID)])
    asked = {c for entry in sandbox.request_log for c in entry.codes}
    for row in rows:
        if row.status == "invalid":
            assert row.input_code not in asked and (row.gtin or "-") not in asked
    duplicate, first = rows[-1], rows[0]
    assert (duplicate.asin, duplicate.status) == (first.asin, first.status)
    catalog_calls = [e for e in sandbox.request_log if e.operation == "searchCatalogItems"]
    assert sum(len(e.codes) for e in catalog_calls) == len(set(codes))  # the duplicate is looked up once
    with any_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "completed"
        assert job.total_codes == len(rows) and job.processed_codes == len(rows)
        logs = session.scalar(select(func.count(ConversionLog.id)).where(ConversionLog.job_id == job_id))
        assert logs == len(codes) + 1
        with_asin = session.scalar(
            select(func.count(ConversionLog.id)).where(
                ConversionLog.job_id == job_id,
                ConversionLog.new_asin.is_not(None),
                ConversionLog.change_reason == "initial",
            )
        )
        assert with_asin == sum(1 for r in rows if r.status == "matched")
        secrets = (sb.DEFAULT_CREDENTIAL_SECRET, sb.DEFAULT_LWA_CLIENT_SECRET, sb.DEFAULT_REFRESH_TOKEN)
        for (payload,) in session.execute(
            select(ConversionLog.api_response).where(ConversionLog.job_id == job_id)
        ):
            assert not any(s in str(payload) for s in secrets)


@pytest.mark.parametrize("plan_name", ["spapi+creators", "creators"])
def test_no_wrong_asin_is_ever_labelled_exact_on_the_hard_cases(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path, plan_name: str
) -> None:
    codes = hard_codes()
    job_id = new_job(sqlite_db, write_csv(tmp_path / "in.csv", codes), plan_name)
    plan = build_plan(Settings(), plan_name, "FR", endpoints=endpoints_for(sandbox))
    try:
        run_job(sqlite_db, runner_for(sqlite_db, plan), job_id)
    finally:
        plan.close()
    category = {c: k for k, cs in sample_codes.example_codes().items() for c in cs}
    for row in items(sqlite_db, job_id):
        kind = category[row.input_code]
        if row.match_type == "exact":
            item = catalogue.sandbox_item(row.asin or "")
            assert item is not None
            ids = {i.zfill(14) for i in (*item.eans, *item.upcs)}
            assert row.gtin in ids, (kind, row.input_code, row.asin)
            assert item.package_quantity in (None, 1), (kind, row.asin)
        if kind in ("unknown", "near_miss"):
            assert row.status == "not_found", (kind, row.input_code, row.asin, row.match_type)
        if kind == "multipack" and row.match_type == "exact":
            assert "multipack" not in (row.amazon_title or "").lower()
        if row.status == "matched":
            assert row.candidates and all("reasons" in c for c in row.candidates)
            assert row.error_message  # the reason for the choice is visible in the results file


def test_a_chunk_run_twice_writes_nothing_twice_and_calls_no_provider_again(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    job_id = new_job(any_db, write_csv(tmp_path / "in.csv", hard_codes()[:30]))
    plan = build_plan(Settings(), "spapi+creators", "FR", endpoints=endpoints_for(sandbox))
    try:
        runner = runner_for(any_db, plan)
        assert runner.run_chunk(job_id, 0) is ChunkOutcome.DONE
        calls = len(sandbox.request_log)
        assert runner.run_chunk(job_id, 0) is ChunkOutcome.SKIPPED
        assert len(sandbox.request_log) == calls
    finally:
        plan.close()
    with any_db.unit_of_work() as session:
        assert (
            session.scalar(select(func.count(ConversionLog.id)).where(ConversionLog.job_id == job_id)) == 30
        )


def test_pause_between_provider_calls_gives_the_chunk_back_and_resume_repeats_no_lookup(
    sqlite_db: Database,
    sandbox: sb.SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codes = sample_codes.example_codes()["single"][:6]
    job_id = new_job(sqlite_db, write_csv(tmp_path / "in.csv", codes), "creators")
    plan = build_plan(Settings(), "creators", "FR", endpoints=endpoints_for(sandbox))
    identify = plan.identify.identify
    calls: list[int] = []

    def identify_then_pause(batch: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        answer = identify(batch)
        calls.append(1)
        if len(calls) == 3:  # a person presses "pause" while the chunk is running
            with sqlite_db.unit_of_work() as session:
                service.transition(session, service.get_job(session, job_id), JobAction.PAUSE, actor="alice")
        return answer

    monkeypatch.setattr(plan.identify, "identify", identify_then_pause)
    try:
        runner = runner_for(sqlite_db, plan)
        assert runner.run_chunk(job_id, 0) is ChunkOutcome.RELEASED
        assert len(calls) == 3  # no provider call after the pause
        assert all(r.status == "pending" for r in items(sqlite_db, job_id))
        with sqlite_db.unit_of_work() as session:
            service.transition(session, service.get_job(session, job_id), JobAction.RESUME, actor="alice")
        assert runner.run_chunk(job_id, 0) is ChunkOutcome.DONE
    finally:
        plan.close()
    searched = [c for e in sandbox.request_log if e.operation == "searchItems" for c in e.codes]
    assert sorted(searched) == sorted(set(codes))  # each code searched exactly once
    assert all(r.status == "matched" for r in items(sqlite_db, job_id))


def test_transient_failures_wait_on_the_retry_schedule_then_match(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    job_id = new_job(any_db, write_csv(tmp_path / "in.csv", sample_codes.example_codes()["single"][:5]))
    plan = build_plan(Settings(), "spapi+creators", "FR", endpoints=endpoints_for(sandbox))
    now = [utcnow()]
    try:
        runner = runner_for(any_db, plan, clock=lambda: now[0])
        sandbox.inject_faults("searchCatalogItems", "503", 3)  # the first call and both quick retries
        assert runner.run_chunk(job_id, 0) is ChunkOutcome.WAITING
        waiting = items(any_db, job_id)
        assert {(r.status, r.error_type, r.attempts) for r in waiting} == {("pending", "network", 1)}
        assert all("attempt 1 of 5" in (r.error_message or "") for r in waiting)
        assert runner.run_chunk(job_id, 0) is ChunkOutcome.SKIPPED  # not due before one minute
        now[0] += timedelta(minutes=1, seconds=1)
        assert runner.run_chunk(job_id, 0) is ChunkOutcome.DONE
    finally:
        plan.close()
    assert {(r.status, r.error_type) for r in items(any_db, job_id)} == {("matched", None)}
    with any_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "completed"
        assert session.scalar(select(func.count(JobChunk.id)).where(JobChunk.status != "done")) == 0


def test_a_refused_partner_tag_fails_the_job_with_one_sentence(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    job_id = new_job(
        sqlite_db, write_csv(tmp_path / "in.csv", sample_codes.example_codes()["single"][:3]), "creators"
    )
    plan = build_plan(Settings(), "creators", "FR", endpoints=endpoints_for(sandbox, partner_tag="wrong-21"))
    try:
        assert runner_for(sqlite_db, plan).run_chunk(job_id, 0) is ChunkOutcome.JOB_FAILED
    finally:
        plan.close()
    with sqlite_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "failed"
        assert "wrong-21" in (job.error_message or "") and "CODE2ASIN_CREATORS_PARTNER_TAG" in (
            job.error_message or ""
        )
    assert len([e for e in sandbox.request_log if e.kind == "api"]) == 1  # stopped at the first refusal


def test_rerunning_a_catalogue_spends_no_quota_thanks_to_the_lookup_cache(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "in.csv", hard_codes()[:25])
    plan = build_plan(Settings(), "spapi+creators", "FR", endpoints=endpoints_for(sandbox))
    try:
        first = new_job(sqlite_db, path)
        run_job(sqlite_db, runner_for(sqlite_db, plan), first)
        before = len([e for e in sandbox.request_log if e.kind == "api"])
        second = new_job(sqlite_db, path)
        run_job(sqlite_db, runner_for(sqlite_db, plan), second)
    finally:
        plan.close()
    assert len([e for e in sandbox.request_log if e.kind == "api"]) == before
    assert [(r.status, r.asin) for r in items(sqlite_db, first)] == [
        (r.status, r.asin) for r in items(sqlite_db, second)
    ]


def test_rows_waiting_for_keepa_tokens_spend_no_attempt_and_match_once_the_balance_is_back(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """A Keepa balance spent below zero: the client sends nothing until it is positive again (Keepa's rule),
    the rows wait for the refill without spending their five attempts, then match."""
    import httpx

    from code2asin.providers.keepa import KeepaClient

    codes = sample_codes.example_codes()["single"][:6]
    job_id = new_job(sqlite_db, write_csv(tmp_path / "in.csv", codes), "keepa")
    now = [utcnow()]
    keepa_clock = [1000.0]  # the client's own clock: it only moves when the test says time has passed
    with sb.SandboxServer(port=0, quotas=sb.SandboxQuotas()) as server, httpx.Client() as http:
        server.keepa_tokens.set_balance(sb.DEFAULT_KEEPA_KEY, -4)
        keepa = KeepaClient(
            http=http,
            api_key=sb.DEFAULT_KEEPA_KEY,
            api_url=server.base_url,
            max_wait_s=0.1,
            sleep=lambda _s: None,
            clock=lambda: keepa_clock[0],
        )
        runner = runner_for(sqlite_db, Plan("keepa", keepa), clock=lambda: now[0])
        for _ in range(8):  # more runs than the five attempts a failing row gets
            assert runner.run_chunk(job_id, 0) is ChunkOutcome.WAITING
            rows = items(sqlite_db, job_id)
            assert {(r.status, r.attempts, r.error_type) for r in rows} == {("pending", 0, "api_rate_limit")}
            assert all("no attempt spent" in (r.error_message or "") for r in rows)
            due = {r.next_attempt_at.replace(tzinfo=now[0].tzinfo) for r in rows if r.next_attempt_at}
            # 5 tokens short of a positive balance: back at the next refill, within a minute
            assert len(due) == 1 and timedelta(seconds=5) <= due.pop() - now[0] <= timedelta(seconds=61)
            now[0] += timedelta(minutes=2)
        assert not [e for e in server.request_log if e.operation == "keepaProduct"]  # nothing was sent
        server.keepa_tokens.set_balance(sb.DEFAULT_KEEPA_KEY, 1200)  # the refills have come in
        keepa_clock[0] += 120
        assert runner.run_chunk(job_id, 0) is ChunkOutcome.DONE
    rows = items(sqlite_db, job_id)
    assert {r.status for r in rows} == {"matched"} and {r.attempts for r in rows} == {1}


@pytest.mark.parametrize("budget", [30.0, 1.0])
def test_a_one_shot_run_waits_for_rows_due_within_its_budget_and_no_longer(
    sqlite_db: Database,
    sandbox: sb.SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    budget: float,
) -> None:
    from code2asin.errors import ErrorType, ProviderError
    from code2asin.jobs.embedded import run_job_waiting

    codes = sample_codes.example_codes()["single"][:3]
    job_id = new_job(sqlite_db, write_csv(tmp_path / "in.csv", codes), "creators")
    plan = build_plan(Settings(), "creators", "FR", endpoints=endpoints_for(sandbox))
    identify = plan.identify.identify
    calls: list[int] = []

    def short_of_quota_once(batch: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        calls.append(len(batch))
        if len(calls) == 1:  # our pacing declines the first call: the quota is back in a moment
            raise ProviderError("Quota short", ErrorType.API_RATE_LIMIT, 0.5, sent=False)
        return identify(batch)

    monkeypatch.setattr(plan.identify, "identify", short_of_quota_once)
    waits: list[datetime] = []
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    try:
        outcome = run_job_waiting(
            sqlite_db, runner_for(sqlite_db, plan), job_id, max_wait_seconds=budget, on_wait=waits.append,
            sleep=sleep,
        )  # fmt: skip
    finally:
        plan.close()
    rows = items(sqlite_db, job_id)
    if budget >= 10:  # the row is due again in about 5 s (the shortest deferral): the run waits for it
        assert outcome is PoolOutcome.FINISHED and len(waits) == 1 and 3 < slept[0] < 6
        assert {r.status for r in rows} == {"matched"}
    else:  # due later than the budget: handed back at once, nothing slept
        assert outcome is PoolOutcome.WAITING and waits == [] and slept == []
        # creators searches one code per call: the declined code waits, the two others matched
        ended = sorted((r.status, r.attempts) for r in rows)
        assert ended == [("matched", 1), ("matched", 1), ("pending", 0)]
