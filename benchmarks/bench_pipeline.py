"""Quota ceiling benchmark (issue 14): how close a job gets to its plan's bottleneck, before and after.

``python -m benchmarks pipeline [--plans spapi+creators,spapi,keepa] [--codes 1000,20000] [--factor 20]
[--workers 1,2] [--modes embedded,celery] [--versions before,after] [--parallel 1] [--baseline a6b1e77]``

Each configuration is one job of sandbox codes run by ``benchmarks/pipeline_run.py`` in its own process,
once with this tree's code and once with the ``--baseline`` commit's (checked out in a temporary git
worktree and put first on ``PYTHONPATH``), so before and after are measured in the same run on the same
machine. Quotas are Amazon's defaults times ``--factor`` (time compressed so 20,000 codes take minutes).
Modes (``--modes``):

* ``embedded``: one worker runs on SQLite; two workers are two processes on a fresh PostgreSQL database
  sharing a Redis limiter (``--postgres-url``, ``--redis-url``);
* ``celery``: N ``code2asin worker`` processes (4 pool processes each) and beat on a fresh PostgreSQL
  database and a private ``redis-server``, configured through ``CODE2ASIN_*`` variables.

``--parallel K`` runs K configurations at once. Each has its own sandbox (its own quota buckets), database
and limiter keys, so they do not share quotas; only the CPU is shared, and a starved CPU delays requests
past the limiter's jitter guard (429s): measured on 2 cores, 24 runs at once gave 19-41 429s per
1,000 codes even at factor 1. Keep K small (a long factor-1 run next to a short one). ``--versions after``
leaves the baseline out (a long factor-1 run whose "before" is measured at a higher factor).

Figures per configuration, from the sandbox's log:

* ``codes/h``: codes over the time from the workers' first request to ``completed`` (their process start-up
  left out: a service's workers are up before the job comes);
* ``ceiling``: the plan's bottleneck, from the calls the run really made: each quota bucket's calls over its
  rate (SP-API catalogue, SP-API pricing, the Creators credential for ``searchItems`` + ``getItems``, the
  Keepa tokens consumed beyond the 1,200 balance at the refill rate: one per product returned, as the
  sandbox logs them), the busiest one; ``% ceil`` = ceiling time / time;
* ``% paced``: the same against this tree's pacing (``ratelimit.paced_seconds``: 1 % under a quota with a
  burst, keeping one token in reserve; 1 % + 10 ms under a burst-1 quota, a guard that is 2 % at Amazon's
  1 request/s but 17 % of a 20x-compressed one), so it isolates what the runner loses;
* ``429s``: throttled answers; ``est s`` / ``est err``: the estimate made before the run (after only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from code2asin.providers.ratelimit import paced_seconds

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "benchmarks" / "pipeline_run.py"
#: bucket -> (operations, requests per second at factor 1, burst)
BUCKETS = {
    "SP-API catalogue": (("searchCatalogItems",), 2.0, 2),
    "SP-API pricing": (("getCompetitivePricing",), 0.5, 1),
    "Creators": (("searchItems", "getItems"), 1.0, 1),
}
KEEPA_BALANCE, KEEPA_REFILL_PER_MINUTE, KEEPA_CALLS_PER_SECOND = 1200, 20, 10.0


def ceiling(result: dict[str, Any], factor: float) -> tuple[float, float, str]:
    """(seconds the busiest bucket needs at the quota, at our pacing, its name)."""
    calls = result["calls"]
    busy: dict[str, tuple[float, float]] = {}
    for name, (operations, rate, burst) in BUCKETS.items():
        n = sum(calls.get(op, 0) for op in operations)
        if n:
            scaled = rate * factor
            busy[name] = (max(n - burst, 0) / scaled, paced_seconds(n, scaled, burst))
    if calls.get("keepaProduct"):
        tokens = result["keepa_tokens"]
        if tokens is None:
            raise SystemExit("The Keepa tokens consumed are unknown: add this tree (--versions after).")
        refill = KEEPA_REFILL_PER_MINUTE * factor / 60.0
        seconds = max(max(tokens - KEEPA_BALANCE, 0) / refill, calls["keepaProduct"] / KEEPA_CALLS_PER_SECOND)
        busy["Keepa"] = (seconds, seconds)
    if not busy:  # the run made no call that a quota counts (every code cached, or the job never ran)
        return 0.0, 0.0, "no calls"
    name = max(busy, key=lambda b: busy[b][0])
    return busy[name][0], busy[name][1], name


@contextmanager
def baseline_tree(ref: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="code2asin-baseline-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), ref],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)],
            check=False,
            capture_output=True,
        )


@contextmanager
def database(workers: int, postgres_url: str, mode: str = "embedded") -> Iterator[str]:
    if workers == 1 and mode == "embedded":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(
    src: Path, plan: str, codes: int, factor: float, workers: int, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(src), str(REPO)))}  # the code, then benchmarks
    with database(workers, args.postgres_url, mode) as url:
        command = [
            *(
                sys.executable,
                str(RUN),
                plan,
                str(codes),
                str(factor),
                str(workers),
                url,
                args.redis_url,
                mode,
            )
        ]
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=6 * 3600)
    if done.returncode != 0:
        raise SystemExit(f"{plan} {codes} x{workers} {mode} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pipeline")
    parser.add_argument("--plans", default="spapi+creators,spapi,keepa,spapi+creators+keepa")
    parser.add_argument("--codes", default="1000,20000")
    parser.add_argument("--factor", type=float, default=20.0)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--modes", default="embedded", help="embedded, celery, or both")
    parser.add_argument("--parallel", type=int, default=1, help="configurations run at once")
    parser.add_argument("--versions", default="before,after", help="before, after, or both")
    parser.add_argument("--baseline", default="a6b1e77", help="git ref measured as 'before'")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CODE2ASIN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("CODE2ASIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    args = parser.parse_args(argv)
    plans = [p for p in args.plans.split(",") if p]
    sizes = [int(n) for n in args.codes.split(",") if n]
    workers = [int(n) for n in args.workers.split(",") if n]
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - {"embedded", "celery"}
    if unknown:
        raise SystemExit(f"Unknown mode {sorted(unknown)[0]!r}: use embedded, celery, or both.")
    print(f"quotas x{args.factor:g}; before = {args.baseline}, after = this tree")
    header = (
        f"{'plan':<22}{'codes':>7}{'mode':>9}{'wk':>4} {'ver':<7}{'seconds':>8}"
        f"{'codes/h':>11}{'ceiling/h':>11}"
        f"{'% ceil':>8}{'% paced':>8}{'429s':>6}{'bottleneck':>18}{'est s':>7}{'est err':>8}{'x before':>9}"
    )
    print(header)
    configurations = [(p, c, m, n) for p in plans for c in sizes for m in modes for n in workers]
    trees = {"before": None, "after": REPO / "src"}
    versions = [v for v in args.versions.split(",") if v in trees] or ["before", "after"]
    with baseline_tree(args.baseline) as before_tree, ThreadPoolExecutor(max(1, args.parallel)) as pool:
        trees["before"] = before_tree / "src"
        runs = {
            (config, version): pool.submit(
                run, tree, config[0], config[1], args.factor, config[3], config[2], args
            )
            for config in configurations
            for version in versions
            if (tree := trees[version]) is not None
        }
        for config in configurations:
            plan, codes, mode, n = config
            before: float | None = None
            results = {version: runs[config, version].result() for version in versions}
            # Keepa charges per product returned, so the same codes cost the same tokens in every version:
            # a baseline whose sandbox does not log them takes this tree's count
            known = [r["keepa_tokens"] for r in results.values() if r["keepa_tokens"] is not None]
            tokens = known[0] if known else None
            for version, result in results.items():
                result["keepa_tokens"] = tokens if result["keepa_tokens"] is None else result["keepa_tokens"]
                print(line(plan, codes, mode, n, version, result, args.factor, before), flush=True)
                before = result["seconds"] if version == "before" else None


def line(
    plan: str,
    codes: int,
    mode: str,
    workers: int,
    version: str,
    result: dict[str, Any],
    factor: float,
    before: float | None,
) -> str:
    """One row of the table (see the module docstring)."""
    seconds = result["seconds"]
    at_quota, paced, bottleneck = ceiling(result, factor)
    est_s = (result.get("estimate") or {}).get("seconds")
    err = f"{(est_s - seconds) / seconds:+.0%}" if est_s is not None else "-"
    ratio = f"{before / seconds:.2f}x" if before is not None else "1.00x"
    ceiling_per_hour = codes / at_quota * 3600 if at_quota else 0.0
    return (
        f"{plan:<22}{codes:>7}{mode:>9}{workers:>4} {version:<7}{seconds:>8.1f}"
        f"{codes / seconds * 3600:>11,.0f}"
        f"{ceiling_per_hour:>11,.0f}{at_quota / seconds:>8.0%}{paced / seconds:>8.0%}{result['throttled']:>6}"
        f"{bottleneck:>18}{'-' if est_s is None else f'{est_s:.1f}':>7}{err:>8}{ratio:>9}"
        + ("" if result["status"] == "completed" else f"  job {result['status']}")
    )
