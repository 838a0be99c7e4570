"""A simulated month of weekly re-pricing against the sandbox, with a controllable clock."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select, update
from tests.pricing.conftest import (
    MONDAY,
    Clock,
    Receiver,
    SyncDispatcher,
    direct_job,
    priced_products,
    set_sandbox,
)

from code2asin.db import Database
from code2asin.jobs.models import ChunkStatus, Job, JobChunk, JobItem, JobStatus
from code2asin.pricing import reprice, webhooks
from code2asin.pricing.models import PriceAlert, PriceObservation, Tracker, WebhookDelivery
from code2asin.pricing.scheduler import run_due_trackers
from code2asin.pricing.service import TrackerSpec, create_tracker
from code2asin.sandbox import server as sb


def test_four_weekly_runs_store_history_raise_each_alert_once_and_deliver_signed_webhooks(
    any_db: Database, sandbox: sb.SandboxServer, receiver: Receiver, tmp_path: Path
) -> None:
    products = priced_products(6)
    (_, a_asin, _), (_, b_asin, _), (_, c_asin, _) = products[:3]
    # supplier prices far below Amazon's (no crossing by the daily drift), except none given for the last
    rows = [(e, a, "1,00") for e, a, _ in products[:5]] + [(products[5][0], products[5][1], "")]
    source = direct_job(any_db, tmp_path, rows)
    clock = Clock(MONDAY)
    with any_db.unit_of_work() as session:
        tracker, secret = create_tracker(
            session,
            TrackerSpec(source_job_id=source, provider_plan="spapi+creators", webhook_url=receiver.url),
            "tester",
            now=clock(),
        )
        tracker_id = tracker.id
        assert tracker.next_run_at is not None and tracker.next_run_at.isoformat().startswith(
            "2026-01-12T06:00"
        )
    assert secret is not None
    worker = SyncDispatcher(any_db, sandbox, clock)

    def week(n: int) -> str:
        clock.now = MONDAY + timedelta(days=7 * n, hours=-1)  # Monday 06:00 of week n
        set_sandbox(sandbox, date=clock.now.date().isoformat())
        assert run_due_trackers(any_db, worker, clock.now - timedelta(seconds=1)) == []  # not due yet
        started = run_due_trackers(any_db, worker, clock.now)
        assert len(started) == 1
        assert run_due_trackers(any_db, worker, clock.now) == []  # the slot runs once
        return started[0]

    run1 = week(1)
    first_prices = {o.asin: o.price for o in observations(any_db, run1)}
    assert len(first_prices) == 6 and all(p is not None and p >= 10 for p in first_prices.values())
    assert alerts(any_db) == []

    a_price = first_prices[a_asin]
    assert a_price is not None
    a_new = float(a_price * Decimal("1.25"))
    set_sandbox(sandbox, asin=a_asin, marketplace="FR", price=round(a_new, 2))
    set_sandbox(sandbox, asin=b_asin, marketplace="FR", price=None)  # no offer: out of stock
    set_sandbox(sandbox, asin=c_asin, marketplace="FR", price=0.5)  # under the 1.00 supplier price
    run2 = week(2)
    assert sorted((a.asin, a.kind) for a in alerts(any_db)) == sorted(
        [
            (a_asin, "price_move"),
            (b_asin, "out_of_stock"),
            (c_asin, "price_move"),
            (c_asin, "crossed_supplier_price"),
        ]
    )
    set_sandbox(sandbox, asin=b_asin, marketplace="FR", price=30.0)  # back, at a price of its own
    run3 = week(3)
    run4 = week(4)
    kinds = sorted((a.asin, a.kind) for a in alerts(any_db))
    assert kinds == sorted(
        [
            *[(a_asin, "price_move"), (b_asin, "out_of_stock")],
            (b_asin, "back_in_stock"),
            (c_asin, "price_move"),
            (c_asin, "crossed_supplier_price"),
        ]
    )

    with any_db.unit_of_work() as session:
        assert session.scalar(select(func.count(PriceObservation.id))) == 24  # 6 products x 4 runs
        for run in (run1, run2, run3, run4):
            job = session.get(Job, run)
            assert job is not None and job.status == JobStatus.COMPLETED and job.mode == "reprice"
            assert (job.total_codes, job.processed_codes, job.successful_conversions) == (6, 6, 6)
        columns = reprice.run_price_columns(session, run2)
    by_asin = {o.asin: o.gtin for o in observations(any_db, run2)}
    row_of = {v: k for k, v in item_rows(any_db, run2).items()}
    a_cols = columns[row_of[by_asin[a_asin]]]
    assert a_cols.previous_price == first_prices[a_asin] and a_cols.change_percent is not None
    assert a_cols.change_percent > 20 and a_cols.price_difference_percent is not None
    assert a_cols.supplier_price == Decimal("1.0000") and a_cols.currency_mismatch is None

    # a re-run of a finished chunk writes no second observation nor alert
    before = len(alerts(any_db))
    with any_db.unit_of_work() as session:
        session.execute(update(JobChunk).where(JobChunk.job_id == run2).values(status=ChunkStatus.PENDING))
        session.execute(update(Job).where(Job.id == run2).values(status=JobStatus.PROCESSING))
        session.execute(update(JobItem).where(JobItem.job_id == run2).values(status="pending"))
    worker.dispatch(run2)
    assert len(alerts(any_db)) == before
    assert len(observations(any_db, run2)) == 6

    # webhooks: the receiver fails once, the failed delivery is retried after one minute
    receiver.fail_next = 1
    assert webhooks.deliver_due(any_db, now=clock.now) == 5
    assert len(receiver.delivered()) == 4
    assert webhooks.deliver_due(any_db, now=clock.now + timedelta(seconds=59)) == 0  # not due yet
    assert webhooks.deliver_due(any_db, now=clock.now + timedelta(minutes=1)) == 1
    assert webhooks.deliver_due(any_db, now=clock.now + timedelta(hours=5)) == 0  # nothing left
    delivered = receiver.delivered()
    assert sorted(d["alert"]["id"] for d in delivered) == sorted(a.id for a in alerts(any_db))
    for request in receiver.requests:
        assert webhooks.verify(secret, request.body, request.headers.get(webhooks.SIGNATURE_HEADER))
        assert secret not in request.body.decode()
    with any_db.unit_of_work() as session:
        logs = [d.attempt_log for d in session.scalars(select(WebhookDelivery))]
        assert sorted(len(x) for x in logs) == [1, 1, 1, 1, 2]
        assert all(d.status == "delivered" for d in session.scalars(select(WebhookDelivery)))
        assert secret not in str(logs)
        assert session.get(Tracker, tracker_id) is not None


def observations(db: Database, job_id: str) -> list[PriceObservation]:
    with db.unit_of_work() as session:
        return list(session.scalars(select(PriceObservation).where(PriceObservation.job_id == job_id)))


def alerts(db: Database) -> list[PriceAlert]:
    with db.unit_of_work() as session:
        return list(session.scalars(select(PriceAlert).order_by(PriceAlert.id)))


def item_rows(db: Database, job_id: str) -> dict[int, str]:
    with db.unit_of_work() as session:
        rows = session.execute(select(JobItem.row_no, JobItem.gtin).where(JobItem.job_id == job_id))
        return {int(r[0]): str(r[1]) for r in rows}
