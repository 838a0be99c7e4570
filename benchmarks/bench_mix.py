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
import csv
import logging
import math
import multiprocessing as mp
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from code2asin.config import Settings
    from code2asin.errors import ProviderError
    from code2asin.providers.base import Candidate, LookupCode, LookupOutcome
    from code2asin.sandbox.server import LoggedRequest, SandboxServer

PLANS = ("creators", "spapi", "keepa", "spapi+creators", "creators+keepa", "spapi+creators+keepa")
BASELINE = "creators"
MARKETPLACE = "FR"
OK_STATUSES = frozenset({200, 404})
IDENTIFY_OPS = frozenset({"searchItems", "searchCatalogItems", "keepaProduct(code)"})
ENRICH_OPS = frozenset({"getItems", "getCompetitivePricing", "keepaProduct(asin)"})
COUNTED_OPS = ("token", "keepaToken")
DRAIN_CLOCK_AHEAD = timedelta(days=1)
#: tokens the Keepa client wants before a full call (one per code or ASIN sent, 100 per call)
KEEPA_CALL_TOKENS = 100
QUOTA_LABELS = {
    "creators": "Creators {rate:g}/s",
    "catalog": "SP-API catalog {rate:g}/s",
    "pricing": "SP-API pricing {rate:g}/s",
    "keepa": "Keepa {per_minute:g} tok/min",
}


@dataclass
class OpStats:
    """One sandbox operation over the window: answered calls, what they carried, throttled calls."""

    calls: int = 0  # answered (HTTP 200, or 404 for an unknown code)
    items: int = 0  # codes or ASINs sent in answered calls
    distinct: int = 0  # distinct codes or ASINs among them
    throttled: int = 0  # HTTP 429
    other: int = 0  # any other status
    times: list[float] = field(
        default_factory=list
    )  # when answered calls reached the sandbox (s after start)


@dataclass
class PlanResult:
    plan: str
    window: float = 0.0
    total_rows: int = 0
    committed: int = 0  # rows the live job had committed at the deadline
    done: int = 0  # rows ended after the drain (committed included)
    statuses: dict[str, int] = field(default_factory=dict)
    identified: int = 0  # codes with an identify answer in the lookup cache
    asins_per_code: float = 0.0  # a
    ops: dict[str, OpStats] = field(default_factory=dict)
    keepa_left: int | None = None  # Keepa balance at the deadline
    job_status: str = ""
    job_error: str | None = None
    warnings: dict[str, int] = field(default_factory=dict)
    failure: str | None = None

    @property
    def codes_per_hour(self) -> float:
        return self.done / self.window * 3600 if self.window else 0.0


# -- the codes ------------------------------------------------------------------------------------------


def write_codes(path: Path, count: int, unknown_share: float, seed: int) -> tuple[int, int]:
    """A CSV of ``count`` unique valid codes: known to the sandbox catalogue, plus ``unknown_share`` it
    does not know, shuffled; a known code's title is its main item's (so matching works as usual)."""
    from code2asin.sandbox.catalogue import products_for_gtin
    from code2asin.sandbox.categories import KNOWN_CATEGORIES, code_category
    from code2asin.sandbox.sample_codes import generate_codes

    want_unknown = round(count * unknown_share)
    want_known = count - want_unknown
    known: list[tuple[str, str]] = []
    unknown: list[tuple[str, str]] = []
    seen: set[str] = set()
    for code in generate_codes(count * 20, seed=seed):
        if code in seen:
            continue
        seen.add(code)
        category = code_category(code)
        if category in KNOWN_CATEGORIES and len(known) < want_known:
            items = products_for_gtin(code)
            known.append((code, items[0].title if items else f"Product {code}"))
        elif category == "unknown" and len(unknown) < want_unknown:
            unknown.append((code, f"Product {code}"))
        if len(known) == want_known and len(unknown) == want_unknown:
            break
    rows = known + unknown
    random.Random(seed).shuffle(rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(["ean", "title"])
        writer.writerows(rows)
    return len(known), len(unknown)


# -- one plan, in its own process -----------------------------------------------------------------------


class _WarningCounter(logging.Handler):
    """Counts log events at WARNING and above (``creators.throttled``...) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.counts[record.getMessage()[:80]] += 1


class _Unreachable:
    """A provider stage the drain may not call: every call fails as a network fault, so a row ends only
    on answers already in the lookup cache. Same ``name`` and batch size as the stage it stands for."""

    def __init__(self, name: str, batch_size: int) -> None:
        self.name = name
        self.identify_batch_size = batch_size
        self.enrich_batch_size = batch_size

    def identify(self, codes: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        from code2asin.errors import ErrorType, ProviderError

        raise ProviderError("Not fetched within the benchmark window.", ErrorType.NETWORK)

    def enrich(self, asins: Sequence[str]) -> dict[str, Candidate | ProviderError]:
        from code2asin.errors import ErrorType, ProviderError

        raise ProviderError("Not fetched within the benchmark window.", ErrorType.NETWORK)


def _settings(server: SandboxServer, database_url: str, data_dir: Path) -> Settings:
    """Production settings pointing every provider at ``server`` with the sandbox's test credentials."""
    from pydantic import SecretStr

    from code2asin.config import CreatorsSettings, KeepaSettings, Settings, SpapiSettings
    from code2asin.providers.marketplaces import get_marketplace
    from code2asin.sandbox import server as sandbox

    version = get_marketplace(MARKETPLACE).creators_region_versions[0]
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        broker_url=None,
        marketplace=MARKETPLACE,
        creators=CreatorsSettings(
            _env_file=None,
            credential_id=sandbox.DEFAULT_CREDENTIAL_ID,
            credential_secret=SecretStr(sandbox.DEFAULT_CREDENTIAL_SECRET),
            credential_version=version,
            partner_tag=sandbox.DEFAULT_PARTNER_TAG,
            api_url=server.base_url,
            token_url=server.cognito_token_url if version.startswith("2.") else server.lwa_token_url,
        ),
        spapi=SpapiSettings(
            _env_file=None,
            client_id=sandbox.DEFAULT_LWA_CLIENT_ID,
            client_secret=SecretStr(sandbox.DEFAULT_LWA_CLIENT_SECRET),
            refresh_token=SecretStr(sandbox.DEFAULT_REFRESH_TOKEN),
            api_url=server.base_url,
            token_url=server.lwa_token_url,
        ),
        keepa=KeepaSettings(
            _env_file=None, api_key=SecretStr(sandbox.DEFAULT_KEEPA_KEY), api_url=server.base_url
        ),
    )


def _op_stats(log: list[LoggedRequest], started: float) -> dict[str, OpStats]:
    stats: dict[str, OpStats] = {}
    distinct: dict[str, set[str]] = {}
    for entry in log:
        op = entry.operation
        if op in ("image", "sandboxPrices"):
            continue
        if op == "keepaProduct":
            op = "keepaProduct(code)" if entry.codes else "keepaProduct(asin)"
        s = stats.setdefault(op, OpStats())
        if entry.status == 429:
            s.throttled += 1
        elif entry.status in OK_STATUSES:
            sent = entry.codes or entry.asins
            s.calls += 1
            s.items += len(sent)
            s.times.append(entry.time - started)
            distinct.setdefault(op, set()).update(sent)
        else:
            s.other += 1
    for op, values in distinct.items():
        stats[op].distinct = len(values)
    return stats


def _row_statuses(database_url: str, job_id: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from code2asin.db import Database
    from code2asin.jobs.models import JobItem

    db = Database(database_url)
    try:
        with db.unit_of_work() as session:
            rows = session.execute(
                select(JobItem.status, func.count()).where(JobItem.job_id == job_id).group_by(JobItem.status)
            ).all()
        return {str(status): int(n) for status, n in rows}
    finally:
        db.dispose()


def _drain(settings: Settings, database_url: str, job_id: str, plan_name: str) -> tuple[int, float]:
    """End, in the copy at ``database_url``, every row whose answers were all fetched in the window.

    Returns (codes with an identify answer in the cache, candidate ASINs per such code).
    """
    from sqlalchemy import select

    from code2asin.db import Database
    from code2asin.jobs.cache import LookupCacheStore
    from code2asin.jobs.models import ChunkStatus, JobChunk, LookupCache, utcnow
    from code2asin.jobs.runner import ChunkRunner, Plan
    from code2asin.providers.base import EnrichProvider
    from code2asin.providers.keepa import KeepaClient
    from code2asin.providers.plan import Endpoints, build_plan
    from code2asin.providers.ratelimit import InProcessLimiter
    from code2asin.sandbox.server import SandboxServer

    unmetered = SandboxServer("127.0.0.1", 0, quotas=None).start()
    db = Database(database_url)
    built = build_plan(
        settings,
        plan_name,
        MARKETPLACE,
        endpoints=Endpoints.for_running_sandbox(settings, unmetered, MARKETPLACE),
        limiter=InProcessLimiter(),
    )
    try:
        enrich: list[EnrichProvider] = [
            stage if isinstance(stage, KeepaClient) else _Unreachable(stage.name, stage.enrich_batch_size)
            for stage in built.enrich
        ]
        identify = _Unreachable(built.identify.name, built.identify.identify_batch_size)
        plan = Plan(name=plan_name, identify=identify, enrich=enrich)
        cache = LookupCacheStore(db, settings.cache_ttl_seconds, settings.price_cache_ttl_seconds)
        runner = ChunkRunner(
            db,
            plan,
            cache,
            worker_id="bench-drain",
            sleep=lambda _seconds: None,
            clock=lambda: utcnow() + DRAIN_CLOCK_AHEAD,
        )
        with db.unit_of_work() as session:
            started = list(
                session.scalars(
                    select(JobChunk.chunk_no)
                    .where(
                        JobChunk.job_id == job_id, JobChunk.status != ChunkStatus.DONE, JobChunk.attempts > 0
                    )
                    .order_by(JobChunk.chunk_no)
                )
            )
            answers: list[dict[str, Any]] = list(
                session.scalars(
                    select(LookupCache.payload).where(
                        LookupCache.provider == built.identify.name,
                        LookupCache.marketplace == MARKETPLACE,
                        LookupCache.key.like("gtin:%"),
                    )
                )
            )
        for chunk_no in started:
            runner.run_chunk(job_id, chunk_no)
        candidates = sum(len(list(p.get("candidates") or [])) for p in answers)
        return len(answers), candidates / len(answers) if answers else 0.0
    finally:
        built.close()
        db.dispose()
        unmetered.stop()


def _snapshot(live_path: Path, copy_path: Path) -> None:
    """A consistent copy of the live SQLite database (what was committed at this instant)."""
    source = sqlite3.connect(live_path)
    target = sqlite3.connect(copy_path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def measure_plan(
    plan_name: str,
    csv_path: Path,
    workdir: Path,
    seconds: float,
    latency_ms: float,
    chunk_workers: int | None,
) -> PlanResult:
    """Run one job of ``plan_name`` for ``seconds`` on a fresh sandbox and database; see the module doc."""
    for name in [k for k in os.environ if k.startswith("CODE2ASIN_")]:
        del os.environ[name]  # the run uses the production defaults, not this shell's settings
    counter = _WarningCounter()
    logging.getLogger().addHandler(counter)

    from code2asin.db import Database
    from code2asin.ingest import open_table
    from code2asin.jobs.creation import NewJob, create_job
    from code2asin.jobs.dispatch import EmbeddedDispatcher
    from code2asin.jobs.lifecycle import JobAction
    from code2asin.jobs.models import Job, JobMode, JobStatus
    from code2asin.jobs.service import get_job, transition
    from code2asin.providers.ratelimit import InProcessLimiter
    from code2asin.sandbox.server import DEFAULT_KEEPA_KEY, SandboxQuotas, SandboxServer

    result = PlanResult(plan_name)
    live_path, copy_path = workdir / "live.db", workdir / "window.db"
    live_url, copy_url = f"sqlite:///{live_path}", f"sqlite:///{copy_path}"
    server = SandboxServer("127.0.0.1", 0, latency_ms=latency_ms, quotas=SandboxQuotas()).start()
    settings = _settings(server, live_url, workdir)
    db = Database(live_url)
    db.upgrade()
    job_id = create_job(
        db,
        open_table(csv_path),
        NewJob(
            supplier_code="BENCH",
            mode=JobMode.AMAZON,
            marketplace=MARKETPLACE,
            provider_plan=plan_name,
            source_filename=csv_path.name,
            actor="bench",
        ),
    )
    with db.unit_of_work() as session:
        transition(session, get_job(session, job_id), JobAction.START, actor="bench")
    server.keepa_tokens.status(DEFAULT_KEEPA_KEY)  # a key at rest: full balance, refills from now
    options = {} if chunk_workers is None else {"chunk_workers": chunk_workers}
    dispatcher = EmbeddedDispatcher(settings, db, limiter=InProcessLimiter(), **options)
    started = time.time()
    dispatcher.dispatch(job_id)
    time.sleep(max(0.0, started + seconds - time.time()))
    deadline = time.time()
    _snapshot(live_path, copy_path)
    result.window = deadline - started
    result.keepa_left = server.keepa_tokens.status(DEFAULT_KEEPA_KEY).tokens_left
    result.ops = _op_stats([e for e in server.request_log if e.time <= deadline], started)
    with db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        result.job_status, result.job_error = job.status, job.error_message
        if job.status == JobStatus.PROCESSING:
            # stop the live run: chunks stop between two provider calls; the process exits without them
            transition(session, job, JobAction.PAUSE, actor="bench")
    server.stop()

    before = _row_statuses(copy_url, job_id)
    result.total_rows = sum(before.values())
    result.committed = result.total_rows - before.get("pending", 0)
    result.identified, result.asins_per_code = _drain(settings, copy_url, job_id, plan_name)
    result.statuses = _row_statuses(copy_url, job_id)
    result.done = result.total_rows - result.statuses.get("pending", 0)
    result.warnings = dict(counter.counts)
    return result


def _child(
    plan_name: str,
    csv_path: str,
    workdir: str,
    seconds: float,
    latency_ms: float,
    chunk_workers: int | None,
    conn: Connection,
) -> None:
    """Process entry point: measure, send the result, and exit without waiting for the paused job's
    threads (one may sleep up to a minute on Keepa's refill)."""
    try:
        try:
            result = measure_plan(
                plan_name, Path(csv_path), Path(workdir), seconds, latency_ms, chunk_workers
            )
        except BaseException:
            result = PlanResult(plan_name, failure=traceback.format_exc())
        conn.send(result)
        conn.close()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


Running = tuple[str, mp.process.BaseProcess, Connection]


def start_plan(
    ctx: mp.context.SpawnContext,
    plan_name: str,
    csv_path: Path,
    folder: Path,
    seconds: float,
    latency_ms: float,
    chunk_workers: int | None,
) -> Running:
    workdir = folder / plan_name.replace("+", "_")
    workdir.mkdir()
    receive, send = ctx.Pipe(duplex=False)
    args = (plan_name, str(csv_path), str(workdir), seconds, latency_ms, chunk_workers, send)
    process = ctx.Process(target=_child, args=args, name=f"bench-mix-{plan_name}", daemon=True)
    process.start()
    send.close()
    return plan_name, process, receive


def collect_plan(running: Running, timeout: float) -> PlanResult:
    plan_name, process, receive = running
    try:
        if not receive.poll(timeout):
            raise SystemExit(f"{plan_name}: no result within {timeout:.0f} s")
        result: PlanResult = receive.recv()
    except EOFError:
        raise SystemExit(f"{plan_name}: the measuring process died (exit code {process.exitcode})") from None
    finally:
        receive.close()
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
    if result.failure:
        raise SystemExit(f"{plan_name}: the measurement failed:\n{result.failure}")
    return result


# -- ceilings and the table -----------------------------------------------------------------------------


def quota_rates() -> dict[str, float]:
    """Requests (Keepa: tokens) per second of each quota, as the sandbox enforces them by default."""
    from code2asin.sandbox.server import SandboxQuotas

    q = SandboxQuotas()
    return {
        "creators": q.creators_rps,
        "catalog": q.spapi_catalog_rps,
        "pricing": q.spapi_pricing_rps,
        "keepa": q.keepa_refill_rate / q.keepa_refill_interval_s,
    }


def demands(plan_name: str, a: float) -> dict[str, float]:
    """Quota units each code costs under ``plan_name`` (see the module docstring's table)."""
    from code2asin.providers.creators import CreatorsClient
    from code2asin.providers.plan import parse_plan
    from code2asin.providers.spapi import SpapiClient, SpapiPricing

    stages = parse_plan(plan_name)
    out: dict[str, float] = {}

    def add(quota: str, units: float) -> None:
        out[quota] = out.get(quota, 0.0) + units

    first, *rest = stages
    if first == "creators":
        add("creators", 1 / CreatorsClient.identify_batch_size)
    elif first == "spapi":
        add("catalog", 1 / SpapiClient.identify_batch_size)
    else:
        add("keepa", a)  # one token per product returned
    for stage in rest + (["spapi"] if stages == ["spapi"] else []):
        if stage == "creators":
            add("creators", a / CreatorsClient.enrich_batch_size)
        elif stage == "spapi":
            add("pricing", a / SpapiPricing.enrich_batch_size)
        else:
            add("keepa", a)  # one token per ASIN
    return out


def ceiling(plan_name: str, a: float, *, with_keepa: bool = True) -> tuple[float, str]:
    """(codes per hour, bottleneck quota) of ``plan_name``; ``with_keepa=False``: rate quotas only."""
    rates = quota_rates()
    best, label = math.inf, "none"
    for quota, demand in demands(plan_name, a).items():
        if demand <= 0 or (quota == "keepa" and not with_keepa):
            continue
        codes_per_hour = 3600 * rates[quota] / demand
        if codes_per_hour < best:
            best = codes_per_hour
            label = QUOTA_LABELS[quota].format(rate=rates[quota], per_minute=rates[quota] * 60)
    return best, label


def sustained(result: PlanResult) -> tuple[float, bool]:
    """(codes per hour an hour-long run keeps up, whether the Keepa refill bound it)."""
    keepa = demands(result.plan, result.asins_per_code).get("keepa", 0.0)
    if keepa <= 0:
        return result.codes_per_hour, False
    bound = 3600 * quota_rates()["keepa"] / keepa
    return (bound, True) if bound < result.codes_per_hour else (result.codes_per_hour, False)


QUOTA_OPS = {
    "creators": ("searchItems", "getItems"),
    "catalog": ("searchCatalogItems",),
    "pricing": ("getCompetitivePricing",),
}


def bottleneck_use(result: PlanResult) -> str | None:
    """When the plan's bottleneck rate quota was first used, and how busy it was from then on."""
    rates = quota_rates()
    wanted = {q: d for q, d in demands(result.plan, result.asins_per_code).items() if q in QUOTA_OPS}
    if not wanted:
        return None
    quota = min(wanted, key=lambda q: rates[q] / wanted[q] if wanted[q] else math.inf)
    times = sorted(t for op in QUOTA_OPS[quota] for t in result.ops.get(op, OpStats()).times)
    if len(times) < 2:
        return f"{quota} quota: {len(times)} answered call(s) in the window"
    per_second = (len(times) - 1) / (times[-1] - times[0])
    return (
        f"{quota} quota first used at {times[0]:.1f} s, then {per_second:.2f} req/s "
        f"= {100 * per_second / rates[quota]:.1f} % of its {rates[quota]:g}/s"
    )


def _calls_per_code(result: PlanResult) -> str:
    parts: list[str] = []
    for op, s in sorted(result.ops.items()):
        if op in COUNTED_OPS:
            parts.append(f"{op} x{s.calls}")
            continue
        per_call = s.items / s.calls if s.calls else 0.0
        if op in IDENTIFY_OPS and s.distinct:
            parts.append(f"{op} {s.calls / s.distinct:.3f} ({per_call:.1f} codes/call)")
        elif op in ENRICH_OPS and s.distinct:
            per_code = s.calls * result.asins_per_code / s.distinct
            parts.append(f"{op} {per_code:.3f} ({per_call:.1f} ASINs/call)")
        else:
            parts.append(f"{op} {s.calls} calls")
        if s.throttled or s.other:
            parts[-1] += f" [429: {s.throttled}, other errors: {s.other}]"
    return "; ".join(parts) or "no calls"


def print_table(results: list[PlanResult], baseline: PlanResult) -> None:
    base, _ = sustained(baseline)
    print(
        f"{'plan':<22}{'done':>6}{'commit':>7}{'codes/h':>10}{'sustained':>11}{'ceiling':>10}  "
        f"{'bottleneck':<22}{'% ceil':>7}{'429s':>6}{'a':>6}  ratio"
    )
    for r in results:
        value, keepa_bound = sustained(r)
        top, label = ceiling(r.plan, r.asins_per_code)
        pct = f"{100 * value / top:.1f}" if math.isfinite(top) and top else "-"
        ratio = f"{value / base:.2f}×" if base else "-"
        mark = "*" if keepa_bound else " "
        throttled = sum(s.throttled for s in r.ops.values())
        print(
            f"{r.plan:<22}{r.done:>6}{r.committed:>7}{r.codes_per_hour:>10,.0f}{value:>10,.0f}{mark}"
            f"{top:>10,.0f}  {label:<22}{pct:>7}{throttled:>6}{r.asins_per_code:>6.2f}  "
            f"vs {BASELINE} = {ratio}"
        )


def print_details(results: list[PlanResult]) -> None:
    from code2asin.providers.plan import parse_plan

    print("\nprovider calls per code, by operation (sandbox log over the window):")
    for r in results:
        print(f"  {r.plan:<22}{_calls_per_code(r)}")
    print("\nbottleneck rate quota over the window (sandbox log; the first call ends the pipeline's fill):")
    for r in results:
        print(f"  {r.plan:<22}{bottleneck_use(r) or 'none (Keepa alone)'}")
    notes: list[str] = []
    for r in results:
        if "keepa" in demands(r.plan, r.asins_per_code):
            top, label = ceiling(r.plan, r.asins_per_code, with_keepa=False)
            window = (
                f"{100 * r.codes_per_hour / top:.1f} % of the rate quotas' ceiling {top:,.0f} ({label})"
                if math.isfinite(top)
                else "Keepa alone: the window spends the starting balance"
            )
            notes.append(
                f"{r.plan}: window {r.codes_per_hour:,.0f} codes/h while the balance lasts = {window}; "
                f"Keepa balance at the deadline {r.keepa_left} tokens"
            )
        keepa_enrich = [st for st in parse_plan(r.plan)[1:] if st == "keepa"]
        if keepa_enrich and r.keepa_left is not None and r.keepa_left < KEEPA_CALL_TOKENS:
            notes.append(
                f"{r.plan}: the Keepa balance ran out within the window ({r.keepa_left} tokens left): the "
                "window figure mixes the balance and the refill regimes"
            )
        if r.job_status not in ("processing", "paused"):
            notes.append(
                f"{r.plan}: the job ended in the window ({r.job_status}: {r.job_error or 'no error'})"
            )
        failed = r.statuses.get("failed", 0)
        if failed:
            notes.append(f"{r.plan}: {failed} rows failed")
        if r.warnings:
            events = ", ".join(f"{k} x{v}" for k, v in sorted(r.warnings.items()))
            notes.append(f"{r.plan}: log warnings: {events}")
    if notes:
        print("\nnotes:")
        for note in notes:
            print(f"  {note}")


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
