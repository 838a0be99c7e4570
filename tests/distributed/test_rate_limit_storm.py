"""A 429 storm pauses every worker of the credential (the penalty is shared through Redis)."""

from __future__ import annotations

from collections.abc import Callable

from .conftest import Cluster, wait_for

CODES = 2000
ADVERTISED_RETRY = 1.0  # the sandbox's Creators 429 says retryAfterSeconds=1
#: the 429's own reply reaches its worker and is recorded in Redis within this
MARGIN = 0.02


def test_429_storm_makes_every_worker_wait_the_advertised_delay(make_cluster: Callable[..., Cluster]) -> None:
    # 20 calls a second: without a shared penalty, the other processes would call inside the 1 s window
    cluster = make_cluster(CODE2ASIN_CREATORS_REQUESTS_PER_SECOND="20")
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    cluster.start_beat()
    job_id = cluster.create_started_job(CODES, seed=6)

    def both_workers_running() -> bool:
        owners = {owner.split("@", 1)[0] for _, owner in cluster.running_leases(job_id)}
        return {"w1", "w2"} <= owners

    wait_for(both_workers_running, 60, "both workers to run chunks")
    # two in a row: a third would exhaust a batch's in-run retries and park rows for a minute
    cluster.sandbox.inject_faults("getItems", "429", 2)
    wait_for(
        lambda: sum(1 for r in cluster.sandbox.request_log if r.fault == "429") == 2, 30, "the storm to hit"
    )
    assert both_workers_running(), "a worker was idle during the storm"
    cluster.wait_finished(job_id, 120)

    log = cluster.sandbox.request_log
    creators_calls = [r for r in log if r.operation in {"getItems", "searchItems"}]
    throttled = [r for r in creators_calls if r.status == 429]
    assert len(throttled) == 2
    for hit in throttled:
        early = [
            round(r.time - hit.time, 3)
            for r in creators_calls
            if hit.time + MARGIN < r.time < hit.time + ADVERTISED_RETRY - MARGIN
        ]
        assert not early, f"calls {early} s after a 429 that asked for {ADVERTISED_RETRY} s"
    # and the calls did resume once the delay was over
    assert any(r.time >= throttled[-1].time + ADVERTISED_RETRY - MARGIN for r in creators_calls)
    cluster.assert_every_row_exactly_once(job_id, CODES)
