"""The estimate: calls, Keepa tokens and seconds from the plan, the quotas and the lookup cache; the CLI's
estimate line and caps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from code2asin.cli import app
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.estimate import (
    Quotas,
    describe_estimate,
    estimate,
    estimate_job,
    format_duration,
    record_estimate,
    remaining_seconds,
)
from code2asin.jobs.models import Job, JobMode
from code2asin.providers.ratelimit import paced_interval
from code2asin.sandbox import sample_codes

KEEPA_SHARE_SENTENCE = (
    "Keepa charges a token per product it returns: the tokens count 0.92 per code sent (about one code in "
    "six is not found, and a code found returns 1.1 products on average)."
)
UNLIMITED_KEEPA = Quotas(keepa_tokens_left=math.inf, keepa_refill_per_minute=math.inf)


def calls(found: object) -> dict[str, int]:
    return {f"{c.provider}:{c.stage}": c.calls for c in found.stages}  # type: ignore[attr-defined]


def test_each_stage_is_costed_chunk_by_chunk_and_the_busiest_bucket_sets_the_time() -> None:
    found = estimate("spapi+creators+keepa", UNLIMITED_KEEPA, codes=1000)
    # 10 chunks of 100: SP-API 5 searches each, Creators 10 getItems each, Keepa 1 call each
    assert calls(found) == {"spapi:identify": 50, "creators:enrich": 100, "keepa:enrich": 10}
    # Keepa: a token per product it returns, one per ASIN sent: 0.92 ASIN per code looked up
    assert (found.calls, found.keepa_tokens, found.bottleneck) == (160, 920, "Creators")
    # 99 Creators calls (the first needs no wait) at our pace, 1 % + 10 ms under 1 a second (no burst to keep
    # a reserve in), after the one SP-API search (1 % under 2 a second: burst 2 keeps one token in reserve)
    # whose 20 answers fill the first getItems batch
    assert paced_interval(1.0) == pytest.approx(1.02) and paced_interval(2.0, 2) == pytest.approx(0.505)
    assert found.seconds == pytest.approx(99 * 1.02 + 0.505)
    # Keepa's first call waits for a chunk's 100 answers: 5 searches; 460 tokens at 600 a minute
    keepa_bound = estimate("spapi+keepa", Quotas(keepa_tokens_left=0, keepa_refill_per_minute=600), codes=500)
    assert keepa_bound.bottleneck == "Keepa" and keepa_bound.seconds == pytest.approx(46 + 5 * 0.505)
    assert found.buckets["SP-API catalogue"] == pytest.approx(49 * 0.505)  # 1 at once, 1 in reserve

    # a chunk of 130 codes is two chunks: 100 then 30, each rounded up to whole calls
    assert calls(estimate("spapi", Quotas(), codes=130)) == {"spapi:identify": 7, "spapi:enrich": 7}
    creators = estimate("creators", Quotas(creators_rate=2.0), codes=1000)
    assert (creators.calls, creators.bottleneck) == (1000, "Creators")
    assert creators.seconds == pytest.approx(999 * 0.515)


def test_cached_codes_cost_nothing_and_a_fully_cached_job_takes_no_time() -> None:
    cold = estimate("spapi+creators", Quotas(), codes=2000)
    warm = estimate("spapi+creators", Quotas(), codes=2000, cached_codes=1000)
    # half of each chunk left: 50 codes are 3 searches (not 2.5) and 5 getItems
    assert (cold.calls, warm.calls, warm.cached_codes) == (20 * 15, 20 * 8, 1000)
    assert warm.seconds == pytest.approx(cold.seconds / 2, rel=0.05)
    hot = estimate("spapi+creators", Quotas(), codes=2000, cached_codes=2000)
    assert (hot.calls, hot.seconds) == (0, 0.0)


def test_keepa_tokens_beyond_the_balance_come_at_the_refill_rate() -> None:
    short = estimate("keepa", Quotas(keepa_tokens_left=300, keepa_refill_per_minute=20), codes=1000)
    # by code: 0.84 found x 1.1 products each = 0.92 tokens per code
    assert (short.keepa_tokens, short.bottleneck) == (920, "Keepa")
    assert short.seconds == pytest.approx(620 / 20 * 60)  # 31 minutes of refills
    assert short.assumptions == [KEEPA_SHARE_SENTENCE]
    plenty = estimate("keepa", Quotas(keepa_tokens_left=5000, keepa_refill_per_minute=20), codes=1000)
    assert plenty.seconds < 5
    unknown = estimate("keepa", Quotas(), codes=1000)
    assert unknown.assumptions == [
        KEEPA_SHARE_SENTENCE,
        "The Keepa balance is not known yet: the time assumes it covers the 920 tokens.",
    ]


def test_a_direct_import_and_an_empty_file_cost_nothing() -> None:
    assert estimate("direct", Quotas(), codes=500).calls == 0
    empty = estimate("sandbox", UNLIMITED_KEEPA, codes=0)
    assert (empty.calls, empty.seconds) == (0, 0.0)
    assert describe_estimate(empty) == "Estimate: no code to look up."


def test_the_estimate_in_words_and_durations() -> None:
    assert [format_duration(s) for s in (0, 0.3, 59.6, 95, 600, 7300, 7200)] == [
        "0 s",
        "under 1 s",
        "1 min",
        "1 min 35 s",
        "10 min",
        "2 h 1 min",
        "2 h",
    ]
    text = describe_estimate(estimate("spapi+creators", Quotas(), codes=1000, cached_codes=200))
    assert text.startswith(
        "Estimate: about 1 min 21 s for 1,000 codes, 200 of them from the lookup cache: 120 provider calls; "
        "the slowest quota is Creators."
    )


def test_remaining_time_uses_the_measured_pace_once_there_is_one() -> None:
    assert remaining_seconds(100.0, done=0, total=1000, elapsed=0.0) == 100.0
    assert remaining_seconds(100.0, done=50, total=1000, elapsed=5.0) == pytest.approx(95.0)
    # a tenth done in 20 s: the measured pace (180 s left), not the estimate's share (90 s)
    assert remaining_seconds(100.0, done=100, total=1000, elapsed=20.0) == pytest.approx(180.0)
    assert remaining_seconds(None, done=0, total=10, elapsed=None) is None
    assert remaining_seconds(100.0, done=10, total=10, elapsed=3.0) == 0.0


def test_a_jobs_estimate_counts_its_distinct_valid_codes_and_the_cache(
    any_db: Database, tmp_path: Path
) -> None:
    codes = list(sample_codes.generate_codes(240, seed=5))
    lines = [*codes, *codes[:10], "ABC", "", "3017620422004"]  # 10 repeats, 3 invalid
    source = tmp_path / "in.csv"
    source.write_text("EAN\n" + "\n".join(lines) + "\n", "utf-8")
    new = creation.NewJob("SUP", JobMode.AMAZON, "FR", "spapi+creators", source.name)
    job_id = creation.create_job(any_db, open_table(source), new)
    cache = LookupCacheStore(any_db, 3600, 3600)
    with any_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        gtins = sorted({str(g) for g in session.scalars(job_gtins(job_id))})
    cache.put("spapi", "FR", {f"gtin:{g}": {"candidates": []} for g in gtins[:90]}, prices=False)
    with any_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        found = estimate_job(session, job, Quotas(), cache)
    assert (found.codes, found.cached_codes) == (240, 90)
    assert found.stages[0].items == 150

    stored = record_estimate(any_db, job_id, Settings(), cache_name=str)
    assert stored is not None
    with any_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.estimate is not None
        assert job.estimate["codes"] == 240 and job.estimate["cached_codes"] == 90
        assert job.estimate["calls"] == stored.calls and job.estimate["bottleneck"] == "Creators"


def job_gtins(job_id: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from code2asin.jobs.models import JobItem

    return select(JobItem.gtin).where(JobItem.job_id == job_id, JobItem.gtin.is_not(None))


def test_convert_says_its_estimate_and_stops_at_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODE2ASIN_DATA_DIR", str(tmp_path / "data"))
    source = tmp_path / "codes.csv"
    source.write_text("EAN\n" + "\n".join(sample_codes.generate_codes(300, seed=9)) + "\n", "utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["convert", str(source), "--provider", "sandbox", "--max-calls", "4"])
    assert result.exit_code == 1
    words = " ".join(result.output.split())
    assert (
        "Estimate: about" in words and "for 300 codes" in words and "the slowest quota is Creators" in words
    )
    assert "Paused: the job reached its cap of 4 provider calls (max_calls)" in words
    assert (tmp_path / "codes.results.xlsx").exists()  # what was done is written, the rest says pending


def test_a_keepa_plans_estimate_asks_keepa_for_the_balance_and_waits_for_the_refills(
    sqlite_db: Database, tmp_path: Path
) -> None:
    from code2asin.config import KeepaSettings
    from code2asin.sandbox import server as sb

    quotas = sb.SandboxQuotas(keepa_tokens=300, keepa_refill_rate=20)
    with sb.SandboxServer(port=0, quotas=quotas) as server:
        settings = Settings(keepa=KeepaSettings(api_key=sb.DEFAULT_KEEPA_KEY, api_url=server.base_url))
        source = tmp_path / "in.csv"
        source.write_text("EAN\n" + "\n".join(sample_codes.generate_codes(1000, seed=3)) + "\n", "utf-8")
        new = creation.NewJob("SUP", JobMode.AMAZON, "FR", "keepa", source.name)
        job_id = creation.create_job(sqlite_db, open_table(source), new)
        found = record_estimate(sqlite_db, job_id, settings, cache_name=str)
        asked = [e.operation for e in server.request_log]
    assert found is not None and asked == ["keepaToken"]  # the balance costs no token
    assert (found.bottleneck, found.keepa_tokens, found.assumptions) == ("Keepa", 920, [KEEPA_SHARE_SENTENCE])
    assert found.seconds == pytest.approx((920 - 300) / 20 * 60)  # 31 minutes of refills
    unreachable = Settings(keepa=KeepaSettings(api_key="k", api_url="http://127.0.0.1:9"))
    assert (
        record_estimate(sqlite_db, job_id, unreachable, cache_name=str)
        .assumptions[1]
        .startswith(  # type: ignore[union-attr]
            "The Keepa balance is not known yet"
        )
    )


def test_the_title_search_is_costed_for_the_share_not_found_and_every_titled_invalid_row() -> None:
    plain = estimate("spapi+creators", Quotas(), codes=1000)
    searched = estimate("spapi+creators", Quotas(), codes=1000, titled_codes=600, titled_invalid=4)
    title = next(s for s in searched.stages if s.stage == "title search")
    # 16 % of the 600 titled codes (96 searches) plus the 4 invalid rows with a title
    assert (title.provider, title.operation, title.calls) == ("spapi", "searchCatalogItems by keywords", 100)
    assert searched.calls > plain.calls + 100  # each search enriches its winner too
    assert searched.buckets["SP-API catalogue"] > plain.buckets["SP-API catalogue"]
    assert "100 searches expected, at most 600" in " ".join(searched.assumptions)
    keepa = estimate("keepa", UNLIMITED_KEEPA, codes=100, titled_codes=100)
    assert next(s for s in keepa.stages if s.stage == "title search").keepa_tokens == 16 * 10
    # a job that does not search by title says nothing about it
    assert not any("title search" in a for a in plain.assumptions)
