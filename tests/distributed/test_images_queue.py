"""Image copies run as their own Celery task on the code2asin-images queue, after the lookups."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from code2asin.ingest import open_table
from code2asin.jobs.creation import JobOptions, NewJob, create_job
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import JobItem, JobMode
from code2asin.jobs.service import get_job, transition
from code2asin.products.models import ImageTask
from code2asin.sandbox.sample_codes import generate_codes
from code2asin.sandbox.server import SandboxServer

from .conftest import PLAN, Cluster, wait_for

CODES = 60


def test_matched_rows_get_their_images_copied_by_workers_of_the_images_queue(
    make_cluster: Callable[..., Cluster], sandbox: SandboxServer, tmp_path: Path
) -> None:
    # the workers trust the sandbox's CDN (plain http on loopback) like a private image mirror
    cluster = make_cluster(CODE2ASIN_IMAGE_HOSTS=f'["127.0.0.1:{sandbox.port}"]')
    cluster._spawn(  # a worker serving both queues
        "w1",
        [
            "worker",
            "--hostname",
            "w1@test",
            "--concurrency",
            "2",
            "--queues",
            "code2asin,code2asin-images",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--pool",
            "prefork",
        ],
    )
    cluster.start_beat()
    path = tmp_path / "images.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(["ean"])
        writer.writerows([code] for code in generate_codes(CODES, seed=11))
    options = JobOptions(download_images=True, max_images_per_product=3, image_mode="replace")
    new = NewJob("SUP", JobMode.AMAZON, "FR", PLAN, path.name, options)
    job_id = create_job(cluster.db, open_table(path), new)
    with cluster.db.unit_of_work() as session:
        transition(session, get_job(session, job_id), JobAction.START, actor="test")
    cluster.dispatcher.dispatch(job_id)
    cluster.wait_finished(job_id, 120)

    def images_settled() -> bool | None:
        with cluster.db.unit_of_work() as session:
            left = session.scalar(
                select(func.count(ImageTask.id)).where(ImageTask.job_id == job_id, ImageTask.status != "done")
            )
            total = session.scalar(select(func.count(ImageTask.id)).where(ImageTask.job_id == job_id))
        return True if total and not left else None

    wait_for(images_settled, 120, "every image task done")
    with cluster.db.unit_of_work() as session:
        rows = list(session.scalars(select(JobItem).where(JobItem.job_id == job_id)))
    with_images = [r for r in rows if r.status == "matched" and r.amazon_images]
    assert with_images
    stored = list((cluster.settings.data_dir / "storage" / "products").rglob("*.jpg"))
    assert len(stored) == sum(min(3, len(r.amazon_images or [])) for r in with_images)
    for row in with_images:
        assert row.stored_images and len(row.stored_images) == min(3, len(row.amazon_images or []))
    assert any(e.kind == "image" for e in cluster.sandbox.request_log)
