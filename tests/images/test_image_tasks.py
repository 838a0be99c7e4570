"""The image copier end to end: job items → image tasks → sandbox CDN over HTTP → a real S3 server (moto).

Covers the seed's key layout, the cap, dedupe, the three modes, idempotence, the retry schedule, partial
downloads and hostile URLs in a row's image list.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import select
from tests.images.conftest import ScriptedServer, sandbox_image_urls, send

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.errors import ErrorType
from code2asin.image_tasks import (
    ImageCopier,
    TaskOutcome,
    due_image_tasks,
    enqueue_image_tasks,
    run_due_image_tasks,
    run_image_task,
)
from code2asin.images import ImageFetcher
from code2asin.jobs.models import ItemStatus, Job, JobItem, utcnow
from code2asin.products.models import ImageTask, Product, ProductImage
from code2asin.sandbox.server import SandboxServer
from code2asin.storage import LocalStorage, Storage
from code2asin.storage_s3 import S3Storage

GTIN = "03760123456789"


@pytest.fixture
def storage(s3_storage: S3Storage) -> S3Storage:
    return s3_storage


def make_job(db: Database, mode: str = "replace", max_images: int = 10, download: bool = True) -> str:
    with db.unit_of_work() as session:
        job = Job(
            supplier_code="ACME",
            marketplace="FR",
            source_filename="f.csv",
            options={"download_images": download, "max_images_per_product": max_images, "image_mode": mode},
        )
        session.add(job)
        session.flush()
        return job.id


def add_item(
    db: Database,
    job_id: str,
    urls: list[str],
    *,
    gtin: str = GTIN,
    row_no: int = 1,
    status: str = ItemStatus.MATCHED,
) -> int:
    with db.unit_of_work() as session:
        item = JobItem(
            job_id=job_id,
            row_no=row_no,
            marketplace="FR",
            input_code=gtin[1:],
            gtin=gtin,
            status=status,
            asin="B0TEST0001",
            amazon_title="Confiture d'abricots 370 g",
            amazon_brand="Maison Test",
            amazon_images=urls or None,
        )
        session.add(item)
        session.flush()
        return item.id


def enqueue(db: Database, job_id: str, item_ids: list[int]) -> list[int]:
    with db.unit_of_work() as session:
        enqueue_image_tasks(session, job_id, item_ids)
        return list(
            session.scalars(select(ImageTask.id).where(ImageTask.job_id == job_id).order_by(ImageTask.id))
        )


def copy_row(
    db: Database,
    storage: Storage,
    fetcher: ImageFetcher,
    urls: list[str],
    mode: str = "replace",
    max_images: int = 10,
    gtin: str = GTIN,
) -> tuple[TaskOutcome, int]:
    """A one-row job with download_images: enqueue its task and run it. Returns (outcome, item id)."""
    job_id = make_job(db, mode, max_images)
    item_id = add_item(db, job_id, urls, gtin=gtin)
    [task_id] = enqueue(db, job_id, [item_id])
    return run_image_task(db, storage, fetcher, task_id), item_id


def stored_keys(db: Database, item_id: int) -> list[str] | None:
    with db.unit_of_work() as session:
        keys = session.get_one(JobItem, item_id).stored_images
        return None if keys is None else [str(k) for k in keys]


def product_images(db: Database) -> list[ProductImage]:
    with db.unit_of_work() as session:
        return list(session.scalars(select(ProductImage).order_by(ProductImage.position)))


def sha(url: str) -> str:
    return hashlib.sha256(httpx.get(url).content).hexdigest()


def image_requests(sandbox: SandboxServer) -> list[str]:
    return [entry.path for entry in sandbox.request_log if entry.kind == "image"]


@pytest.mark.parametrize("backend", ["s3", "local"])
def test_matched_row_stores_the_first_five_images_under_the_seed_key_layout(
    request: pytest.FixtureRequest,
    sqlite_db: Database,
    fetcher: ImageFetcher,
    sandbox: SandboxServer,
    backend: str,
    tmp_path: Path,
) -> None:
    storage: Storage = (
        request.getfixturevalue("s3_storage") if backend == "s3" else LocalStorage(tmp_path / "s")
    )
    urls = sandbox_image_urls(sandbox, "B0TEST0001", 7)

    outcome, item_id = copy_row(sqlite_db, storage, fetcher, urls, max_images=5)

    assert outcome is TaskOutcome.DONE
    with sqlite_db.unit_of_work() as session:
        product = session.scalars(select(Product)).one()
        assert (product.supplier_code, product.gtin, product.marketplace) == ("ACME", GTIN, "FR")
        assert (product.asin, product.brand) == ("B0TEST0001", "Maison Test")
    expected = [f"products/{product.id[:2]}/{product.id}/{sha(url)}.jpg" for url in urls[:5]]
    assert stored_keys(sqlite_db, item_id) == expected  # primary first, Amazon's order
    assert sorted(storage.keys("products/")) == sorted(expected)
    for key in expected:
        assert re.fullmatch(r"products/[0-9a-f]{2}/[0-9a-f-]{36}/[0-9a-f]{64}\.jpg", key)
        assert hashlib.sha256(storage.get(key)).hexdigest() == key.rsplit("/", 1)[1].removesuffix(".jpg")
    assert [(i.position, i.source_url, i.content_type) for i in product_images(sqlite_db)] == [
        (n, url, "image/jpeg") for n, url in enumerate(urls[:5])
    ]


def test_the_same_content_under_two_urls_is_stored_once(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    first, second = sandbox_image_urls(sandbox, "B0TEST0002", 2)
    same_as_first = first.replace("._SL1500_.jpg", "._SL1500_.jpg?v=2")
    assert httpx.get(first).content == httpx.get(same_as_first).content

    outcome, item_id = copy_row(sqlite_db, storage, fetcher, [first, same_as_first, second], max_images=2)

    assert outcome is TaskOutcome.DONE
    assert len(stored_keys(sqlite_db, item_id) or []) == 2  # the duplicate did not use up the cap
    assert len(list(storage.keys("products/"))) == 2


def test_replace_removes_previous_images_rows_and_objects_once_the_new_ones_are_stored(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    a, b, c = sandbox_image_urls(sandbox, "B0TEST0003", 3)
    _, first_item = copy_row(sqlite_db, storage, fetcher, [a, b])
    old_a = (stored_keys(sqlite_db, first_item) or [])[0]

    outcome, item_id = copy_row(sqlite_db, storage, fetcher, [c, b], mode="replace")

    assert outcome is TaskOutcome.DONE
    keys = stored_keys(sqlite_db, item_id) or []
    assert [key.rsplit("/", 1)[1] for key in keys] == [f"{sha(c)}.jpg", f"{sha(b)}.jpg"]
    assert sorted(storage.keys("products/")) == sorted(keys)
    assert not storage.exists(old_a)
    assert [i.source_url for i in product_images(sqlite_db)] == [c, b]


def test_replace_keeps_previous_images_when_no_new_image_could_be_stored(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    [a] = sandbox_image_urls(sandbox, "B0TEST0004", 1)
    _, first_item = copy_row(sqlite_db, storage, fetcher, [a])

    outcome, item_id = copy_row(sqlite_db, storage, fetcher, [f"{sandbox.base_url}/images/I/nonexistent.jpg"])

    assert outcome is TaskOutcome.FAILED
    assert list(storage.keys("products/")) == stored_keys(sqlite_db, first_item)
    assert stored_keys(sqlite_db, item_id) is None


def test_append_adds_new_images_after_the_existing_ones_and_skips_duplicates(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    a, b, c = sandbox_image_urls(sandbox, "B0TEST0005", 3)
    copy_row(sqlite_db, storage, fetcher, [a, b])

    outcome, item_id = copy_row(sqlite_db, storage, fetcher, [b, c], mode="append")

    assert outcome is TaskOutcome.DONE
    assert [i.source_url for i in product_images(sqlite_db)] == [a, b, c]
    assert [(i.position) for i in product_images(sqlite_db)] == [0, 1, 2]
    assert len(stored_keys(sqlite_db, item_id) or []) == 3
    assert len(list(storage.keys("products/"))) == 3


def test_skip_fetches_nothing_when_the_product_already_has_images(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    a, b = sandbox_image_urls(sandbox, "B0TEST0006", 2)
    _, first_item = copy_row(sqlite_db, storage, fetcher, [a])
    sandbox.clear_log()

    outcome, item_id = copy_row(sqlite_db, storage, fetcher, [b], mode="skip")

    assert outcome is TaskOutcome.DONE
    assert image_requests(sandbox) == []
    assert stored_keys(sqlite_db, item_id) == stored_keys(sqlite_db, first_item)
    assert len(list(storage.keys("products/"))) == 1


def test_skip_copies_when_the_product_has_no_images_yet(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    outcome, item_id = copy_row(
        sqlite_db, storage, fetcher, sandbox_image_urls(sandbox, "B0TEST0007", 2), "skip"
    )
    assert outcome is TaskOutcome.DONE
    assert len(stored_keys(sqlite_db, item_id) or []) == 2


def test_running_a_task_twice_or_copying_the_same_row_again_changes_nothing(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    urls = sandbox_image_urls(sandbox, "B0TEST0008", 3)
    job_id = make_job(sqlite_db)
    item_id = add_item(sqlite_db, job_id, urls)
    [task_id] = enqueue(sqlite_db, job_id, [item_id])
    assert run_image_task(sqlite_db, storage, fetcher, task_id) is TaskOutcome.DONE
    before = ([(i.id, i.key, i.position) for i in product_images(sqlite_db)], sorted(storage.keys()))
    sandbox.clear_log()

    assert run_image_task(sqlite_db, storage, fetcher, task_id) is TaskOutcome.SKIPPED
    assert enqueue(sqlite_db, job_id, [item_id]) == [task_id]  # the chunk ran twice: still one task
    assert run_image_task(sqlite_db, storage, fetcher, task_id) is TaskOutcome.SKIPPED
    assert image_requests(sandbox) == []
    again, _ = copy_row(sqlite_db, storage, fetcher, urls, mode="replace")
    assert again is TaskOutcome.DONE

    assert ([(i.id, i.key, i.position) for i in product_images(sqlite_db)], sorted(storage.keys())) == before


def test_network_failure_stores_nothing_and_retries_on_the_schedule(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    urls = sandbox_image_urls(sandbox, "B0TEST0009", 2)
    job_id = make_job(sqlite_db)
    [task_id] = enqueue(sqlite_db, job_id, [add_item(sqlite_db, job_id, urls)])
    sandbox.inject_faults("image", "503", count=1)
    now = utcnow()

    assert run_image_task(sqlite_db, storage, fetcher, task_id, now) is TaskOutcome.RETRY

    with sqlite_db.unit_of_work() as session:
        task = session.get_one(ImageTask, task_id)
        assert (task.status, task.attempts, task.error_type) == ("pending", 1, ErrorType.NETWORK)
        assert task.next_attempt_at is not None
        wait = task.next_attempt_at.replace(tzinfo=now.tzinfo) - now
        assert abs(wait - timedelta(minutes=1)) < timedelta(seconds=1)
    assert list(storage.keys()) == []
    assert product_images(sqlite_db) == []
    assert due_image_tasks(sqlite_db, now=now + timedelta(seconds=59)) == []
    assert due_image_tasks(sqlite_db, now=now + timedelta(seconds=61)) == [task_id]
    assert (
        run_image_task(sqlite_db, storage, fetcher, task_id, now + timedelta(seconds=61)) is TaskOutcome.DONE
    )
    assert len(list(storage.keys())) == 2


def test_network_failures_give_up_after_five_attempts_on_the_1_5_15_60_minute_schedule(
    sqlite_db: Database, storage: S3Storage, scripted_server: Callable[[], ScriptedServer]
) -> None:
    down = scripted_server()
    down.routes["/i.jpg"] = lambda handler: send(handler, 503, b"busy", "text/plain")
    job_id = make_job(sqlite_db)
    [task_id] = enqueue(sqlite_db, job_id, [add_item(sqlite_db, job_id, [f"{down.base_url}/i.jpg"])])
    now, waits = utcnow(), []
    with ImageFetcher([down.host]) as fetcher:
        for _ in range(5):
            outcome = run_image_task(sqlite_db, storage, fetcher, task_id, now)
            with sqlite_db.unit_of_work() as session:
                task = session.get_one(ImageTask, task_id)
                if task.next_attempt_at is not None:
                    due = task.next_attempt_at.replace(tzinfo=now.tzinfo)
                    waits.append(round((due - now).total_seconds() / 60))
                    now = due
    assert outcome is TaskOutcome.FAILED
    assert waits == [1, 5, 15, 60]
    assert len(down.hits) == 5


def test_invalid_data_fails_at_once(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    outcome, item_id = copy_row(sqlite_db, storage, fetcher, [f"{sandbox.base_url}/images/I/AAAAAAAAAAA.jpg"])
    assert outcome is TaskOutcome.FAILED
    with sqlite_db.unit_of_work() as session:
        task = session.scalars(select(ImageTask)).one()
        assert (task.status, task.attempts, task.error_type) == ("failed", 1, ErrorType.INVALID_DATA)
    assert stored_keys(sqlite_db, item_id) is None
    assert due_image_tasks(sqlite_db, now=utcnow() + timedelta(days=1)) == []


def test_a_download_cut_mid_body_is_never_stored(
    sqlite_db: Database,
    storage: S3Storage,
    sandbox: SandboxServer,
    scripted_server: Callable[[], ScriptedServer],
) -> None:
    body = httpx.get(sandbox_image_urls(sandbox, "B0TEST0010", 1)[0]).content
    cdn = scripted_server()

    def cut(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.close_connection = True

    cdn.routes["/cut.jpg"] = cut
    with ImageFetcher([cdn.host, f"127.0.0.1:{sandbox.port}"]) as fetcher:
        outcome, item_id = copy_row(
            sqlite_db,
            storage,
            fetcher,
            [*sandbox_image_urls(sandbox, "B0TEST0010", 1), f"{cdn.base_url}/cut.jpg"],
        )
    assert outcome is TaskOutcome.RETRY
    assert list(storage.keys()) == []
    assert product_images(sqlite_db) == []
    assert stored_keys(sqlite_db, item_id) is None


def test_hostile_urls_in_a_row_never_cause_a_request_off_the_allowlist(
    sqlite_db: Database,
    storage: S3Storage,
    fetcher: ImageFetcher,
    scripted_server: Callable[[], ScriptedServer],
) -> None:
    victim = scripted_server()  # a loopback service the fetcher must never reach (not in image_hosts)
    victim.routes["/x.jpg"] = lambda handler: send(handler, 200, b"\xff\xd8\xff secret", "image/jpeg")
    hostile = [
        "http://169.254.169.254/latest/meta-data/",
        f"http://127.0.0.1:{victim.port}/x.jpg",
        f"http://localhost:{victim.port}/x.jpg",
        f"https://m.media-amazon.com@127.0.0.1:{victim.port}/x.jpg",
        f"http://[::ffff:127.0.0.1]:{victim.port}/x.jpg",
    ]
    outcome, _ = copy_row(sqlite_db, storage, fetcher, hostile)
    assert outcome is TaskOutcome.FAILED
    assert victim.hits == []
    assert list(storage.keys()) == []


def test_rows_that_are_not_matches_or_jobs_without_download_images_finish_without_fetching(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    urls = sandbox_image_urls(sandbox, "B0TEST0011", 1)
    sandbox.clear_log()
    job_id = make_job(sqlite_db)
    not_found = add_item(sqlite_db, job_id, urls, status=ItemStatus.NOT_FOUND)
    no_download_job = make_job(sqlite_db, download=False)
    no_download = add_item(sqlite_db, no_download_job, urls)
    tasks = enqueue(sqlite_db, job_id, [not_found]) + enqueue(sqlite_db, no_download_job, [no_download])

    assert [run_image_task(sqlite_db, storage, fetcher, t) for t in tasks] == [TaskOutcome.DONE] * 2
    assert image_requests(sandbox) == []
    assert stored_keys(sqlite_db, not_found) is None


def test_a_task_leased_by_another_worker_is_skipped_until_its_lease_expires(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    job_id = make_job(sqlite_db)
    [task_id] = enqueue(
        sqlite_db, job_id, [add_item(sqlite_db, job_id, sandbox_image_urls(sandbox, "B0TEST0012", 1))]
    )
    now = utcnow()
    with sqlite_db.unit_of_work() as session:
        task = session.get_one(ImageTask, task_id)
        task.status, task.attempts, task.lease_expires_at = "running", 1, now + timedelta(minutes=5)

    assert run_image_task(sqlite_db, storage, fetcher, task_id, now) is TaskOutcome.SKIPPED
    assert due_image_tasks(sqlite_db, now=now) == []
    assert (
        run_image_task(sqlite_db, storage, fetcher, task_id, now + timedelta(minutes=6)) is TaskOutcome.DONE
    )


def test_enqueue_resets_failed_tasks_and_leaves_done_ones(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    job_id = make_job(sqlite_db)
    good = add_item(sqlite_db, job_id, sandbox_image_urls(sandbox, "B0TEST0013", 1), row_no=1)
    missing = f"{sandbox.base_url}/images/I/AAAAAAAAAAA.jpg"
    bad = add_item(sqlite_db, job_id, [missing], row_no=2, gtin="03760123456796")
    tasks = enqueue(sqlite_db, job_id, [good, bad])
    assert [run_image_task(sqlite_db, storage, fetcher, t) for t in tasks] == [
        TaskOutcome.DONE,
        TaskOutcome.FAILED,
    ]

    with sqlite_db.unit_of_work() as session:
        assert enqueue_image_tasks(session, job_id, [good, bad]) == 1
    assert due_image_tasks(sqlite_db) == [tasks[1]]


@pytest.fixture
def many_items(sandbox: SandboxServer) -> Iterator[Any]:
    yield [sandbox_image_urls(sandbox, f"B0MANY{n:04d}", 3) for n in range(12)]


def test_due_tasks_run_concurrently_and_rows_of_one_product_share_its_images(
    any_db: Database, storage: S3Storage, fetcher: ImageFetcher, many_items: list[list[str]]
) -> None:
    job_id = make_job(any_db, max_images=2)
    ids = [
        add_item(any_db, job_id, urls, gtin=f"0376012345{n:04d}", row_no=n + 1)
        for n, urls in enumerate(many_items)
    ]
    # two more rows for the first product (same GTIN), one with the images in another order
    ids.append(add_item(any_db, job_id, many_items[0], gtin="03760123450000", row_no=100))
    ids.append(add_item(any_db, job_id, many_items[0][::-1], gtin="03760123450000", row_no=101))
    enqueue(any_db, job_id, ids)

    counts = run_due_image_tasks(any_db, storage, fetcher, concurrency=8)

    assert counts[TaskOutcome.DONE] == len(ids)
    with any_db.unit_of_work() as session:
        assert session.scalar(select(Product.id).where(Product.gtin == "03760123450000").limit(1))
        assert len(list(session.scalars(select(Product)))) == 12
    assert all(stored_keys(any_db, item_id) for item_id in ids)
    rows = product_images(any_db)
    assert len(rows) == 12 * 2  # whichever replace of the shared product ran last, it holds 2 images
    # every row has its object and every object its row, even with replaces of one product racing
    assert sorted(storage.keys("products/")) == sorted(row.key for row in rows)


class _RacingStorage:
    """A storage whose first put of ``key`` lets ``race`` run on another thread (waiting up to 1 s for it)
    before it returns: the moment a copy has stored an object it has not yet recorded."""

    def __init__(self, inner: Storage, key: str, race: Callable[[], None]) -> None:
        self._inner, self._key, self._race = inner, key, race
        self.thread: threading.Thread | None = None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._inner.put(key, data, content_type)
        if key == self._key and self.thread is None:
            self.thread = threading.Thread(target=self._race)
            self.thread.start()
            self.thread.join(timeout=1.0)  # a copy that stores under the product's lock makes it wait

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_replace_racing_a_copy_cannot_delete_the_object_the_copy_is_about_to_record(
    any_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    x, y = sandbox_image_urls(sandbox, "B0RACE0001", 2)
    job_id = make_job(any_db)  # replace
    first = add_item(any_db, job_id, [x], row_no=1)
    enqueue(any_db, job_id, [first])
    assert run_due_image_tasks(any_db, storage, fetcher)[TaskOutcome.DONE] == 1  # the product holds X
    copy, b, c = (add_item(any_db, job_id, urls, row_no=n) for n, urls in ((2, [y]), (3, [y]), (4, [x])))
    tasks = dict(zip((copy, b, c), enqueue(any_db, job_id, [copy, b, c])[1:], strict=True))
    outcomes: list[TaskOutcome] = []

    def race() -> None:  # Y recorded by another row, then replaced by X again: Y's object is deleted
        outcomes.append(run_image_task(any_db, storage, fetcher, tasks[b]))
        outcomes.append(run_image_task(any_db, storage, fetcher, tasks[c]))

    y_key = next(k for k in _image_keys(any_db, storage, fetcher, y))
    racing = _RacingStorage(storage, y_key, race)
    assert run_image_task(any_db, cast(Storage, racing), fetcher, tasks[copy]) is TaskOutcome.DONE
    assert racing.thread is not None
    racing.thread.join(timeout=30)
    assert outcomes == [TaskOutcome.DONE, TaskOutcome.DONE]
    # whatever order the three replaces ended in, every image row has its object and every object its row
    assert sorted(storage.keys("products/")) == sorted(row.key for row in product_images(any_db))


def _image_keys(db: Database, storage: Storage, fetcher: ImageFetcher, url: str) -> list[str]:
    """The storage key ``url``'s image gets in the shared product (content-addressed)."""
    from code2asin.products.service import image_key

    image = fetcher.fetch(url)
    with db.unit_of_work() as session:
        product_id = session.scalars(select(Product.id).where(Product.gtin == GTIN)).one()
    return [image_key(product_id, image.sha256, image.content_type)]


class _FailingStorage:
    """A storage whose puts fail, as an S3 endpoint that is down."""

    def __init__(self, inner: Storage) -> None:
        self._inner = inner

    def put(self, key: str, data: bytes, content_type: str) -> None:
        raise OSError("connection refused")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_storage_fault_records_nothing_and_retries_on_the_schedule(
    any_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    job_id = make_job(any_db)
    item_id = add_item(any_db, job_id, sandbox_image_urls(sandbox, "B0DOWN0001", 2))
    [task_id] = enqueue(any_db, job_id, [item_id])
    failing = _FailingStorage(storage)
    assert run_image_task(any_db, cast(Storage, failing), fetcher, task_id) is TaskOutcome.RETRY
    with any_db.unit_of_work() as session:
        task = session.get_one(ImageTask, task_id)
        assert (task.status, task.error_type) == ("pending", ErrorType.UNKNOWN.value)
        message = str(task.error_message)
        assert "Storing image products/" in message and "connection refused" in message
    assert product_images(any_db) == [] and stored_keys(any_db, item_id) is None
    later = utcnow() + timedelta(minutes=2)  # the first retry is due after 1 minute
    assert run_image_task(any_db, storage, fetcher, task_id, now=later) is TaskOutcome.DONE
    assert len(product_images(any_db)) == 2 and len(stored_keys(any_db, item_id) or []) == 2


def test_image_copier_from_settings_runs_a_task_by_id_into_the_configured_bucket(
    sqlite_db: Database, s3_settings: Settings, sandbox: SandboxServer
) -> None:
    settings = s3_settings.model_copy(update={"image_hosts": [f"127.0.0.1:{sandbox.port}"]})
    job_id = make_job(sqlite_db, max_images=2)
    [task_id] = enqueue(
        sqlite_db, job_id, [add_item(sqlite_db, job_id, sandbox_image_urls(sandbox, "B0COPIER01", 3))]
    )
    copier = ImageCopier.from_settings(settings, db=sqlite_db)
    try:
        assert copier.run(task_id) is TaskOutcome.DONE
        assert copier.run_due() == dict.fromkeys(TaskOutcome, 0)
        assert len(list(copier.storage.keys("products/"))) == 2
    finally:
        copier.close()


def test_a_job_with_an_unknown_image_mode_fails_its_tasks_as_invalid_data_without_fetching(
    sqlite_db: Database, storage: S3Storage, fetcher: ImageFetcher, sandbox: SandboxServer
) -> None:
    sandbox.clear_log()
    outcome, item_id = copy_row(
        sqlite_db, storage, fetcher, sandbox_image_urls(sandbox, "B0BADMODE1", 1), "merge"
    )
    assert outcome is TaskOutcome.FAILED
    assert image_requests(sandbox) == []
    assert stored_keys(sqlite_db, item_id) is None
