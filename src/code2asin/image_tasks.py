"""The image copier and its tasks: Amazon images of matched rows copied into object storage.

One ``ImageTask`` per job item owes the copy. The chunk runner inserts them with ``enqueue_image_tasks``
in the chunk's transaction; a worker runs one by id with ``run_image_task`` (Celery, queue
``code2asin-images``) or many with ``run_due_image_tasks`` (the embedded thread pool).

A run leases the task with a conditional UPDATE (pending and due, or running with an expired lease);
``attempts`` is the lease's fencing token. The images are fetched outside any transaction (slow hosts
never hold a database lock), then stored under content-addressed keys and recorded in one transaction that
first checks the lease is still ours and locks the product (so a concurrent replace cannot delete an
object between its storing and its recording); objects of images a ``replace`` removed are deleted only
after that commit, under the same lock. A ``network``/``unknown`` failure (a storage fault is
``unknown``) retries on the 1, 5, 15, 60, 240 minute schedule, at most 5 attempts; ``invalid_data``
(every image refused) fails at once. A failed attempt records nothing: all images are fetched before
the first is stored, and a storage fault rolls the recording back. Running a done task again changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from code2asin.config import Settings
from code2asin.db import Database, rowcount
from code2asin.errors import RETRY_BACKOFF_MINUTES, ErrorType, ProviderError
from code2asin.images import FetchedImage, Fetcher, ImageFetcher
from code2asin.jobs.models import ItemStatus, Job, JobItem, utcnow
from code2asin.products import service as products
from code2asin.products.models import ImageTask, Product, ProductImage
from code2asin.products.service import ImageMode, StoredImage
from code2asin.storage import Storage, open_storage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = len(RETRY_BACKOFF_MINUTES)
LEASE = timedelta(minutes=5)
IMAGE_QUEUE = "code2asin-images"


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class TaskOutcome(StrEnum):
    DONE = "done"
    RETRY = "retry"  # pending again, next_attempt_at set
    FAILED = "failed"
    SKIPPED = "skipped"  # not leasable: done, failed, not due, or leased by another worker


@dataclass(frozen=True, slots=True)
class ImageOptions:
    """A job's image options: the seed's ``download_images``, ``max_images_per_product``, ``image_mode``."""

    download: bool = False
    max_images: int = 10
    mode: ImageMode = ImageMode.REPLACE

    @classmethod
    def from_job(cls, options: dict[str, Any] | None) -> ImageOptions:
        options = options or {}
        return cls(
            download=bool(options.get("download_images", False)),
            max_images=max(0, int(options.get("max_images_per_product", 10))),
            mode=ImageMode(options.get("image_mode", ImageMode.REPLACE)),
        )


@dataclass(slots=True)
class _Work:
    """What a leased task owes, read in the lease transaction."""

    token: int
    product_id: str | None = None
    urls: list[str] = field(default_factory=list)
    options: ImageOptions = field(default_factory=ImageOptions)
    existing: set[str] = field(default_factory=set)
    invalid: str | None = None


def enqueue_image_tasks(session: Session, job_id: str, item_ids: Sequence[int]) -> int:
    """Owe an image copy for each item (call in the chunk's transaction). Items that already have a task
    keep it, except a ``failed`` one, which is reset to pending (a job retry tries again). Returns the
    number of tasks inserted or reset."""
    if not item_ids:
        return 0
    rows = session.execute(
        select(ImageTask.item_id, ImageTask.status).where(
            ImageTask.job_id == job_id, ImageTask.item_id.in_(list(item_ids))
        )
    )
    existing: dict[int, str] = {row[0]: row[1] for row in rows}
    new = [
        {"job_id": job_id, "item_id": item_id, "status": TaskStatus.PENDING}
        for item_id in dict.fromkeys(item_ids)
        if item_id not in existing
    ]
    if new:
        session.execute(ImageTask.table().insert(), new)
    failed = [item_id for item_id, status in existing.items() if status == TaskStatus.FAILED]
    if failed:
        session.execute(
            update(ImageTask)
            .where(ImageTask.job_id == job_id, ImageTask.item_id.in_(failed))
            .values(
                status=TaskStatus.PENDING,
                attempts=0,
                next_attempt_at=None,
                error_type=None,
                error_message=None,
            )
            .execution_options(synchronize_session=False)
        )
    return len(new) + len(failed)


def _leasable(now: datetime) -> Any:
    return or_(
        and_(
            ImageTask.status == TaskStatus.PENDING,
            or_(ImageTask.next_attempt_at.is_(None), ImageTask.next_attempt_at <= now),
        ),
        and_(ImageTask.status == TaskStatus.RUNNING, ImageTask.lease_expires_at < now),
    )


def due_image_tasks(db: Database, limit: int = 100, *, now: datetime | None = None) -> list[int]:
    """Ids of tasks that can run now (pending and due, or with an expired lease), oldest first."""
    with db.unit_of_work() as session:
        return list(
            session.scalars(
                select(ImageTask.id).where(_leasable(now or utcnow())).order_by(ImageTask.id).limit(limit)
            )
        )


def due_image_tasks_of(db: Database, job_id: str | None, limit: int = 500) -> list[int]:
    """Ids of the tasks that may run now, of one job (or of every job when ``job_id`` is None)."""
    now = utcnow()
    stmt = select(ImageTask.id).where(_leasable(now))
    if job_id is not None:
        stmt = stmt.where(ImageTask.job_id == job_id)
    with db.unit_of_work() as session:
        return list(session.scalars(stmt.order_by(ImageTask.id).limit(limit)))


def _lease(db: Database, task_id: int, now: datetime) -> _Work | None:
    with db.unit_of_work() as session:
        leased = session.execute(
            update(ImageTask)
            .where(ImageTask.id == task_id, _leasable(now))
            .values(status=TaskStatus.RUNNING, lease_expires_at=now + LEASE, attempts=ImageTask.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if rowcount(leased) != 1:
            return None
        task = session.get_one(ImageTask, task_id, populate_existing=True)
        work = _Work(token=task.attempts)
        job = session.get(Job, task.job_id)
        item = session.get(JobItem, task.item_id)
        if job is None or item is None or item.status != ItemStatus.MATCHED or not item.gtin:
            return work  # nothing owed: the row is not (or no longer) a match
        try:
            work.options = ImageOptions.from_job(job.options)
        except (TypeError, ValueError) as error:
            work.invalid = f"Invalid image options: {error}"
            return work
        if not work.options.download:
            return work
        product = products.find_or_create_product(
            session,
            supplier_code=job.supplier_code,
            gtin=item.gtin,
            marketplace=item.marketplace,  # a several-marketplace job: each store's own listing
            asin=item.asin,
            title=item.amazon_title,
            brand=item.amazon_brand,
        )
        task.product_id = work.product_id = product.id
        work.urls = [str(url) for url in item.amazon_images or ()]
        work.existing = {image.sha256 for image in products.list_images(session, product.id)}
        return work


def images_not_copied(session: Session, job_id: str) -> int:
    """Rows of ``job_id`` whose images were owed and are not (yet) in storage: failed, or waiting for a
    retry."""
    return int(
        session.scalar(
            select(func.count(ImageTask.id)).where(
                ImageTask.job_id == job_id, ImageTask.status != TaskStatus.DONE
            )
        )
        or 0
    )


def _fetch_all(fetcher: Fetcher, work: _Work) -> tuple[list[FetchedImage], list[ProviderError]]:
    """Up to ``max_images`` distinct images in Amazon's order; refused ones are skipped, a network
    failure aborts the attempt (nothing stored yet)."""
    if work.options.mode is ImageMode.SKIP and work.existing:
        return [], []
    fetched: dict[str, FetchedImage] = {}
    refused: list[ProviderError] = []
    for url in work.urls:
        if len(fetched) >= work.options.max_images:
            break
        try:
            image = fetcher.fetch(url)
        except ProviderError as error:
            if error.error_type is not ErrorType.INVALID_DATA:
                raise
            log.warning("image.refused", extra={"url": url, "reason": str(error)})
            refused.append(error)
            continue
        fetched.setdefault(image.sha256, image)
    return list(fetched.values()), refused


def _records(product_id: str, images: list[FetchedImage]) -> list[StoredImage]:
    """What recording ``images`` on the product writes: one content-addressed key each."""
    return [
        StoredImage(
            image.sha256,
            products.image_key(product_id, image.sha256, image.content_type),
            image.url,
            image.content_type,
            len(image.content),
        )
        for image in images
    ]


def _owned(session: Session, task_id: int, token: int) -> ImageTask | None:
    """The task if our lease still holds, locked. The statement is a write so that SQLite takes its write
    lock first: a transaction that reads and then writes fails at once when another one wrote between."""
    claimed = session.execute(
        update(ImageTask)
        .where(ImageTask.id == task_id, ImageTask.status == TaskStatus.RUNNING, ImageTask.attempts == token)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    return session.get_one(ImageTask, task_id, populate_existing=True)


def run_image_task(
    db: Database, storage: Storage, fetcher: Fetcher, task_id: int, now: datetime | None = None
) -> TaskOutcome:
    """Lease task ``task_id``, copy its item's images, record them; see the module docstring."""
    now = now or utcnow()
    work = _lease(db, task_id, now)
    if work is None:
        return TaskOutcome.SKIPPED
    try:
        if work.invalid:
            raise ProviderError(work.invalid, ErrorType.INVALID_DATA)
        images, refused = _fetch_all(fetcher, work) if work.product_id else ([], [])
        if refused and not images:  # every image of the row refused: invalid_data, nothing changes
            raise refused[0]
        removed = _record(db, storage, task_id, work, images, refused)
    except ProviderError as error:  # a storage fault is one too ("unknown"): retried on the schedule
        return _give_back(db, task_id, work.token, error, now)
    except Exception as error:  # a programming fault: retried on the schedule like "unknown"
        log.exception("image.task.error", extra={"task_id": task_id})
        return _give_back(db, task_id, work.token, ProviderError(str(error), ErrorType.UNKNOWN), now)
    if removed is None:
        return TaskOutcome.SKIPPED  # the lease expired and another run took over: it records
    if removed and work.product_id is not None:  # after the commit: a failed one must keep its objects
        _delete_unreferenced(db, storage, work.product_id, removed)
    log.info("image.task.done", extra={"task_id": task_id, "stored": len(images)})
    return TaskOutcome.DONE


def _record(
    db: Database,
    storage: Storage,
    task_id: int,
    work: _Work,
    images: list[FetchedImage],
    refused: list[ProviderError],
) -> list[str] | None:
    """Store and record the images and end the task, in one transaction; returns the keys a ``replace``
    removed (their objects are deleted after the commit), or None when our lease was lost."""
    with db.unit_of_work() as session:
        task = _owned(session, task_id, work.token)
        if task is None:
            return None
        removed: list[str] = []
        if work.product_id is not None:
            _lock_product(session, work.product_id)
            stored = _records(work.product_id, images)
            _put_missing(session, storage, work.product_id, images, stored)
            change = products.record_images(session, work.product_id, stored, work.options.mode)
            removed = change.removed_keys
            item = session.get_one(JobItem, task.item_id)
            item.stored_images = change.keys or None
        task.status = TaskStatus.DONE
        task.lease_expires_at = task.next_attempt_at = None
        task.error_type = ErrorType.INVALID_DATA.value if refused else None
        task.error_message = f"{len(refused)} image(s) refused; first: {refused[0]}" if refused else None
        return removed


def _put_missing(
    session: Session, storage: Storage, product_id: str, images: list[FetchedImage], stored: list[StoredImage]
) -> None:
    """Store the objects of the images the product does not hold now, under its lock (taken by the caller).

    Under the lock, not before it: a concurrent replace deletes the objects it removed once nothing
    references them, under the same lock, so an object stored before our lock could be deleted before we
    record it. Content-addressed keys make an image the product holds already stored.
    """
    current = {row.sha256 for row in products.list_images(session, product_id)}
    for image, record in zip(images, stored, strict=True):
        if image.sha256 in current:
            continue
        try:
            storage.put(record.key, image.content, image.content_type)
        except Exception as error:  # the transaction rolls back: the attempt records nothing
            raise ProviderError(f"Storing image {record.key} failed: {error}", ErrorType.UNKNOWN) from error


def _lock_product(session: Session, product_id: str) -> None:
    """Serialise image changes of one product (a row lock on PostgreSQL, the write lock on SQLite)."""
    session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _delete_unreferenced(db: Database, storage: Storage, product_id: str, keys: list[str]) -> None:
    """Delete the objects of ``keys`` that no row references, under the product's lock, so a concurrent
    copy that records the same content again either sees the object gone (and stores it) or keeps it."""
    with db.unit_of_work() as session:
        _lock_product(session, product_id)
        referenced = set(
            session.scalars(
                select(ProductImage.key).where(
                    ProductImage.product_id == product_id, ProductImage.key.in_(keys)
                )
            )
        )
        for key in keys:
            if key in referenced:
                continue
            try:
                storage.delete(key)
            except Exception:  # an orphan object costs storage, never correctness: log and go on
                log.exception("image.delete.failed", extra={"key": key})


def _give_back(db: Database, task_id: int, token: int, error: ProviderError, now: datetime) -> TaskOutcome:
    with db.unit_of_work() as session:
        task = _owned(session, task_id, token)
        if task is None:
            return TaskOutcome.SKIPPED
        retry = error.error_type is not ErrorType.INVALID_DATA and task.attempts < MAX_ATTEMPTS
        task.error_type = error.error_type.value
        task.lease_expires_at = None
        if retry:
            delay = timedelta(minutes=RETRY_BACKOFF_MINUTES[task.attempts - 1])
            if error.retry_after:
                delay = max(delay, timedelta(seconds=error.retry_after))
            task.status, task.next_attempt_at = TaskStatus.PENDING, now + delay
            task.error_message = f"{error} (attempt {task.attempts} of {MAX_ATTEMPTS})"
        else:
            task.status, task.next_attempt_at = TaskStatus.FAILED, None
            task.error_message = str(error)
    event = "image.task.retry" if retry else "image.task.failed"
    log.warning(event, extra={"task_id": task_id, "error": str(error)})
    return TaskOutcome.RETRY if retry else TaskOutcome.FAILED


def run_due_image_tasks(
    db: Database, storage: Storage, fetcher: Fetcher, concurrency: int = 8, *, batch: int = 200
) -> dict[TaskOutcome, int]:
    """Run every due task on ``concurrency`` threads until none is due (tasks scheduled for a later
    retry are left for a later call). Returns how many runs ended in each outcome."""
    counts = dict.fromkeys(TaskOutcome, 0)

    def run(task_id: int) -> TaskOutcome:
        try:
            return run_image_task(db, storage, fetcher, task_id)
        except Exception:  # e.g. the database went away: the lease expires and a later pass retries
            log.exception("image.task.crashed", extra={"task_id": task_id})
            return TaskOutcome.SKIPPED

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="code2asin-images") as pool:
        while ids := due_image_tasks(db, batch):
            for outcome in pool.map(run, ids):
                counts[outcome] += 1
    return counts


class ImageCopier:
    """The database, storage and fetcher a worker process builds once, to run image tasks by id.

    A Celery task on queue ``code2asin-images`` calls ``copier.run(task_id)``; the embedded dispatcher
    calls ``copier.run_due(concurrency)``.
    """

    def __init__(self, db: Database, storage: Storage, fetcher: Fetcher) -> None:
        self.db = db
        self.storage = storage
        self.fetcher = fetcher

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None) -> ImageCopier:
        database = db or Database.from_settings(settings)
        return cls(database, open_storage(settings), ImageFetcher.from_settings(settings))

    def run(self, task_id: int) -> TaskOutcome:
        return run_image_task(self.db, self.storage, self.fetcher, task_id)

    def run_due(self, concurrency: int = 8) -> dict[TaskOutcome, int]:
        return run_due_image_tasks(self.db, self.storage, self.fetcher, concurrency)

    def close(self) -> None:
        """Close the fetcher's connections (the database belongs to whoever passed or built it)."""
        close = getattr(self.fetcher, "close", None)
        if close is not None:
            close()
