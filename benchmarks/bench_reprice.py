"""Re-pricing benchmark: API calls made vs the minimum, and duration vs the quota-bound minimum.

``python -m benchmarks.bench_reprice --asins 100000 [--scale 100] [--workers 4]`` builds a tracker over N
known (EAN, ASIN) products (a direct-mode job on SQLite), runs one ``reprice`` job against a sandbox whose
SP-API pricing quota is Amazon's 0.5 request/s multiplied by ``--scale`` (time compressed, same shape),
and prints: getCompetitivePricing calls vs ceil(N / 20), throttled answers (429), and the duration vs the
quota-bound minimum ((calls - burst) / rate).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.embedded import run_job
from code2asin.jobs.models import Job, JobMode
from code2asin.jobs.runner import ChunkRunner
from code2asin.pricing.service import TrackerSpec, create_tracker, start_run
from code2asin.providers.plan import Endpoints, build_plan
from code2asin.sandbox import catalogue, categories, sample_codes
from code2asin.sandbox import server as sb
from code2asin.sandbox.common import SandboxQuotas

AMAZON_PRICING_RPS = 0.5
BATCH = 20


def _products(count: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for code in sample_codes.generate_codes(count * 3, seed=11):
        if categories.code_category(code) in {"single", "upc_spelling"}:
            out.append((code, catalogue.products_for_gtin(code)[0].asin))
            if len(out) == count:
                break
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asins", type=int, default=100_000)
    parser.add_argument("--scale", type=float, default=100.0, help="quota speed-up (time compression)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    rate = AMAZON_PRICING_RPS * args.scale
    folder = Path(tempfile.mkdtemp(prefix="code2asin-bench-reprice-"))
    db = Database(f"sqlite:///{folder / 'bench.db'}")
    db.upgrade()
    products = _products(args.asins)
    path = folder / "catalogue.csv"
    path.write_text("EAN;ASIN;Prix\n" + "".join(f"{e};{a};9,99\n" for e, a in products), "utf-8")
    source = creation.create_job(
        db, open_table(path), creation.NewJob("BENCH", JobMode.DIRECT, "FR", "direct", path.name)
    )
    with db.unit_of_work() as session:
        service.start_job(session, source, "bench")
        tracker, _ = create_tracker(
            session, TrackerSpec(source_job_id=source, provider_plan="spapi"), "bench"
        )
        run = start_run(session, tracker, "bench")
    quotas = SandboxQuotas(spapi_pricing_rps=rate, spapi_pricing_burst=1)
    with sb.SandboxServer(port=0, quotas=quotas) as sandbox:
        endpoints = Endpoints.for_running_sandbox(Settings(), sandbox, "FR")
        endpoints.spapi_pricing_rate = rate
        plan = build_plan(Settings(), "spapi", "FR", endpoints=endpoints)
        try:
            runner = ChunkRunner(db, plan, None, worker_id="bench")
            started = time.monotonic()
            run_job(db, runner, run.job_id, workers=args.workers)
            elapsed = time.monotonic() - started
        finally:
            plan.close()
        log = [e for e in sandbox.request_log if e.operation == "getCompetitivePricing"]
    with db.unit_of_work() as session:
        job = session.get(Job, run.job_id)
        assert job is not None
        status, priced = job.status, job.successful_conversions
    db.dispose()
    calls = len(log)
    throttled = sum(1 for e in log if e.status == 429)
    minimum_calls = math.ceil(len(products) / BATCH)
    minimum_seconds = max(0.0, (minimum_calls - 1) / rate)
    figures = {
        "asins": float(len(products)),
        "calls": float(calls),
        "minimum_calls": float(minimum_calls),
        "throttled": float(throttled),
        "seconds": elapsed,
        "minimum_seconds": minimum_seconds,
        "priced": float(priced),
    }
    print(f"re-pricing {len(products)} ASINs, job {status}: {priced} priced")
    print(
        f"getCompetitivePricing calls: {calls} (minimum {minimum_calls}, x{calls / minimum_calls:.3f}), "
        f"429: {throttled}"
    )
    print(
        f"duration: {elapsed:.1f} s vs quota-bound minimum {minimum_seconds:.1f} s at {rate:g} req/s "
        f"(x{elapsed / minimum_seconds if minimum_seconds else float('nan'):.3f})"
    )
    return figures


if __name__ == "__main__":
    main()
