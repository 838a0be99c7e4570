"""One marketplace vs several in one job (issue 8): wall time and result rows per hour, real quotas.

``python -m benchmarks marketplaces [--plan spapi+creators] [--codes 400] [--marketplaces FR,DE,IT]
[--latency-ms 150]``

The same codes (ordinary sandbox codes sold on every marketplace asked, ``multi_marketplace_codes``) are
converted twice, each time to the end, by the production path (``create_job``, ``EmbeddedDispatcher``
with 4 chunk threads and an in-process limiter, ``build_plans``) against a fresh ``SandboxServer`` that
enforces Amazon's default quotas with their real scopes (SP-API per application and region, Creators per
credential and marketplace, Keepa per key) and adds ``--latency-ms`` to every answer:

1. the baseline: a job on the first marketplace alone;
2. a job on every marketplace of ``--marketplaces``.

It prints wall time, result rows (rows x marketplaces), result rows per hour, the ratio of each to the
baseline, the provider calls by operation and the 429 answers. What to expect: marketplaces of one SP-API
region share its catalog and pricing buckets, so SP-API-bound plans take about M times as long for M times
the rows; Creators quotas are per marketplace (one Associates store each), so a Creators-bound plan gets M
buckets and its result rows per hour grow with M until the shared SP-API catalog bucket binds.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Run:
    marketplaces: list[str]
    seconds: float = 0.0
    rows: int = 0
    results: int = 0
    status: str = ""
    matched: dict[str, int] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    throttled: int = 0

    @property
    def per_hour(self) -> float:
        return self.results / self.seconds * 3600 if self.seconds else 0.0


def _run(plan: str, codes: list[str], marketplaces: list[str], latency_ms: float, workdir: Path) -> Run:
    from sqlalchemy import func, select

    from benchmarks.mix_run import _settings
    from code2asin.db import Database
    from code2asin.ingest import open_table
    from code2asin.jobs.creation import NewJob, create_job
    from code2asin.jobs.dispatch import EmbeddedDispatcher
    from code2asin.jobs.lifecycle import JobAction
    from code2asin.jobs.models import ItemStatus, JobItem, JobMode
    from code2asin.jobs.service import get_job, transition
    from code2asin.providers.ratelimit import InProcessLimiter
    from code2asin.sandbox.server import SandboxQuotas, SandboxServer

    run = Run(marketplaces)
    folder = workdir / "-".join(marketplaces)
    folder.mkdir()
    path = folder / "codes.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["EAN", "Désignation"])
        writer.writerows([code, f"Produit {n}"] for n, code in enumerate(codes))
    url = f"sqlite:///{folder / 'jobs.db'}"
    server = SandboxServer("127.0.0.1", 0, latency_ms=latency_ms, quotas=SandboxQuotas()).start()
    db = Database(url)
    dispatcher = None
    try:
        db.upgrade()
        job_id = create_job(
            db,
            open_table(path),
            NewJob("BENCH", JobMode.AMAZON, marketplaces[0], plan, path.name, marketplaces=marketplaces),
        )
        with db.unit_of_work() as session:
            transition(session, get_job(session, job_id), JobAction.START, actor="bench")
        dispatcher = EmbeddedDispatcher(
            _settings(server, url, folder), db, limiter=InProcessLimiter(), sweep_seconds=3600
        )
        started = time.perf_counter()
        dispatcher.dispatch(job_id)
        dispatcher.wait(job_id)
        run.seconds = time.perf_counter() - started
        with db.unit_of_work() as session:
            job = get_job(session, job_id)
            run.status, run.results = job.status, job.processed_codes
            run.matched = dict(
                session.execute(
                    select(JobItem.marketplace, func.count())
                    .where(JobItem.job_id == job_id, JobItem.status == ItemStatus.MATCHED)
                    .group_by(JobItem.marketplace)
                ).all()
            )
        run.rows = len(codes)
        api = [e for e in server.request_log if e.kind == "api"]
        run.calls = Counter(e.operation for e in api)
        run.throttled = sum(1 for e in api if e.status == 429)
    finally:
        if dispatcher is not None:
            dispatcher.close()
        server.stop()
        db.dispose()
    return run


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks marketplaces")
    parser.add_argument("--plan", default="spapi+creators")
    parser.add_argument("--codes", type=int, default=400)
    parser.add_argument("--marketplaces", default="FR,DE,IT")
    parser.add_argument("--latency-ms", type=float, default=150.0)
    args = parser.parse_args(argv)

    from code2asin.sandbox.sample_codes import multi_marketplace_codes

    markets = [m.strip().upper() for m in args.marketplaces.split(",") if m.strip()]
    codes = [c.code for c in multi_marketplace_codes(args.codes, markets)]
    with tempfile.TemporaryDirectory(prefix="code2asin-bench-mkt-") as tmp:
        baseline = _run(args.plan, codes, markets[:1], args.latency_ms, Path(tmp))
        several = _run(args.plan, codes, markets, args.latency_ms, Path(tmp))

    print(
        f"\nplan {args.plan}; {len(codes):,} codes sold on {', '.join(markets)}; sandbox default quotas with "
        f"their scopes; {args.latency_ms:.0f} ms latency\n"
    )
    print("| job | status | s | result rows | result rows/h | time vs 1 | rows/h vs 1 | matched | 429s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in (baseline, several):
        matched = ", ".join(f"{m} {run.matched.get(m, 0)}" for m in run.marketplaces)
        print(
            f"| {'+'.join(run.marketplaces)} | {run.status} | {run.seconds:.1f} | {run.results:,} | "
            f"{run.per_hour:,.0f} | {run.seconds / baseline.seconds:.2f}× | "
            f"{run.per_hour / baseline.per_hour:.2f}× | {matched} | {run.throttled} |"
        )
    print()
    for run in (baseline, several):
        calls = ", ".join(f"{op} {n}" for op, n in sorted(run.calls.items()))
        print(f"calls, {'+'.join(run.marketplaces)}: {calls}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
