"""One plan of the mix benchmark, measured in its own process: the job's codes, the sandbox and settings,
the window, the drain, and starting and collecting the processes."""

from __future__ import annotations

import csv
import logging
import multiprocessing as mp
import os
import random
import sys
import threading
import time
import traceback
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from code2asin.config import Settings
    from code2asin.sandbox.server import LoggedRequest, SandboxServer

from benchmarks.mix_drain import _drain, _row_statuses, _snapshot
from benchmarks.mix_results import MARKETPLACE, OK_STATUSES, OpStats, PlanResult

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


