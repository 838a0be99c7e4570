"""A finished job with a ``fuzzy`` row, for the tests of remembered match decisions.

The job is the direct-mode example (every row matched, nothing looked up); row 1 is then rewritten as a
title-search match, as the runner would leave it, so no provider is needed.
"""

from __future__ import annotations

from pathlib import Path

from code2asin.db import Database
from code2asin.ingest import open_table
from code2asin.jobs import creation, service
from code2asin.jobs.models import JobItem, JobMode

REPO_ROOT = Path(__file__).resolve().parents[1]
DIRECT_EXAMPLE = REPO_ROOT / "examples" / "direct_example.csv"
#: row 1 of the example: Nutella, EAN 3017620422003
FUZZY_ROW = 1
FUZZY_GTIN = "03017620422003"
FUZZY_ASIN = "B0FUZZY001"
FUZZY_TITLE = "Nutella Hazelnut Spread 400g Jar"


def fuzzy_job(db: Database, supplier: str = "SUP001") -> str:
    """A completed job of ``supplier`` whose row 1 is a ``fuzzy`` match on ``FUZZY_ASIN``."""
    new = creation.NewJob(supplier, JobMode.DIRECT, "FR", "direct", DIRECT_EXAMPLE.name)
    job_id = creation.create_job(db, open_table(DIRECT_EXAMPLE), new)
    with db.unit_of_work() as session:
        service.start_job(session, job_id, "test")
        item = session.query(JobItem).filter_by(job_id=job_id, row_no=FUZZY_ROW).one()
        item.asin = FUZZY_ASIN
        item.match_type = "fuzzy"
        item.match_confidence = 0.72
        item.amazon_title = FUZZY_TITLE
        item.amazon_price = None
        item.review_flags = "title"
        item.field_sources = {"asin": "creators", "amazon_title": "creators"}
    return job_id
