"""The statistics snapshot of a finished job: used while its rows are unchanged, recomputed after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, column, select, table, update

from code2asin.db import Database
from code2asin.jobs import queries, result_queries, service, stats_snapshot
from code2asin.jobs.models import Job, JobItem, JobStatus

jobs_snapshot = table("jobs", column("id"), column("stats_snapshot", JSON()))


def finished_job(db: Database) -> str:
    with db.unit_of_work() as session:
        job = Job(supplier_code="S1", source_filename="in.csv", status=JobStatus.COMPLETED)
        session.add(job)
        session.flush()
        kinds = [("matched", "exact", 0.9), ("matched", "fuzzy", 0.6), ("not_found", None, None)]
        for n, (status, match_type, confidence) in enumerate(kinds * 4, start=1):
            session.add(
                JobItem(
                    job_id=job.id,
                    row_no=n,
                    marketplace="FR",
                    input_code=str(n),
                    status=status,
                    match_type=match_type,
                    match_confidence=confidence,
                    asin="B000000001" if status == "matched" else None,
                    stored_images=["k"] if match_type == "exact" else None,
                )
            )
        return job.id


def page(db: Database, job_id: str, **filters: Any) -> dict[str, Any]:
    with db.unit_of_work() as session:
        return result_queries.results_page(session, job_id, url_for=lambda k: k, limit=2, **filters)


def test_snapshot_tiles_equal_the_live_tiles_and_add_up(any_db: Database) -> None:
    job_id = finished_job(any_db)
    live = page(any_db, job_id)
    with any_db.unit_of_work() as session:
        stored = stats_snapshot.store_stats_snapshot(session, job_id)
    cached = page(any_db, job_id)
    assert live == cached
    assert stored.total == 12 and stored.matched + stored.not_found == stored.total
    assert cached["exact_matches"] == cached["with_images"] == 4 and cached["fuzzy_matches"] == 4
    assert cached["avg_confidence"] == 0.75
    assert page(any_db, job_id, match_type="fuzzy")["filtered_total"] == 4
    assert page(any_db, job_id, status="not_found")["filtered_total"] == 4


def test_a_current_snapshot_is_read_instead_of_scanning_the_rows(any_db: Database) -> None:
    job_id = finished_job(any_db)
    with any_db.unit_of_work() as session:
        stats_snapshot.store_stats_snapshot(session, job_id)
        stored = session.scalar(select(jobs_snapshot.c.stats_snapshot).where(jobs_snapshot.c.id == job_id))
        assert isinstance(stored, dict)
        snapshot = dict(stored)
        # planted: only a read shows it
        snapshot["grid"] = [["FR", "matched", "manual", 1, 0, 0, 99, 99.0, 99, 0, 0]]
        session.execute(
            update(jobs_snapshot).where(jobs_snapshot.c.id == job_id).values(stats_snapshot=snapshot)
        )
    assert page(any_db, job_id)["manual_matches"] == 99


def test_validating_a_row_of_a_finished_job_makes_the_next_read_recompute_the_tiles(any_db: Database) -> None:
    job_id = finished_job(any_db)
    with any_db.unit_of_work() as session:
        stats_snapshot.store_stats_snapshot(session, job_id)
    with any_db.unit_of_work() as session:
        service.validate_item(session, job_id, "B0CHX1W1XY", "alice", row_no=3)  # was not_found
    after = page(any_db, job_id)
    assert after["manual_matches"] == 1 and after["with_asin"] == 9 and after["total"] == 12
    assert page(any_db, job_id, match_type="manual")["filtered_total"] == 1


def _multi_job(db: Database) -> str:
    with db.unit_of_work() as session:
        job = Job(
            supplier_code="S1",
            source_filename="in.csv",
            status=JobStatus.COMPLETED,
            marketplace="FR",
            marketplaces=["FR", "DE"],
        )
        session.add(job)
        session.flush()
        found = {(1, "FR"), (1, "DE"), (2, "FR")}  # row 1 on both, row 2 on FR, row 3 nowhere
        for row in (1, 2, 3):
            for market in ("FR", "DE"):
                matched = (row, market) in found
                session.add(
                    JobItem(
                        job_id=job.id,
                        row_no=row,
                        marketplace=market,
                        input_code=str(row),
                        status="matched" if matched else "not_found",
                        asin="B000000001" if matched else None,
                    )
                )
        return job.id


def test_the_available_on_summary_is_kept_in_the_snapshot_and_recomputed_after_a_change(
    any_db: Database,
) -> None:
    job_id = _multi_job(any_db)
    with any_db.unit_of_work() as session:
        stats_snapshot.store_stats_snapshot(session, job_id)
        stored = session.scalar(select(jobs_snapshot.c.stats_snapshot).where(jobs_snapshot.c.id == job_id))
        assert isinstance(stored, dict)
        assert stored["availability"]["by_count"] == {"0": 1, "1": 1, "2": 1}
        planted = {**stored, "availability": {**stored["availability"], "on_every_marketplace": 99}}
        session.execute(
            update(jobs_snapshot).where(jobs_snapshot.c.id == job_id).values(stats_snapshot=planted)
        )
    with any_db.unit_of_work() as session:
        assert queries.job_details(session, job_id)["availability"]["on_every_marketplace"] == 99  # read
    with any_db.unit_of_work() as session:
        service.validate_item(session, job_id, "B0CHX1W1XY", "alice", row_no=2, marketplace="DE")
    with any_db.unit_of_work() as session:
        availability = queries.job_details(session, job_id)["availability"]
    assert availability["on_every_marketplace"] == 2 and availability["on_no_marketplace"] == 1
