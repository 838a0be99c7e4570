"""Pause stops provider calls within one chunk per worker process; resume looks up no code twice."""

from __future__ import annotations

from collections.abc import Callable

from tests.sandbox_support import searched_codes

from code2asin.jobs.lifecycle import JobAction

from .conftest import Cluster, wait_for

CODES = 3000
PROCESSES = 4  # two workers, two pool processes each


def test_pause_stops_provider_calls_within_one_chunk_and_resume_repeats_no_code(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(CODE2ASIN_CREATORS_REQUESTS_PER_SECOND="60")
    cluster.start_worker("w1", concurrency=PROCESSES // 2)
    cluster.start_worker("w2", concurrency=PROCESSES // 2)
    cluster.start_beat()
    job_id = cluster.create_started_job(CODES, seed=5)
    wait_for(lambda: cluster.processed(job_id) >= 0.2 * CODES, 90, "a fifth of the job processed")
    assert cluster.running_leases(job_id), "no chunk was running when the job was paused"

    paused_at = cluster.act(job_id, JobAction.PAUSE)
    wait_for(lambda: not cluster.running_leases(job_id), 30, "every running chunk to give its lease back")
    processed_when_paused = cluster.processed(job_id)

    after_pause = [r for r in cluster.sandbox.request_log if r.kind == "api" and r.time > paused_at]
    # each process may finish the one call it had in flight (two requests when SP-API answers with a
    # second page); nobody starts another
    assert len(after_pause) <= 2 * PROCESSES, [(r.operation, r.time - paused_at) for r in after_pause]
    assert processed_when_paused < CODES

    cluster.act(job_id, JobAction.RESUME)
    cluster.dispatcher.dispatch(job_id)
    cluster.wait_finished(job_id, 120)

    searched = searched_codes(cluster.sandbox)
    assert len(searched) == CODES
    repeated = [code for code, n in searched.items() if n > 1]
    assert not repeated, f"codes looked up again after resume: {repeated[:10]}"
    cluster.assert_every_row_exactly_once(job_id, CODES)
