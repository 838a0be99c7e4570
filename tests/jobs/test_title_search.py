"""The title search fallback in real jobs over HTTP against the sandbox, and remembered decisions applied
to a supplier's later jobs (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.sandbox_support import endpoints_for

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, result_queries, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.embedded import PoolOutcome, run_job
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import ConversionLog, Job, JobItem, JobMode
from code2asin.jobs.runner import ChunkRunner
from code2asin.providers.plan import build_plan
from code2asin.sandbox import server as sb
from code2asin.sandbox.title_cases import SAMPLE, TitleCase

API_CALLS = {
    "searchCatalogItems",
    "getItems",
    "searchItems",
    "getCompetitivePricing",
    "keepaProduct",
    "keepaSearch",
}
MATCHES = [c for c in SAMPLE if c.expected_asin]
TRAPS = [c for c in SAMPLE if not c.expected_asin]


@pytest.fixture
def sandbox() -> Iterator[sb.SandboxServer]:
    with sb.SandboxServer(port=0, quotas=None) as server:
        yield server


def write_file(path: Path, cases: Sequence[TitleCase], codes: Sequence[str] | None = None) -> Path:
    lines = ["EAN;Désignation;Marque;Prix achat"]
    for n, case in enumerate(cases):
        price = "" if case.price is None else str(case.price).replace(".", ",")
        lines.append(f"{codes[n] if codes else case.code};{case.title};{case.brand or ''};{price}")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def run(
    db: Database,
    sandbox: sb.SandboxServer,
    path: Path,
    plan_name: str = "spapi+creators",
    supplier: str = "SUP-T",
    **options: object,
) -> str:
    job_id = creation.create_job(
        db,
        open_table(path),
        creation.NewJob(supplier, JobMode.AMAZON, "FR", plan_name, path.name, creation.JobOptions(**options)),
    )
    with db.unit_of_work() as session:
        service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
    plan = build_plan(Settings(), plan_name, "FR", endpoints=endpoints_for(sandbox))
    try:
        runner = ChunkRunner(db, plan, LookupCacheStore(db, 3600, 3600), sleep=lambda _s: None)
        assert run_job(db, runner, job_id) is PoolOutcome.FINISHED
    finally:
        plan.close()
    return job_id


def rows(db: Database, job_id: str) -> list[JobItem]:
    with db.unit_of_work() as session:
        return list(session.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.row_no)))


def keyword_searches(sandbox: sb.SandboxServer) -> list[tuple[str, ...]]:
    return [
        tuple(r.codes)
        for r in sandbox.request_log
        if r.operation == "searchCatalogItems" and r.codes and not all(c.isdigit() for c in r.codes)
    ]


def test_codes_not_found_are_searched_by_title_and_only_the_right_products_match(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "supplier.csv", SAMPLE)
    job_id = run(any_db, sandbox, path, title_search=True)
    found = rows(any_db, job_id)
    assert len(keyword_searches(sandbox)) == len({(c.title, c.brand) for c in SAMPLE})
    for case, row in zip(SAMPLE, found, strict=True):
        assert row.supplier_brand == case.brand
        if case.expected_asin:
            assert (row.status, row.asin, row.match_type) == ("matched", case.expected_asin, "fuzzy"), case
            assert row.review_flags == "fuzzy" and 0.70 <= (row.match_confidence or 0) <= 0.80
            assert row.error_message and "a title match is never proof: check it" in row.error_message
            assert row.amazon_title and row.amazon_images  # the winner went through the enrich stages
        else:
            assert (row.status, row.asin) == ("not_found", None), case
            assert row.error_message and row.error_message.startswith(
                f"Amazon returned no item for EAN {case.code}."
            )
            assert "The title search for" in row.error_message
        # every candidate the title search considered is listed with its scores
        assert row.candidates and any("title similarity" in " ".join(c["reasons"]) for c in row.candidates)
    with any_db.unit_of_work() as session:
        page = result_queries.results_page(session, job_id, url_for=lambda k: k, needs_review=True)
        job = session.get(Job, job_id)
        assert job is not None
        # the searches are counted like every call: the job's calls are the requests the sandbox saw
        assert job.provider_calls == sum(1 for e in sandbox.request_log if e.operation in API_CALLS)
    assert {r["asin"] for r in page["items"]} == {c.expected_asin for c in MATCHES}

    # a second job of the same file finds every title search in the lookup cache
    before = len(keyword_searches(sandbox))
    again = run(any_db, sandbox, path, title_search=True)
    assert len(keyword_searches(sandbox)) == before
    assert [(r.status, r.asin) for r in rows(any_db, again)] == [(r.status, r.asin) for r in found]


def test_without_the_option_nothing_is_searched_by_title(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    job_id = run(sqlite_db, sandbox, write_file(tmp_path / "supplier.csv", SAMPLE))
    assert keyword_searches(sandbox) == []
    assert {r.status for r in rows(sqlite_db, job_id)} == {"not_found"}


def test_invalid_codes_with_a_title_are_searched_when_asked_and_stay_invalid_otherwise(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    cases = [MATCHES[0], TRAPS[0]]
    path = write_file(tmp_path / "invalid.csv", cases, codes=["3017620422004", "ABC"])
    job_id = run(sqlite_db, sandbox, path, title_search=True, title_search_invalid=True)
    matched, trap = rows(sqlite_db, job_id)
    assert (matched.status, matched.asin, matched.match_type) == (
        "matched",
        MATCHES[0].expected_asin,
        "fuzzy",
    )
    assert matched.error_message and matched.error_message.startswith("Check digit is 4 but should be 3")
    assert (trap.status, trap.error_type) == ("invalid", "invalid_data")
    assert trap.error_message and trap.error_message.startswith("Only digits are allowed in a barcode")
    assert "The title search for" in trap.error_message
    with sqlite_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None and (job.processed_codes, job.successful_conversions) == (2, 1)
    # without title_search_invalid they never reach a provider
    plain = run(sqlite_db, sandbox, path, title_search=True)
    assert [r.status for r in rows(sqlite_db, plain)] == ["invalid", "invalid"]


def test_a_keepa_title_search_costs_ten_tokens(
    sqlite_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    job_id = run(
        sqlite_db, sandbox, write_file(tmp_path / "supplier.csv", SAMPLE), "keepa", title_search=True
    )
    searches = [r for r in sandbox.request_log if r.operation == "keepaSearch"]
    assert len(searches) == len(SAMPLE)
    with sqlite_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        # what Keepa consumed: ten per search, and nothing for the codes it did not find
        consumed = [r.tokens for r in sandbox.request_log if r.operation in ("keepaProduct", "keepaSearch")]
        assert job.keepa_tokens == sum(consumed) == 10 * len(SAMPLE)
    assert {r.asin for r in rows(sqlite_db, job_id) if r.status == "matched"} == {
        c.expected_asin for c in MATCHES
    }


def test_a_persons_decisions_apply_to_the_suppliers_later_jobs(
    any_db: Database, sandbox: sb.SandboxServer, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "supplier.csv", SAMPLE)
    first = run(any_db, sandbox, path, title_search=True)
    fuzzy = [r for r in rows(any_db, first) if r.match_type == "fuzzy"]
    rejected, corrected = fuzzy[0], fuzzy[1]
    other = next(c.expected_asin for c in MATCHES if c.expected_asin not in (rejected.asin, corrected.asin))
    assert other is not None
    with any_db.unit_of_work() as session:
        service.reject_item(session, first, "alice", row_no=rejected.row_no)
        service.validate_item(session, first, other, "bob", row_no=corrected.row_no)

    later = run(any_db, sandbox, path, title_search=True)
    now = {r.row_no: r for r in rows(any_db, later)}
    manual = now[corrected.row_no]
    assert (manual.status, manual.asin, manual.match_type, manual.match_confidence) == (
        "matched",
        other,
        "manual",
        1.0,
    )
    assert manual.field_sources and manual.field_sources["asin"] == "manual:bob"
    assert manual.amazon_title  # enriched, not looked up
    assert manual.error_message and manual.error_message.startswith(
        f"Remembered decision: bob accepted {other} for this code of supplier SUP-T on "
    )
    assert now[rejected.row_no].asin != rejected.asin
    assert any(
        "ruled out: rejected by a person for this code" in " ".join(c["reasons"])
        for c in now[rejected.row_no].candidates or []
    )
    with any_db.unit_of_work() as session:
        line = session.scalars(
            select(ConversionLog).where(
                ConversionLog.job_id == later, ConversionLog.row_no == corrected.row_no
            )
        ).one()
    assert (line.change_reason, line.new_asin, line.actor) == ("manual", other, "bob")
    # another supplier's job is not touched by them
    elsewhere = run(any_db, sandbox, path, supplier="OTHER", title_search=True)
    assert rows(any_db, elsewhere)[corrected.row_no - 1].match_type == "fuzzy"
