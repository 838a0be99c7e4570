"""A worker killed with SIGKILL mid-chunk, three times: the job completes with every row exactly once."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from code2asin.jobs.models import JobChunk

from .conftest import Cluster, wait_for

CODES = 5000


def test_kill_9_of_a_worker_three_times_mid_chunk_completes_the_job_with_every_row_exactly_once(
    make_cluster: Callable[..., Cluster],
) -> None:
    # paced so the job lasts long enough to kill workers mid-chunk; lease 4 s, sweep every 1 s
    cluster = make_cluster(CODE2ASIN_CREATORS_REQUESTS_PER_SECOND="60")
    workers = {name: cluster.start_worker(name) for name in ("w1", "w2")}
    cluster.start_beat()
    job_id = cluster.create_started_job(CODES, seed=1)

    killed: list[int] = []
    for fraction in (0.15, 0.40, 0.65):
        wait_for(lambda f=fraction: cluster.processed(job_id) >= f * CODES, 120, f"{fraction:.0%} processed")
        chunk_no, owner = wait_for(
            lambda: next((lease for lease in cluster.running_leases(job_id) if "@test/" in lease[1]), None),
            30,
            "a chunk leased by a worker",
        )
        name = owner.split("@", 1)[0]
        Cluster.kill(workers[name])  # the main process and its pool children, mid-chunk
        killed.append(chunk_no)
        workers[name] = cluster.start_worker(name)

    cluster.wait_finished(job_id, 300)  # a message lost with its worker is re-sent within ~10 leases

    cluster.assert_every_row_exactly_once(job_id, CODES)
    with cluster.db.unit_of_work() as session:
        attempts = dict(
            session.execute(
                select(JobChunk.chunk_no, JobChunk.attempts).where(
                    JobChunk.job_id == job_id, JobChunk.chunk_no.in_(killed)
                )
            ).all()
        )
    # each killed chunk was taken over after its lease expired
    assert all(attempts[n] >= 2 for n in killed), attempts
