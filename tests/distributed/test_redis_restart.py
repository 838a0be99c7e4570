"""Redis restarted empty mid-job (every queued message lost): the sweeper re-sends, the job completes."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from code2asin.jobs.models import ChunkStatus, JobChunk

from .conftest import Cluster, wait_for

CODES = 3000


def test_redis_restarted_empty_mid_job_loses_queued_chunks_and_the_sweeper_resends_them(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(CODE2ASIN_CREATORS_REQUESTS_PER_SECOND="60")
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    cluster.start_beat()
    job_id = cluster.create_started_job(CODES, seed=2)
    wait_for(lambda: cluster.processed(job_id) >= 0.25 * CODES, 90, "a quarter of the job processed")

    client = cluster.redis_server.client()
    before = client.info("server")["run_id"]
    assert client.llen("code2asin\x06\x165") > 0  # chunk messages were queued
    client.close()
    cluster.redis_server.kill()
    with cluster.db.unit_of_work() as session:
        waiting = session.scalar(
            select(func.count()).where(JobChunk.job_id == job_id, JobChunk.status == ChunkStatus.PENDING)
        )
    cluster.redis_server.start()  # same port, nothing saved: queue, dispatch marks and limiter state gone
    client = cluster.redis_server.client()
    assert client.info("server")["run_id"] != before
    client.close()

    cluster.wait_finished(job_id, 150)

    assert waiting and waiting >= 5, "no chunk was waiting in the queue when Redis went away"
    cluster.assert_every_row_exactly_once(job_id, CODES)
