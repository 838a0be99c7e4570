"""Quota utilisation benchmark (issue 3, item 11a): how much of Amazon's quota our pacing uses.

One ``SandboxServer`` (Amazon's default quotas enforced: Creators 1 request/s, SP-API catalog 2 requests/s
burst 2; 150 ms added latency) serves every configuration. Each worker is a separate OS process (spawn)
running our real client as ``providers.plan.build_plan`` builds it (its own ``httpx.Client``), sharing
one ``RedisLimiter`` (the distributed mode); the in-process limiter is measured for one worker. The
baseline, in the same run and over the same codes: python-amazon-paapi's ``AmazonCreatorsApi`` with its
own per-client ``throttling=1`` calling ``search_items(keywords=code)`` in a loop, with 1 worker and with
2 workers (each process its own client, sharing one credential's quota).

Measures (from the sandbox's request log, whose clock is the quota's):

* ``req/s`` and ``codes/h``: the sustained rate. Over the successful API calls (HTTP 200, or 404 for a
  code Amazon does not know, which is still a lookup) that reached the sandbox between the end of a
  warm-up (2 s: the token fetch and SP-API's initial burst of 2) and the end of the window,
  ``(calls - 1) / (last - first)``; codes/h = that × codes per successful call × 3600. The "- 1" is the
  fence-post correction: at 1 request/s a 30 s window holds 30 or 31 calls depending on phase, ±3 %,
  which is the very margin under test.
* ``% of max``: codes/h over the theoretical maximum ``quota × codes per call × 3600`` (Creators 1 code
  per ``searchItems``; SP-API 20 codes per ``searchCatalogItems``). SP-API's real codes per call is
  lower when 20 codes have more than 20 items (a second page is a second call); ``req %`` isolates the
  pacing from that.
* ``wall %``: the plain ratio, codes answered by calls that ended within the window over the window
  (start-up, token fetch and burst included), as a cross-check.
* ``429s``: throttled answers in the sandbox's log for the configuration (retries included).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import multiprocessing.synchronize
import queue
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CREATORS, SPAPI = "creators", "spapi"
MARKETPLACE = "FR"
WARMUP_SECONDS = 2.0
SETTLE_SECONDS = 1.5  # the sandbox's buckets (burst / rate = 1 s) refill between configurations
OK_STATUSES = frozenset({200, 404})
API_OPERATION = {CREATORS: "searchItems", SPAPI: "searchCatalogItems"}
CODES_PER_CALL = {CREATORS: 1, SPAPI: 20}

Code = tuple[str, str, str]  # (gtin, code as written, code type): a picklable LookupCode


@dataclass(frozen=True)
class Target:
    """Where the shared sandbox listens (picklable for the worker processes)."""

    base_url: str
    cognito_token_url: str
    lwa_token_url: str


@dataclass(frozen=True)
class Config:
    provider: str  # creators | spapi
    client: str  # ours | paapi
    limiter: str  # redis | in-process | per-client
    workers: int


@dataclass
class Row:
    config: Config
    calls: int = 0  # successful API calls (whole run)
    codes: int = 0  # codes answered without error (whole run, client side)
    req_per_s: float = 0.0
    codes_per_hour: float = 0.0
    wall_codes: int = 0
    throttled: int = 0
    errors: Counter[str] = field(default_factory=Counter)


# -- worker processes ------------------------------------------------------------------------------


def sandbox_endpoints(target: Target, *, creators_rate: float = 1.0, catalog_rate: float = 2.0) -> Any:
    """``providers.plan.Endpoints`` on the sandbox at ``target`` (what ``Endpoints.sandbox`` sets)."""
    from code2asin.providers import plan as plans
    from code2asin.sandbox import server as sandbox

    version = plans._sandbox_version(MARKETPLACE)
    return plans.Endpoints(
        creators_api_url=target.base_url,
        creators_token_url=target.cognito_token_url if version.startswith("2.") else target.lwa_token_url,
        creators_id=sandbox.DEFAULT_CREDENTIAL_ID,
        creators_secret=sandbox.DEFAULT_CREDENTIAL_SECRET,
        creators_version=version,
        partner_tag=sandbox.DEFAULT_PARTNER_TAG,
        creators_rate=creators_rate,
        spapi_api_url=target.base_url,
        spapi_token_url=target.lwa_token_url,
        spapi_client_id=sandbox.DEFAULT_LWA_CLIENT_ID,
        spapi_client_secret=sandbox.DEFAULT_LWA_CLIENT_SECRET,
        spapi_refresh_token=sandbox.DEFAULT_REFRESH_TOKEN,
        spapi_catalog_rate=catalog_rate,
        spapi_catalog_burst=2,
        spapi_pricing_rate=0.5,
    )


def _our_identify(target: Target, provider: str, limiter_kind: str, redis_url: str, prefix: str) -> Any:
    """Build the provider as ``build_plan`` does, on the shared sandbox; return (identify, close)."""
    from code2asin.config import Settings
    from code2asin.providers.plan import build_plan
    from code2asin.providers.ratelimit import InProcessLimiter, RateLimiter, RedisLimiter

    limiter: RateLimiter
    if limiter_kind == "redis":
        from redis import Redis

        limiter = RedisLimiter(Redis.from_url(redis_url), prefix=prefix)
    else:
        limiter = InProcessLimiter()
    built = build_plan(
        Settings(_env_file=None), provider, MARKETPLACE, endpoints=sandbox_endpoints(target), limiter=limiter
    )
    return built.identify.identify, built.close


def _worker(
    config: Config,
    target: Target,
    batches: list[list[Code]],
    redis_url: str,
    prefix: str,
    seconds: float,
    ready: mp.Queue[Any],
    go: multiprocessing.synchronize.Event,
    start_at: Any,
    results: mp.Queue[Any],
) -> None:
    """One worker process: set up, wait for the common start, look codes up until the window ends."""
    try:
        close = None
        if config.client == "ours":
            from code2asin.providers.base import LookupCode

            identify, close = _our_identify(target, config.provider, config.limiter, redis_url, prefix)
            lookups = [[LookupCode(*c) for c in batch] for batch in batches]

            def run(i: int) -> tuple[int, Counter[str]]:
                outcomes = identify(lookups[i % len(lookups)])
                failed = Counter(str(o.error.error_type) for o in outcomes.values() if o.error is not None)
                return len(outcomes) - sum(failed.values()), failed
        else:
            from amazon_creatorsapi import AmazonCreatorsApi
            from amazon_creatorsapi.errors import (
                AmazonCreatorsApiError,
                ItemsNotFoundError,
                TooManyRequestsError,
            )

            from code2asin.providers.plan import _sandbox_version
            from code2asin.sandbox import server as sandbox

            version = _sandbox_version(MARKETPLACE)
            api = AmazonCreatorsApi(
                sandbox.DEFAULT_CREDENTIAL_ID,
                sandbox.DEFAULT_CREDENTIAL_SECRET,
                version,
                sandbox.DEFAULT_PARTNER_TAG,
                country="FR",  # MARKETPLACE
                throttling=1,
                host=target.base_url,
                auth_endpoint=target.cognito_token_url if version.startswith("2.") else target.lwa_token_url,
            )
            close = api.close if hasattr(api, "close") else None
            keywords = [batch[0][1] for batch in batches]

            def run(i: int) -> tuple[int, Counter[str]]:
                try:
                    api.search_items(keywords=keywords[i % len(keywords)])
                except ItemsNotFoundError:
                    pass  # 404: the code is unknown, which is an answer
                except TooManyRequestsError:
                    return 0, Counter(["api_rate_limit (after the library's retries)"])
                except AmazonCreatorsApiError as exc:
                    return 0, Counter([type(exc).__name__])
                return 1, Counter()

        ready.put("ready")
        go.wait(timeout=120)
        start = start_at.value
        deadline = start + seconds
        time.sleep(max(0.0, start - time.time()))
        ok = wall = calls = 0
        errors: Counter[str] = Counter()
        while time.time() < deadline:
            answered, failed = run(calls)
            calls += 1
            ok += answered
            errors += failed
            if time.time() <= deadline:
                wall += answered
        if close is not None:
            close()
        results.put({"ok": ok, "wall": wall, "errors": dict(errors)})
    except BaseException:  # reported by the parent, which stops the benchmark
        ready.put("failed")
        results.put({"failure": traceback.format_exc()})


# -- the parent ------------------------------------------------------------------------------------


def _codes(count: int, seed: int) -> list[Code]:
    from code2asin.barcodes import parse_code
    from code2asin.sandbox.sample_codes import generate_codes

    out: list[Code] = []
    for raw in generate_codes(count, seed=seed):
        parsed = parse_code(raw)
        if parsed.valid and parsed.gtin and parsed.code and parsed.code_type:
            out.append((parsed.gtin, parsed.code, str(parsed.code_type)))
    return out


def _spapi_batches(codes: list[Code]) -> list[list[Code]]:
    """Full batches of 20 codes of one ``identifiersType``: one call each (unless a second page)."""
    from code2asin.providers.base import LookupCode
    from code2asin.providers.spapi import request_identifier

    groups: dict[str, list[Code]] = {}
    for code in codes:
        groups.setdefault(request_identifier(LookupCode(*code))[0], []).append(code)
    batches = [g[i : i + 20] for g in groups.values() for i in range(0, len(g) - 19, 20)]
    return sorted(batches, key=lambda b: b[0][0])  # interleave identifier types deterministically


def _run(
    sandbox: Any,
    ctx: mp.context.SpawnContext,
    config: Config,
    batches: list[list[Code]],
    seconds: float,
    redis_url: str,
    run_id: str,
) -> Row:
    sandbox.clear_log()
    prefix = f"bench_quota:{run_id}:{config.provider}:{config.limiter}:{config.workers}:"
    target = Target(sandbox.base_url, sandbox.cognito_token_url, sandbox.lwa_token_url)
    ready: mp.Queue[Any] = ctx.Queue()
    results: mp.Queue[Any] = ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(
            target=_worker,
            args=(
                config,
                target,
                batches[w :: config.workers],
                redis_url,
                prefix,
                seconds,
                ready,
                go,
                start_at,
                results,
            ),
            name=f"bench-quota-{config.client}-{w}",
            daemon=True,
        )
        for w in range(config.workers)
    ]
    outcomes: list[dict[str, Any]] = []
    try:
        for proc in procs:
            proc.start()
        states = [ready.get(timeout=120) for _ in procs]
        start_at.value = time.time() + 0.3
        go.set()
        if "failed" not in states:
            outcomes = [results.get(timeout=seconds + 120) for _ in procs]
        else:
            outcomes = [results.get(timeout=10)]
    except queue.Empty:
        raise SystemExit(f"{config}: a worker did not answer in time") from None
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    failures = [o["failure"] for o in outcomes if "failure" in o]
    if failures:
        raise SystemExit(f"{config}: a worker failed:\n{failures[0]}")
    start, end = start_at.value, start_at.value + seconds
    api = [e for e in sandbox.request_log if e.operation == API_OPERATION[config.provider]]
    good = sorted(e.time for e in api if e.status in OK_STATUSES)
    steady = [t for t in good if start + WARMUP_SECONDS <= t <= end]
    row = Row(config)
    row.calls = len(good)
    row.codes = sum(o["ok"] for o in outcomes)
    row.wall_codes = sum(o["wall"] for o in outcomes)
    row.throttled = sum(1 for e in api if e.status == 429)
    for o in outcomes:
        row.errors.update(o["errors"])
    if len(steady) >= 2 and row.calls:
        row.req_per_s = (len(steady) - 1) / (steady[-1] - steady[0])
        row.codes_per_hour = row.req_per_s * (row.codes / row.calls) * 3600
    return row


def _limiter_ceiling(rate: float, burst: int) -> float:
    from code2asin.providers.ratelimit import paced_interval

    return 1.0 / (paced_interval(rate, burst) * rate)


def _print_row(row: Row, seconds: float) -> None:
    c = row.config
    rate = {CREATORS: 1.0, SPAPI: 2.0}[c.provider]
    maximum = rate * CODES_PER_CALL[c.provider] * 3600
    client = "ours" if c.client == "ours" else "python-amazon-paapi"
    per_call = row.codes / row.calls if row.calls else 0.0
    errors = ", ".join(f"{k} {v}" for k, v in sorted(row.errors.items())) or "0"
    print(
        f"{c.provider:<9}{client:<21}{c.limiter:<11}{c.workers:>3}{row.calls:>7}{row.codes:>7}{per_call:>7.2f}"
        f"{row.req_per_s:>8.3f}{100 * row.req_per_s / rate:>7.2f}{row.codes_per_hour:>10,.0f}"
        f"{100 * row.codes_per_hour / maximum:>9.2f}{100 * row.wall_codes / seconds / (maximum / 3600):>8.1f}"
        f"{row.throttled:>6}  {errors}"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks quota")
    parser.add_argument("--seconds", type=float, default=30.0, help="window per configuration (default 30)")
    parser.add_argument("--quick", action="store_true", help="10 s per configuration")
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--codes", type=int, default=6000, help="generated codes to draw from")
    args = parser.parse_args(argv)
    seconds = 10.0 if args.quick else args.seconds
    if seconds <= WARMUP_SECONDS + 2:
        parser.error(f"--seconds must exceed {WARMUP_SECONDS + 2:.0f}")

    from redis import Redis
    from redis.exceptions import RedisError

    from code2asin.sandbox.server import SandboxQuotas, SandboxServer

    redis = Redis.from_url(args.redis_url)
    try:
        redis.ping()
    except RedisError as exc:
        raise SystemExit(f"Redis at {args.redis_url} is needed for the distributed limiter: {exc}") from None
    run_id = uuid.uuid4().hex[:8]
    codes = _codes(args.codes, seed=311)
    creators_batches = [[c] for c in codes]
    spapi_batches = _spapi_batches(codes)
    configs = [
        *(
            Config(CREATORS, "ours", lim, n)
            for lim, n in (("in-process", 1), ("redis", 1), ("redis", 2), ("redis", 4))
        ),
        Config(CREATORS, "paapi", "per-client", 1),
        Config(CREATORS, "paapi", "per-client", 2),
        *(
            Config(SPAPI, "ours", lim, n)
            for lim, n in (("in-process", 1), ("redis", 1), ("redis", 2), ("redis", 4))
        ),
    ]
    print(
        f"sandbox: Amazon's default quotas (Creators 1/s, SP-API catalog 2/s burst 2), latency "
        f"{args.latency_ms:.0f} ms; {seconds:.0f} s per configuration, warm-up {WARMUP_SECONDS:.0f} s; "
        f"{len(codes):,} valid generated codes ({len(spapi_batches)} SP-API batches of 20)"
    )
    print(
        f"our limiter's ceiling: Creators {100 * _limiter_ceiling(1.0, 1):.2f} % (1 % + 10 ms under), "
        f"SP-API {100 * _limiter_ceiling(2.0, 2):.2f} % (1 % under, a burst token kept) of the quota"
    )
    ctx = mp.get_context("spawn")
    rows: list[Row] = []
    sandbox = SandboxServer(port=0, latency_ms=args.latency_ms, quotas=SandboxQuotas()).start()
    try:
        print(
            f"{'provider':<9}{'client':<21}{'limiter':<11}{'wk':>3}{'calls':>7}{'codes':>7}{'c/call':>7}"
            f"{'req/s':>8}{'req %':>7}{'codes/h':>10}{'% of max':>9}{'wall %':>8}{'429s':>6}  errors"
        )
        for config in configs:
            time.sleep(SETTLE_SECONDS)
            batches = creators_batches if config.provider == CREATORS else spapi_batches
            row = _run(sandbox, ctx, config, batches, seconds, args.redis_url, run_id)
            rows.append(row)
            _print_row(row, seconds)
    finally:
        sandbox.stop()
        stale = list(redis.scan_iter(match=f"bench_quota:{run_id}:*"))
        if stale:
            redis.delete(*stale)
        redis.close()
    by = {(r.config.provider, r.config.client, r.config.limiter, r.config.workers): r for r in rows}
    base = by[(CREATORS, "paapi", "per-client", 1)]
    for limiter in ("in-process", "redis"):
        ours = by[(CREATORS, "ours", limiter, 1)]
        if base.codes_per_hour:
            print(
                f"ours ({limiter}) / python-amazon-paapi, Creators, 1 worker: "
                f"{ours.codes_per_hour:,.0f} / {base.codes_per_hour:,.0f} codes/h = "
                f"{ours.codes_per_hour / base.codes_per_hour:.3f}x "
                f"(429s: {ours.throttled} vs {base.throttled})"
            )
    print(
        "req %: sustained requests/s over the quota; % of max: codes/h over quota x codes per call x 3600 "
        "(Creators 1, SP-API 20); wall %: codes answered within the window over the window at that maximum; "
        "calls (successful API calls) and codes: whole run; 429s: the sandbox's log, retries included"
    )
    ours_429 = sum(r.throttled for r in rows if r.config.client == "ours")
    print(f"429s caused by our pacing: {ours_429}")
