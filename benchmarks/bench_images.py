"""Image copy benchmark (issue 5): images stored per second from the sandbox CDN at 50 ms latency.

The same image tasks run twice in one process, each time on a fresh database and bucket: first one task
at a time (the sequential baseline), then ``--concurrency`` tasks at once (default 8, the embedded pool's
default). Storage is a real S3 server (moto's server mode on loopback) unless ``--storage local``.
Every run checks that each row got its images, so a fast wrong run cannot pass.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from code2asin.config import S3Settings, Settings
from code2asin.db import Database
from code2asin.image_tasks import TaskOutcome, enqueue_image_tasks, run_due_image_tasks
from code2asin.images import ImageFetcher
from code2asin.jobs.models import ItemStatus, Job, JobItem
from code2asin.sandbox.encoding import image_id_for
from code2asin.sandbox.server import SandboxServer
from code2asin.storage import LocalStorage, Storage, open_storage


def _prepare(db: Database, base_url: str, rows: int, images: int) -> int:
    """A job of ``rows`` matched rows with ``images`` sandbox image URLs each; returns the image count."""
    with db.unit_of_work() as session:
        job = Job(
            supplier_code="BENCH", marketplace="FR", source_filename="bench.csv",
            options={"download_images": True, "max_images_per_product": images, "image_mode": "replace"},
        )
        session.add(job)
        session.flush()
        items = []
        for n in range(rows):
            asin = f"B0BENCH{n:03d}"
            urls = [f"{base_url}/images/I/{image_id_for(asin, k)}._SL1500_.jpg" for k in range(images)]
            items.append(JobItem(job_id=job.id, row_no=n + 1, marketplace="FR", input_code=f"376{n:010d}",
                                 gtin=f"0376{n:010d}",
                                 status=ItemStatus.MATCHED, asin=asin, amazon_images=urls))
        session.add_all(items)
        session.flush()
        enqueue_image_tasks(session, job.id, [item.id for item in items])
    return rows * images


def _run(folder: Path, storage: Storage, base_url: str, image_hosts: list[str], rows: int, images: int,
         concurrency: int) -> float:
    db = Database(f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}")
    db.upgrade()
    expected = _prepare(db, base_url, rows, images)
    with ImageFetcher(image_hosts) as fetcher:
        started = time.perf_counter()
        counts = run_due_image_tasks(db, storage, fetcher, concurrency=concurrency)
        elapsed = time.perf_counter() - started
    stored = sum(1 for key in storage.keys("products/"))
    db.dispose()
    if counts[TaskOutcome.DONE] != rows or stored != expected:
        raise SystemExit(f"wrong result: {counts}, {stored} objects instead of {expected}")
    return elapsed


def _storage_factory(kind: str, folder: Path) -> tuple[Callable[[], Storage], Callable[[], None]]:
    if kind == "local":
        return (lambda: LocalStorage(folder / f"objects-{uuid.uuid4().hex[:8]}")), (lambda: None)
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = S3Settings(endpoint_url=f"http://{host}:{port}", region="us-east-1", access_key_id="bench",
                    secret_access_key=SecretStr("bench"))
    admin = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench")

    def make() -> Storage:
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        admin.create_bucket(Bucket=bucket)
        return open_storage(Settings(storage_url=f"s3://{bucket}", s3=s3))

    return make, server.stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks images", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40, help="matched rows (products), default 40")
    parser.add_argument("--images", type=int, default=5, help="images per row, default 5")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox CDN latency, default 50")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent downloads, default 8")
    parser.add_argument("--storage", choices=["s3", "local"], default="s3")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="c2a-bench-images-") as tmp, SandboxServer(
        latency_ms=args.latency_ms
    ) as sandbox:
        folder = Path(tmp)
        make_storage, stop = _storage_factory(args.storage, folder)
        hosts = [f"127.0.0.1:{sandbox.port}"]
        total = args.rows * args.images
        try:
            print(f"{total} images ({args.rows} rows x {args.images}), CDN latency {args.latency_ms:.0f} ms, "
                  f"storage {args.storage}")
            print(f"{'run':<24}{'seconds':>9}{'images/s':>11}{'speed-up':>10}")
            base = _run(folder, make_storage(), sandbox.base_url, hosts, args.rows, args.images, 1)
            print(f"{'sequential (1 task)':<24}{base:>9.2f}{total / base:>11.1f}{1.0:>9.2f}x")
            fast = _run(
                folder, make_storage(), sandbox.base_url, hosts, args.rows, args.images, args.concurrency
            )
            label = f"concurrent ({args.concurrency} tasks)"
            print(f"{label:<24}{fast:>9.2f}{total / fast:>11.1f}{base / fast:>9.2f}x")
        finally:
            stop()


if __name__ == "__main__":
    main()
