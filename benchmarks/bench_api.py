"""API latency with 1,000,000 result rows in PostgreSQL (issue 4, item 9).

    .venv/bin/python benchmarks/bench_api.py [--rows 1000000] [--jobs 300] [--requests 200] [--keep]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

1. Creates a fresh database, builds it with the migrations, and loads one completed job of ``--rows``
   result rows with a realistic mix (matched exact/partial/fuzzy/manual with candidates, prices and
   images; not_found; invalid; failed with network/api_rate_limit/unknown errors) plus ``--jobs`` small
   jobs of every status, with PostgreSQL COPY; then VACUUM ANALYZE (as autovacuum would).
2. Starts ``uvicorn`` over ``create_app`` in a subprocess and measures, with a valid token and one
   keep-alive ``httpx`` client, ``--requests`` sequential requests per endpoint (after a warm-up).
3. Runs the SQL each endpoint runs straight through psycopg (the baseline, no API) the same number of
   times, and prints ms p50/p95 of both and the ratio API/baseline. Target: API p95 < 100 ms.
4. Drops the database unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

DEFAULT_ADMIN_URL = os.environ.get(
    "CODE2ASIN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ITEM_COLUMNS = (
    "job_id, row_no, marketplace, chunk_no, input_code, code_type, gtin, product_ean, status, asin, "
    "match_type, match_confidence, amazon_title, amazon_brand, amazon_price, amazon_currency, "
    "amazon_sales_rank, amazon_images, stored_images, detail_page_url, candidates, supplier_title, "
    "supplier_price, input_values, error_type, error_message, attempts, updated_at"
)
#: (status, match_type, error_type, share of rows)
MIX = [
    ("matched", "exact", None, 0.36),
    ("matched", "partial", None, 0.12),
    ("matched", "fuzzy", None, 0.07),
    ("matched", "manual", None, 0.02),
    ("not_found", None, None, 0.25),
    ("invalid", None, "invalid_data", 0.08),
    ("failed", None, "network", 0.04),
    ("failed", None, "api_rate_limit", 0.04),
    ("failed", None, "unknown", 0.02),
]
ERRORS = {
    "invalid_data": "Check digit is wrong: expected 3, got 4.",
    "network": "Connection reset by the provider (gave up after 5 attempts)",
    "api_rate_limit": "SP-API searchCatalogItems throttled (HTTP 429) (gave up after 5 attempts)",
    "unknown": "The provider gave no answer for this code. (gave up after 5 attempts)",
}


def ean13(n: int) -> str:
    body = f"{300000000000 + n:012d}"[-12:]
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def asin(n: int) -> str:
    return f"B0{n:08X}"[:10]


def item_rows(job_id: str, count: int, now: datetime, seed: int) -> Any:
    """Yield COPY rows (text values; JSON as strings) for ``count`` rows of ``job_id``."""
    rng = random.Random(seed)
    weights = [m[3] for m in MIX]
    images = [
        json.dumps([f"https://m.media-amazon.com/images/I/{k:011d}.jpg" for k in range(j)]) for j in (1, 3, 6)
    ]
    stored = [json.dumps([f"images/{k:04d}/{j}.jpg" for j in range(3)]) for k in range(50)]
    for row_no in range(1, count + 1):
        status, match_type, error_type, _ = rng.choices(MIX, weights)[0]
        code = ean13(row_no)
        updated = now - timedelta(seconds=rng.randint(0, 60 * 86400))
        matched = status == "matched"
        candidates = None
        if matched or status == "not_found":
            candidates = json.dumps(
                [
                    {
                        "asin": asin(row_no * 3 + k),
                        "score": round(rng.random(), 3),
                        "match_type": match_type if k == 0 else None,
                        "reasons": ["identifier EAN equals the input", "single unit"][: 1 + k % 2],
                    }
                    for k in range(rng.randint(1, 4))
                ]
            )
        yield (
            job_id,
            row_no,
            "FR",
            (row_no - 1) // 100,
            code,
            "EAN",
            "0" + code,
            code,
            status,
            asin(row_no) if matched else None,
            match_type,
            round(rng.uniform(0.5, 1.0), 3) if matched else None,
            f"Produit de test numéro {row_no} - 500 g" if matched else None,
            f"Marque {row_no % 97}" if matched else None,
            f"{rng.uniform(2, 200):.2f}" if matched and rng.random() < 0.85 else None,
            "EUR" if matched else None,
            rng.randint(1, 500000) if matched else None,
            rng.choice(images) if matched else None,
            rng.choice(stored) if matched and rng.random() < 0.6 else None,
            f"https://www.amazon.fr/dp/{asin(row_no)}?tag=test-21" if matched else None,
            candidates,
            f"Produit {row_no}",
            f"{rng.uniform(1, 150):.4f}",
            json.dumps([code, f"Produit {row_no}", f"SKU-{row_no}"]),
            error_type,
            ERRORS.get(error_type or ""),
            1 if status != "invalid" else 0,
            updated.isoformat(),
        )


JOB_COLUMNS = (
    "id, supplier_code, status, mode, marketplace, provider_plan, options, source_filename, source_info, "
    "total_codes, processed_codes, successful_conversions, failed_conversions, retry_count, max_retries, "
    "created_at, started_at, completed_at, updated_at"
)
STATUSES = ["completed", "completed", "completed", "failed", "cancelled", "pending", "paused", "processing"]


def load(url: str, rows: int, jobs: int) -> tuple[str, int]:
    """Load the big job and ``jobs`` small ones; returns (big job id, rows loaded)."""
    now = datetime.now(UTC)
    big = str(uuid.uuid4())
    small_rows = 50
    job_rows: list[tuple[Any, ...]] = []
    options = json.dumps({"download_images": True, "max_images_per_product": 10, "image_mode": "replace"})
    info = json.dumps({"format": "csv", "headers": ["EAN", "Designation", "SKU"]})
    job_rows.append(
        (
            big,
            "SUP001",
            "completed",
            "amazon",
            "FR",
            "spapi+creators",
            options,
            "big.csv",
            info,
            rows,
            rows,
            int(rows * 0.57),
            rows - int(rows * 0.57),
            0,
            5,
            now - timedelta(days=2),
            now - timedelta(days=2),
            now - timedelta(days=1),
            now - timedelta(days=1),
        )
    )
    small = []
    for n in range(jobs):
        status = STATUSES[n % len(STATUSES)]
        created = now - timedelta(minutes=7 * n + 5)
        done = status in ("completed", "failed", "cancelled")
        job_id = str(uuid.uuid4())
        small.append(job_id)
        job_rows.append(
            (
                job_id,
                f"SUP{n % 12:03d}",
                status,
                "amazon",
                "FR",
                "spapi+creators",
                options,
                f"f{n}.csv",
                info,
                small_rows,
                small_rows if done else 0,
                30 if done else 0,
                20 if done else 0,
                0,
                5,
                created,
                None if status == "pending" else created,
                created + timedelta(minutes=3) if done else None,
                created,
            )
        )
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY jobs ({JOB_COLUMNS}) FROM STDIN") as copy:
            for job in job_rows:
                copy.write_row(job)
        started = time.perf_counter()
        with cur.copy(f"COPY job_items ({ITEM_COLUMNS}) FROM STDIN") as copy:
            for row in item_rows(big, rows, now, seed=1):
                copy.write_row(row)
            for n, job_id in enumerate(small):
                for row in item_rows(job_id, small_rows, now, seed=100 + n):
                    copy.write_row(row)
        print(
            f"loaded {rows + jobs * small_rows:,} rows in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        with cur.copy(
            "COPY job_events (job_id, at, event, actor, from_status, to_status) FROM STDIN"
        ) as copy:
            for job in job_rows:
                copy.write_row((job[0], job[15], "created", "bench", None, "pending"))
                copy.write_row((job[0], job[15], "start", "bench", "pending", "processing"))
        cur.execute("VACUUM ANALYZE")
    return big, rows + jobs * small_rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVER = """
import uvicorn
from code2asin.api import create_app
from code2asin.config import Settings
uvicorn.run(create_app(Settings()), host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def start_server(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "CODE2ASIN_DATABASE_URL": url, "CODE2ASIN_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([sys.executable, "-c", SERVER.format(port=port)], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/code2asin/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the API server did not start within 30 s")


def timed(call: Callable[[], object], times: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def baseline(
    conn: psycopg.Connection[Any], statements: list[tuple[str, tuple[Any, ...]]]
) -> Callable[[], None]:
    def run() -> None:
        with conn.cursor() as cur:
            for sql, params in statements:
                cur.execute(sql, params)
                cur.fetchall()
        conn.rollback()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args(argv)

    from code2asin.accounts.service import create_token
    from code2asin.db import Database

    name = f"c2a_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.admin_url.rsplit('/', 1)[0]}/{name}"
    process: subprocess.Popen[bytes] | None = None
    try:
        db = Database(url)
        db.upgrade()
        with db.unit_of_work() as session:
            _, token = create_token(session, ["READ_CODE2ASIN"], [])
        db.dispose()
        big, loaded = load(url, args.rows, args.jobs)
        with tempfile.TemporaryDirectory() as data_dir:
            process, base = start_server(url, Path(data_dir))
            results = measure(base, token, url, big, args.requests)
        print_table(results, loaded, args)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        if args.keep:
            print(f"kept {url}")
        else:
            with psycopg.connect(args.admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


def measure(
    base: str, token: str, url: str, big: str, times: int
) -> list[tuple[str, list[float], list[float]]]:
    headers = {"Authorization": f"Bearer {token}"}
    deep_offset = (2000 - 1) * 50
    page_sql = (
        "SELECT i.* FROM job_items i JOIN (SELECT id FROM job_items WHERE job_id = %s {filter} "
        "ORDER BY row_no LIMIT 50 OFFSET %s) p ON p.id = i.id ORDER BY i.row_no"
    )
    job_sql = ("SELECT * FROM jobs WHERE id = %s", (big,))
    fingerprint = ("SELECT max(updated_at) FROM job_items WHERE job_id = %s", (big,))
    snapshot = ("SELECT stats_snapshot FROM jobs WHERE id = %s", (big,))
    events = ("SELECT * FROM job_events WHERE job_id = %s ORDER BY id DESC LIMIT 200", (big,))
    since = datetime.now(UTC) - timedelta(days=30)
    grid = (
        "SELECT status, match_type, count(*), sum(match_confidence), max(updated_at) FROM job_items "
        "WHERE job_id = %s GROUP BY status, match_type, (asin IS NOT NULL), (stored_images IS NOT NULL), "
        "(amazon_price IS NOT NULL)",
        (big,),
    )
    cases: list[tuple[str, str, list[tuple[str, tuple[Any, ...]]]]] = [
        (
            "job list (page 1 of 20)",
            "/code2asin/jobs?page=1&per_page=20",
            [
                ("SELECT count(id) FROM jobs", ()),
                ("SELECT * FROM jobs ORDER BY created_at DESC, id LIMIT 20 OFFSET 0", ()),
            ],
        ),
        (
            "job details (big job)",
            f"/code2asin/jobs/{big}",
            [job_sql, snapshot, fingerprint, events],
        ),
        (
            "results page 1",
            f"/code2asin/results/{big}?page=1&limit=50",
            [job_sql, snapshot, fingerprint, (page_sql.format(filter=""), (big, 0))],
        ),
        (
            "results page 2000, match_type=exact",
            f"/code2asin/results/{big}?page=2000&limit=50&match_type=exact",
            [
                job_sql,
                snapshot,
                fingerprint,
                (page_sql.format(filter="AND match_type = 'exact'"), (big, deep_offset)),
            ],
        ),
        (
            "results page 2000, status=not_found",
            f"/code2asin/results/{big}?page=2000&limit=50&status=not_found",
            [
                job_sql,
                snapshot,
                fingerprint,
                (page_sql.format(filter="AND status = 'not_found'"), (big, deep_offset)),
            ],
        ),
        (
            "statistics (global)",
            "/code2asin/statistics",
            [
                (
                    "SELECT status, count(id), sum(total_codes), sum(processed_codes), "
                    "sum(successful_conversions), sum(failed_conversions) FROM jobs GROUP BY status",
                    (),
                )
            ],
        ),
        (
            "stats/errors?days=30",
            "/code2asin/stats/errors?days=30",
            [
                (
                    "SELECT error_type, count(*) FROM job_items WHERE error_type IS NOT NULL "
                    "AND updated_at >= %s GROUP BY error_type",
                    (since,),
                )
            ],
        ),
    ]
    results = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client, psycopg.connect(url) as conn:
        first = client.get(f"/code2asin/jobs/{big}")  # the first read of a finished job fills its snapshot
        first.raise_for_status()
        filled = conn.execute("SELECT stats_snapshot IS NOT NULL FROM jobs WHERE id = %s", (big,)).fetchone()
        conn.rollback()
        print(f"statistics snapshot filled by the first read: {bool(filled and filled[0])}")
        for label, path, statements in cases:

            def get(path: str = path) -> None:
                response = client.get(path)
                response.raise_for_status()

            api = timed(get, times)
            sql = timed(baseline(conn, statements), times)
            results.append((label, api, sql))
        live = timed(baseline(conn, [grid]), max(10, times // 10), warmup=1)
        results.append(("(big job aggregate without the snapshot)", [], live))
    return results


def print_table(
    results: list[tuple[str, list[float], list[float]]], loaded: int, args: argparse.Namespace
) -> None:
    print(
        f"\n{loaded:,} result rows in PostgreSQL; {args.requests} requests per endpoint (after a warm-up)\n"
    )
    head = f"| {'endpoint':<38} | API p50 | API p95 | SQL p50 | SQL p95 | API/SQL p50 | p95 < 100 ms |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for label, api, sql in results:
        if not api:
            dash = "-"
            print(
                f"| {label:<38} | {dash:>7} | {dash:>7} | {p(sql, 0.5):7.1f} | {p(sql, 0.95):7.1f} "
                f"| {dash:>11} | {dash:>12} |"
            )
            continue
        ratio = p(api, 0.5) / max(p(sql, 0.5), 1e-6)
        ok = "yes" if p(api, 0.95) < 100 else "NO"
        print(
            f"| {label:<38} | {p(api, 0.5):7.1f} | {p(api, 0.95):7.1f} | {p(sql, 0.5):7.1f} "
            f"| {p(sql, 0.95):7.1f} | {ratio:11.1f} | {ok:>12} |"
        )
    print(f"\n(mean of all API samples: {statistics.mean(s for _, a, _ in results for s in a):.1f} ms)")


if __name__ == "__main__":
    sys.exit(main())
