"""When the sweeper wakes: its period, or just after the first running lease runs out (both databases).

Every lease is set from one ``NOW`` and the sweeper asked at that same instant, so a slow machine cannot
move the figures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from code2asin.db import Database
from code2asin.jobs.dispatch import seconds_to_next_sweep
from code2asin.jobs.models import ChunkStatus, Job, JobChunk, JobStatus, utcnow

NOW = utcnow()


def _job_with_leases(db: Database, status: JobStatus, leases: dict[int, float]) -> None:
    """A job of ``status`` whose chunk N is running with a lease ending ``leases[N]`` s after ``NOW``."""
    now = NOW
    with db.unit_of_work() as session:
        job = Job(supplier_code="SUP", source_filename="f.csv", status=status)
        session.add(job)
        session.flush()
        for chunk_no, ends_in in leases.items():
            session.add(
                JobChunk(
                    job_id=job.id,
                    chunk_no=chunk_no,
                    marketplace="FR",
                    first_row=100 * chunk_no + 1,
                    last_row=100 * chunk_no + 100,
                    status=ChunkStatus.RUNNING,
                    lease_owner=f"w1@test/1/{chunk_no}",
                    lease_expires_at=now + timedelta(seconds=ends_in),
                )
            )


def test_the_sweeper_wakes_just_after_the_first_lease_runs_out(any_db: Database) -> None:
    assert seconds_to_next_sweep(any_db, 2.0, NOW) == 2.0  # nothing running: the period
    _job_with_leases(any_db, JobStatus.PROCESSING, {0: 5.0, 1: 1.5, 2: -3.0})  # chunk 2's lease is over
    _job_with_leases(any_db, JobStatus.PAUSED, {0: 0.5})  # a paused job's leases do not count
    assert seconds_to_next_sweep(any_db, 2.0, NOW) == pytest.approx(1.55)
    assert seconds_to_next_sweep(any_db, 1.0, NOW) == 1.0  # the period when it comes first


def test_a_lease_about_to_end_does_not_make_the_sweeper_spin(any_db: Database) -> None:
    _job_with_leases(any_db, JobStatus.PROCESSING, {0: 0.01})
    assert seconds_to_next_sweep(any_db, 2.0, NOW) == pytest.approx(0.2)


def test_a_lease_that_ended_while_the_sweep_ran_brings_the_next_sweep_at_once(any_db: Database) -> None:
    """The sweep that started 0.3 s ago did not see it; a lease that ended before that sweep was its own."""
    _job_with_leases(any_db, JobStatus.PROCESSING, {0: -0.1, 1: 5.0})
    started = NOW - timedelta(seconds=0.3)
    assert seconds_to_next_sweep(any_db, 2.0, NOW, since=started) == pytest.approx(0.2)
    before = NOW - timedelta(seconds=0.05)  # chunk 0's lease ended before this sweep started
    assert seconds_to_next_sweep(any_db, 2.0, NOW, since=before) == pytest.approx(2.0)
