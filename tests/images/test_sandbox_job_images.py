"""Issue 5's acceptance: a sandbox job copies Amazon's images into an S3 bucket, in each image mode."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.sandbox_support import endpoints_for

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.convert import copy_images
from code2asin.jobs.embedded import run_job
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.models import JobItem, JobMode
from code2asin.jobs.runner import ChunkRunner
from code2asin.products.models import Product, ProductImage
from code2asin.providers.plan import build_plan
from code2asin.sandbox import sample_codes
from code2asin.sandbox.server import SandboxServer

MARKETS = ["FR", "DE"]
KEY = re.compile(r"^media/products/([0-9a-f]{2})/([0-9a-f-]{36})/[0-9a-f]{64}\.jpg$")


def _run(db: Database, settings: Settings, sandbox: SandboxServer, path: Path, mode: str) -> str:
    options = creation.JobOptions(download_images=True, max_images_per_product=5, image_mode=mode)
    job_id = creation.create_job(
        db,
        open_table(path),
        creation.NewJob("SUP001", JobMode.AMAZON, "FR", "spapi+creators", path.name, options),
    )
    with db.unit_of_work() as session:
        service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
    plan = build_plan(settings, "spapi+creators", "FR", endpoints=endpoints_for(sandbox))
    try:
        cache = LookupCacheStore(db, 3600, 3600)
        run_job(db, ChunkRunner(db, plan, cache, sleep=lambda _s: None), job_id)
        copy_images(settings, db, plan)
    finally:
        plan.close()
    return job_id


def _items(session: Session, job_id: str) -> list[JobItem]:
    return list(session.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.row_no)))


def _objects(settings: Settings) -> list[str]:
    bucket = settings.effective_storage_url.removeprefix("s3://").split("/", 1)[0]
    secret = settings.s3.secret_access_key
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3.endpoint_url,
        region_name=settings.s3.region,
        aws_access_key_id=settings.s3.access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@pytest.mark.parametrize("mode", ["replace", "append", "skip"])
def test_a_sandbox_job_stores_five_images_per_product_in_s3_and_a_rerun_follows_the_mode(
    sqlite_db: Database, s3_settings: Settings, tmp_path: Path, mode: str
) -> None:
    codes = sample_codes.example_codes()["single"][:4] + sample_codes.example_codes()["no_images"][:1]
    path = tmp_path / "in.csv"
    path.write_text("EAN\n" + "\n".join(codes) + "\n", "utf-8")
    with SandboxServer(port=0, quotas=None) as sandbox:
        settings = s3_settings.model_copy(update={"image_hosts": [f"127.0.0.1:{sandbox.port}"]})
        first = _run(sqlite_db, settings, sandbox, path, "replace")
        stored = _objects(settings)
        with sqlite_db.unit_of_work() as session:
            rows = list(
                session.scalars(select(JobItem).where(JobItem.job_id == first).order_by(JobItem.row_no))
            )
            products = {p.id: p for p in session.scalars(select(Product))}
            images = list(session.scalars(select(ProductImage)))
        expected = sum(min(5, len(r.amazon_images or [])) for r in rows)
        assert len(stored) == expected == len(images) > 0
        for key in stored:
            match = KEY.match(key)
            assert match is not None, key
            assert match[2] in products and match[2][:2] == match[1]
        for row in rows:
            assert (row.stored_images is None) == (not row.amazon_images)
            assert len(row.stored_images or []) == min(5, len(row.amazon_images or []))
        image_calls = len([e for e in sandbox.request_log if e.kind == "image"])

        second = _run(sqlite_db, settings, sandbox, path, mode)
        again = len([e for e in sandbox.request_log if e.kind == "image"]) - image_calls
        assert _objects(settings) == stored  # same content, same keys: nothing doubled, nothing lost
        with sqlite_db.unit_of_work() as session:
            assert len(list(session.scalars(select(ProductImage)))) == expected
            rerun = list(
                session.scalars(select(JobItem).where(JobItem.job_id == second).order_by(JobItem.row_no))
            )
        assert [r.stored_images for r in rerun] == [r.stored_images for r in rows]
        if mode == "skip":
            assert again == 0  # products that have images are not fetched again
        else:
            assert again == expected


def test_a_several_marketplace_job_files_each_store_s_images_under_that_store_s_product(
    sqlite_db: Database, s3_settings: Settings, tmp_path: Path
) -> None:
    codes = sample_codes.multi_marketplace_codes(3, ("FR", "DE"))
    local = [
        c for c in sample_codes.multi_marketplace_codes(40, ("FR", "DE")) if c.kind("DE") == "local_asin"
    ]
    chosen = [*codes, local[0]]
    path = tmp_path / "in.csv"
    path.write_text("EAN\n" + "\n".join(c.code for c in chosen) + "\n", "utf-8")
    options = creation.JobOptions(download_images=True, max_images_per_product=2)
    with SandboxServer(port=0, quotas=None) as sandbox:
        settings = s3_settings.model_copy(update={"image_hosts": [f"127.0.0.1:{sandbox.port}"]})
        job_id = creation.create_job(
            sqlite_db,
            open_table(path),
            creation.NewJob(
                "SUP001", JobMode.AMAZON, "FR", "spapi+creators", path.name, options, marketplaces=MARKETS
            ),
        )
        with sqlite_db.unit_of_work() as session:
            service.transition(session, service.get_job(session, job_id), JobAction.START, actor="test")
        plans = {
            m: build_plan(settings, "spapi+creators", m, endpoints=endpoints_for(sandbox, m)) for m in MARKETS
        }
        try:
            runner = ChunkRunner(
                sqlite_db, plans["FR"], LookupCacheStore(sqlite_db, 3600, 3600), sleep=lambda _s: None,
                plan_for=plans.__getitem__,
            )  # fmt: skip
            run_job(sqlite_db, runner, job_id)
            copy_images(settings, sqlite_db, *plans.values())
        finally:
            for plan in plans.values():
                plan.close()
    with sqlite_db.unit_of_work() as session:
        products = {(p.gtin, p.marketplace): p for p in session.scalars(select(Product))}
        items = _items(session, job_id)
        assert {(i.marketplace, i.status) for i in items} == {("FR", "matched"), ("DE", "matched")}
        for item in items:
            product = products[(item.gtin, item.marketplace)]
            assert product.asin == item.asin  # DE's local listing is its own product, not FR's
            assert item.stored_images and all(product.id in key for key in item.stored_images)
    de_local = next(i for i in items if i.marketplace == "DE" and i.asin == local[0].asin("DE"))
    fr_same = next(i for i in items if i.marketplace == "FR" and i.gtin == de_local.gtin)
    assert de_local.asin != fr_same.asin
    assert set(de_local.stored_images or ()) != set(fr_same.stored_images or ())
