"""A job on FR, DE and IT run by two Celery worker processes: each chunk is looked up on its own
marketplace (its own plan, built once per worker process) and every (row, marketplace) ends once with that
marketplace's ASIN."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from code2asin.jobs.models import JobItem
from code2asin.sandbox import sample_codes

from .conftest import Cluster

MARKETPLACES = ("FR", "DE", "IT")


def test_two_workers_run_a_three_marketplace_job_with_each_marketplace_s_own_asins(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster()
    codes = sample_codes.multi_marketplace_codes(150, MARKETPLACES, not_sold=30)
    job_id = cluster.create_started_job(
        len(codes), marketplaces=MARKETPLACES, code_list=[c.code for c in codes], dispatch=False
    )
    cluster.start_worker("w1", concurrency=2)
    cluster.start_worker("w2", concurrency=2)
    cluster.sandbox.clear_log()
    cluster.dispatcher.dispatch(job_id)

    job = cluster.wait_finished(job_id, 240)

    assert job.status == "completed"
    with cluster.db.unit_of_work() as session:
        found = {
            (row_no, market): (status, asin)
            for row_no, market, status, asin in session.execute(
                select(JobItem.row_no, JobItem.marketplace, JobItem.status, JobItem.asin).where(
                    JobItem.job_id == job_id
                )
            )
        }
    assert len(found) == len(codes) * 3
    for row_no, code in enumerate(codes, start=1):
        for market in MARKETPLACES:
            expected = code.asin(market)
            assert found[(row_no, market)] == (("matched", expected) if expected else ("not_found", None))
    searched = {r.marketplace for r in cluster.sandbox.request_log if r.operation == "searchCatalogItems"}
    assert searched == {"A13V1IB3VIYZZH", "A1PA6795UKMFR9", "APJ6JRA9NG5V4"}  # FR, DE, IT
