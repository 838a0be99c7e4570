"""A tracker made from a several-marketplace job follows the marketplace asked for (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from code2asin.db import Database
from code2asin.errors import InvalidValueError
from code2asin.jobs.models import Job, JobItem
from code2asin.pricing import service as pricing

ASINS = {"FR": "B0FRANCE01", "DE": "B0GERMAN01"}


def _job(db: Database) -> str:
    with db.unit_of_work() as session:
        job = Job(
            supplier_code="SUP1",
            status="completed",
            mode="amazon",
            marketplace="FR",
            marketplaces=["FR", "DE"],
            provider_plan="sandbox",
            source_filename="in.csv",
        )
        session.add(job)
        session.flush()
        for market, asin in ASINS.items():
            session.add(
                JobItem(
                    job_id=job.id,
                    row_no=1,
                    marketplace=market,
                    input_code="3017620422003",
                    gtin="03017620422003",
                    status="matched",
                    asin=asin,
                )
            )
        return job.id


@pytest.mark.parametrize(("asked", "expected"), [("DE", "DE"), (None, "FR"), ("de", "DE")])
def test_the_tracker_follows_the_asked_marketplace_of_the_job(
    any_db: Database, asked: str | None, expected: str
) -> None:
    job_id = _job(any_db)
    with any_db.unit_of_work() as session:
        tracker, _ = pricing.create_tracker(
            session, pricing.TrackerSpec(name="t", source_job_id=job_id, marketplace=asked), actor="alice"
        )
        assert tracker.marketplace == expected
        assert [p.asin for p in pricing.tracked_products(session, tracker)] == [ASINS[expected]]


def test_a_marketplace_the_job_did_not_run_on_is_refused(any_db: Database) -> None:
    job_id = _job(any_db)
    with pytest.raises(InvalidValueError, match="FR, DE, not US"), any_db.unit_of_work() as session:
        pricing.create_tracker(
            session, pricing.TrackerSpec(name="t", source_job_id=job_id, marketplace="US"), actor="alice"
        )
