"""Codes per hour per provider plan (issue 8), under the providers' default quotas, on the real job path.

``python -m benchmarks mix [--plans creators,spapi,...] [--seconds 45] [--latency-ms 150] [--quick]
[--parallel]``

Each plan runs in its own process (spawn) against its own in-process ``SandboxServer`` with Amazon's and
Keepa's default quotas enforced (``SandboxQuotas()``: Creators 1 request/s burst 1; SP-API catalog 2/s
burst 2; SP-API pricing 0.5/s burst 1; Keepa 1,200 tokens refilled by 20 a minute) and ``--latency-ms``
added to every answer. One job is created from a generated CSV (unique valid codes the sandbox catalogue
knows, plus ``--unknown-share`` of codes it does not know) on a fresh SQLite database, so the lookup cache
starts empty, and started; the production ``EmbeddedDispatcher`` (4 chunk threads, an in-process
limiter) runs it for ``--seconds``. Nothing here re-implements the lookups: ``build_plan``, the
``ChunkRunner`` and the lookup cache do all of it.

What is counted. Rows commit 100 at a time (one chunk), and 4 chunk threads sharing one quota progress in
step: a Creators chunk needs 100 ``searchItems`` at 1/s, so with 4 in flight the first rows of a
``creators`` job commit after about 400 s, and an SP-API job's first after about 50 s. Terminal rows in a
45 s window would be 0 for most plans. So at the deadline the database is copied (SQLite backup; the
live job is then paused) and the copy is *drained*: the production ``ChunkRunner`` runs every chunk the
job had started, with providers that cannot be reached (every call fails as a network fault) and a clock a
day ahead (leases expired, retries due). A row ends there only if every answer it needs was fetched
within the window and sits in the lookup cache; rows that still need a call stay pending. ``done`` is the
rows ended in the copy (``committed``: those the live job had already committed), and ``codes/h`` is
``done / window x 3600``.

Keepa. Its quota is a token balance, not a rate: an idle key holds up to 60 refills (1,200 tokens at 20 a
minute) and a job spends it in seconds, then runs at the refill rate. Every plan starts with the full
balance (a key at rest). A Keepa *enrich* stage still owed at the deadline runs in the drain against a
second, unmetered sandbox: while the balance lasts Keepa costs tokens, not time (one call per 100 ASINs),
so the window figure is the plan's speed while the balance lasts. ``sustained`` is what an hour-long run
keeps up once the balance is spent: for a plan with a Keepa stage ``min(codes/h, 20 x 60 / a)`` (marked
``*``: derived from the measured ``a``, the run is too short to wait out refills); for the others the
window figure itself (their buckets hold at most 2 requests).

Ceiling (theoretical codes per hour of the plan's bottleneck quota, ``ceiling`` and ``bottleneck``)::

    ceiling = 3600 x min over the quotas q the plan uses of  rate_q / demand_q

    quota (default rate)                      demand per code
    Creators credential (1 request/s,         identify  searchItems, 1 code per call        1
      searchItems and getItems share it)      enrich    getItems, 10 ASINs per call          a / 10
    SP-API catalog (2 requests/s)             identify  searchCatalogItems, 20 codes/call    1 / 20
    SP-API pricing (0.5 request/s)            enrich    getCompetitivePricing, 20 ASINs/call a / 20
    Keepa (20 tokens/min once the             identify  /product?code=, 100 codes per call   a tokens
      1,200-token balance is spent)           enrich    /product?asin=, 100 ASINs per call   a tokens

``a`` is the candidate ASINs per looked-up code, measured per plan from the identify answers in the lookup
cache (an unknown code has none; Keepa charges one token per product returned, at most 5 per code with
``code-limit=5``). The ``spapi`` plan prices its candidates with SP-API pricing. So: ``creators`` 3,600;
``spapi`` ``min(144,000, 36,000 / a)``; ``spapi+creators`` ``min(144,000, 36,000 / a)`` (getItems);
``keepa`` ``1,200 / a``; ``creators+keepa`` ``min(3,600, 1,200 / a)``; ``spapi+creators+keepa``
``min(144,000, 36,000 / a, 1,200 / a)``. SP-API's second pages (20 codes with more than 20 items) are not
in the ceiling: the measured calls per code show them. Our limiter paces 1 % + 10 ms under each quota,
so about 98 % is the most a Creators- or pricing-bound plan can reach; stages run one after the other
within a chunk (identify, then each enrich stage), which costs more where no other chunk fills the gap.

Also printed, from the sandbox's request log over the window: provider calls per code by operation
(identify operations: calls per distinct code sent; enrich operations: calls x ``a`` per distinct ASIN
sent; token requests as counts), the 429 answers, and when the bottleneck rate quota was first used and
how busy it was from then on (``(calls - 1) / (last - first)`` over its rate: the pacing, apart from the
pipeline's fill). ``vs creators`` divides ``sustained`` by the ``creators`` plan's (the PA-API successor a
seller starts with), always measured first in the same run.

A cold 45 s window includes the pipeline's fill: an SP-API plan's 4 chunks identify first (about 50
catalog calls at 2/s) before their first enrich call, so its window figure sits well under a long run's.
``--parallel`` runs every plan at once, each with its own sandbox (its own quotas) and database, so a
steady-state run (``--parallel --seconds 300``) still takes about 6 minutes. The benchmark asserts
nothing about timings.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
from pathlib import Path

from benchmarks.mix_report import print_details, print_table
from benchmarks.mix_results import BASELINE, MARKETPLACE, PLANS, PlanResult
from benchmarks.mix_run import Running, collect_plan, start_plan, write_codes


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks mix")
    parser.add_argument(
        "--plans", default=",".join(PLANS), help=f"comma-separated (default {','.join(PLANS)})"
    )
    parser.add_argument("--seconds", type=float, default=45.0, help="window per plan (default 45)")
    parser.add_argument("--quick", action="store_true", help="10 s per plan (a smoke run)")
    parser.add_argument("--latency-ms", type=float, default=150.0, help="added to every sandbox answer")
    parser.add_argument(
        "--codes", type=int, default=0, help="codes in the job (default: more than any plan converts)"
    )
    parser.add_argument("--unknown-share", type=float, default=0.10, help="codes the catalogue does not know")
    parser.add_argument(
        "--chunk-workers", type=int, default=None, help="chunk threads (default: the dispatcher's)"
    )
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="run the plans at once, each on its own sandbox and quotas (total time ~ one window)",
    )
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    seconds = 10.0 if args.quick else args.seconds
    if seconds <= 0:
        parser.error("--seconds must be positive")

    from code2asin.errors import ConfigurationError
    from code2asin.providers.plan import parse_plan

    plans = [p.strip().lower() for p in args.plans.split(",") if p.strip()]
    for plan_name in plans:
        try:
            parse_plan(plan_name)
        except ConfigurationError as exc:
            parser.error(str(exc))
    plans = [BASELINE, *(p for p in dict.fromkeys(plans) if p != BASELINE)]  # the baseline runs first
    count = args.codes or int(1500 + 15 * seconds)

    with tempfile.TemporaryDirectory(prefix="c2a-bench-mix-") as tmp:
        folder = Path(tmp)
        csv_path = folder / "codes.csv"
        known, unknown = write_codes(csv_path, count, args.unknown_share, args.seed)
        print(
            f"{known + unknown:,} codes ({known:,} in the sandbox catalogue, {unknown:,} unknown), "
            f"marketplace {MARKETPLACE}; sandbox default quotas (Creators 1/s, SP-API catalog 2/s burst 2, "
            f"pricing 0.5/s, Keepa 1,200 tokens + 20/min), latency {args.latency_ms:.0f} ms; "
            f"{seconds:.0f} s per plan, embedded dispatcher, SQLite, empty lookup cache"
        )
        ctx = mp.get_context("spawn")
        timeout = seconds + 300

        def start(plan_name: str) -> Running:
            return start_plan(ctx, plan_name, csv_path, folder, seconds, args.latency_ms, args.chunk_workers)

        def report(r: PlanResult) -> PlanResult:
            print(
                f"  {r.plan}: {r.done} rows done in {r.window:.1f} s ({r.committed} committed), "
                f"{r.codes_per_hour:,.0f} codes/h",
                flush=True,
            )
            return r

        if args.parallel:
            print("  plans run at once, each on its own sandbox (its own quotas) and database")
            running = [start(p) for p in plans]
            results = [report(collect_plan(r, timeout)) for r in running]
        else:
            results = [report(collect_plan(start(p), timeout)) for p in plans]
    print()
    print_table(results, results[0])
    print_details(results)
    print(
        "\ndone: rows ended on answers fetched within the window (committed: already written by the live "
        "job); codes/h = done / window; sustained: * = bound by Keepa's refill (20 tokens/min over a tokens "
        "per code), else = codes/h; ceiling: the bottleneck quota's codes/h (module docstring); a: candidate "
        "ASINs per looked-up code"
    )



if __name__ == "__main__":
    main(sys.argv[1:])
