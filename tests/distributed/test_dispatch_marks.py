"""Dispatch marks on real Redis and PostgreSQL: a takeover message that a worker took but could not run
(the database went down before the run took the lease) is sent again by the next sweep, not one mark
lifetime later."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from code2asin.config import Settings
from code2asin.jobs.dispatch import DispatchMarks, mark_ttl, send_due_chunks, sweep_jobs
from code2asin.jobs.models import ChunkStatus, ConversionLog, ItemStatus, JobChunk, JobItem, utcnow
from code2asin.jobs.queues import CHUNK_PRIORITY, STARTED_BEFORE_PRIORITY
from code2asin.jobs.tasks import TakeoverPool, WorkerRuntime, run_chunk

from .conftest import Cluster, free_port, wait_for


class Sent:
    """Records the messages a sweep sends (the queue itself is not under test here)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[Any], int]] = []

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        self.messages.append((list(args or []), int(options["priority"])))


def _lose_the_lease(cluster: Cluster, job_id: str, chunk_no: int, owner: str) -> None:
    """Chunk ``chunk_no`` was running on a worker that died: its lease ran out a second ago."""
    with cluster.db.unit_of_work() as session:
        session.execute(
            update(JobChunk)
            .where(JobChunk.job_id == job_id, JobChunk.chunk_no == chunk_no)
            .values(
                status=ChunkStatus.RUNNING,
                lease_owner=owner,
                lease_expires_at=utcnow() - timedelta(seconds=1),
            )
        )


def test_a_takeover_whose_run_failed_before_the_lease_is_sent_again_by_the_next_sweep(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(CODE2ASIN_WORKER_LEASE_SECONDS="8")
    job_id = cluster.create_started_job(250, dispatch=False)  # chunks 0-2, no message sent yet
    marks = DispatchMarks(cluster.redis_server.client(), mark_ttl(cluster.settings))
    _lose_the_lease(cluster, job_id, 1, "w1@test/1/dead")

    first = Sent()
    sweep_jobs(cluster.db, first, marks)
    assert sorted(first.messages) == [
        ([job_id, 0], CHUNK_PRIORITY),
        ([job_id, 1], STARTED_BEFORE_PRIORITY),  # the takeover goes ahead of the queue
        ([job_id, 2], CHUNK_PRIORITY),
    ]
    again = Sent()
    sweep_jobs(cluster.db, again, marks)
    assert again.messages == []  # every message is still waiting: nothing is sent twice

    # a worker takes chunk 1's takeover message while PostgreSQL is down: the run fails before its lease
    down = Settings(
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/gone",
        broker_url=cluster.settings.broker_url,
        data_dir=cluster.settings.data_dir,
    )
    runtime = WorkerRuntime(down)
    try:
        with pytest.raises(Exception, match="onnection"):
            run_chunk(runtime, job_id, 1, worker_name="w2@test")
    finally:
        runtime.close()

    retried = Sent()
    sweep_jobs(cluster.db, retried, marks)
    assert retried.messages == [([job_id, 1], STARTED_BEFORE_PRIORITY)]


def test_a_plain_mark_left_behind_does_not_hold_a_takeover_back(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(CODE2ASIN_WORKER_LEASE_SECONDS="8")
    job_id = cluster.create_started_job(100, dispatch=False)
    marks = DispatchMarks(cluster.redis_server.client(), mark_ttl(cluster.settings))
    marks.mark(job_id, [0])  # a message for chunk 0 was sent; the worker that received it died with it
    _lose_the_lease(cluster, job_id, 0, "w1@test/1/dead")

    sent = Sent()
    sweep_jobs(cluster.db, sent, marks)
    assert sent.messages == [([job_id, 0], STARTED_BEFORE_PRIORITY)]
    sweep_jobs(cluster.db, again := Sent(), marks)
    assert again.messages == []  # the takeover message is marked now
    _lose_the_lease(cluster, job_id, 0, "w2@test/2/dead")  # its run was lost too: a new lease to take over
    sweep_jobs(cluster.db, third := Sent(), marks)
    assert third.messages == [([job_id, 0], STARTED_BEFORE_PRIORITY)]


class StartsAtOnce(Sent):
    """A worker so quick that it starts each chunk while the dispatcher is still sending the others."""

    def __init__(self, marks: DispatchMarks) -> None:
        super().__init__()
        self.marks = marks

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        super().send_task(name, args, **options)
        job_id, chunk_no = args
        self.marks.clear(job_id, chunk_no)  # what run_chunk does first


def test_a_chunk_started_while_the_dispatch_was_sending_keeps_no_mark(
    make_cluster: Callable[..., Cluster],
) -> None:
    """Its mark would hide it from the sweeper when it comes back for a retry (for a mark's lifetime)."""
    cluster = make_cluster(CODE2ASIN_WORKER_LEASE_SECONDS="8")
    job_id = cluster.create_started_job(300, dispatch=False)
    marks = DispatchMarks(cluster.redis_server.client(), mark_ttl(cluster.settings))
    sender = StartsAtOnce(marks)
    send_due_chunks(cluster.db, sender, marks, job_id, resend_marked=True)
    assert len(sender.messages) == 3
    assert marks.unmarked(job_id, [0, 1, 2]) == [0, 1, 2]


class BrokerGoneAfter(Sent):
    """The broker answers ``sent`` messages, then the connection is lost."""

    def __init__(self, sent: int) -> None:
        super().__init__()
        self.left = sent

    def send_task(self, name: str, args: Any = None, **options: Any) -> None:
        if self.left == 0:
            raise ConnectionError("Connection closed by server.")
        self.left -= 1
        super().send_task(name, args, **options)


def test_a_chunk_whose_message_could_not_be_sent_is_left_unmarked_for_the_next_sweep(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(CODE2ASIN_WORKER_LEASE_SECONDS="8")
    job_id = cluster.create_started_job(300, dispatch=False)
    marks = DispatchMarks(cluster.redis_server.client(), mark_ttl(cluster.settings))
    with pytest.raises(ConnectionError):
        send_due_chunks(cluster.db, BrokerGoneAfter(1), marks, job_id, resend_marked=True)
    assert marks.unmarked(job_id, [0, 1, 2]) == [1, 2]
    sweep_jobs(cluster.db, retried := Sent(), marks)
    assert retried.messages == [([job_id, 1], CHUNK_PRIORITY), ([job_id, 2], CHUNK_PRIORITY)]


def _chunk_status(cluster: Cluster, job_id: str, chunk_no: int) -> str:
    with cluster.db.unit_of_work() as session:
        return session.scalars(
            select(JobChunk.status).where(JobChunk.job_id == job_id, JobChunk.chunk_no == chunk_no)
        ).one()


def test_beats_takeover_threads_run_a_lost_chunk_at_once_and_the_queue_gets_the_rest(
    make_cluster: Callable[..., Cluster],
) -> None:
    """No free worker process is needed: the chunk starts on beat's thread as soon as the sweep sees its
    lease ended. With every thread busy, the next lost chunk goes to the queue ahead of the others."""
    cluster = make_cluster(CODE2ASIN_WORKER_LEASE_SECONDS="8")
    job_id = cluster.create_started_job(300, dispatch=False)  # chunks 0-2
    marks = DispatchMarks(cluster.redis_server.client(), mark_ttl(cluster.settings))
    _lose_the_lease(cluster, job_id, 0, "w1@test/1/dead")
    _lose_the_lease(cluster, job_id, 1, "w1@test/1/dead")
    with pytest.MonkeyPatch.context() as env:  # beat's settings: the workers' (the sandbox's providers)
        for name, value in cluster.env.items():
            if name.startswith("CODE2ASIN_"):
                env.setenv(name, value)
        runtime = WorkerRuntime(Settings())
    sent = Sent()
    pool = TakeoverPool(runtime, sent, threads=1, name="beat-test")
    try:
        assert sweep_jobs(cluster.db, sent, marks, pool.offer) == 3
        # chunk 0 runs here; the one thread is busy, so chunk 1 is sent as a takeover message
        assert sorted(sent.messages) == [
            ([job_id, 1], STARTED_BEFORE_PRIORITY),
            ([job_id, 2], CHUNK_PRIORITY),
        ]
        wait_for(lambda: _chunk_status(cluster, job_id, 0) == ChunkStatus.DONE, 60, "chunk 0 done")
        assert marks.unmarked(job_id, [0]) == [0]  # its run cleared the mark
        with cluster.db.unit_of_work() as session:
            done = session.scalars(
                select(JobItem.status).where(JobItem.job_id == job_id, JobItem.row_no <= 100)
            ).all()
            actors = set(session.scalars(select(ConversionLog.actor).where(ConversionLog.job_id == job_id)))
        assert len(done) == 100 and ItemStatus.PENDING not in done
        assert {a.split("/")[0] for a in actors if a} == {"takeover@beat-test"}  # run on beat's thread
        wait_for(lambda: pool.offer(job_id, 0), 10, "the thread free again")  # chunk 0 is done: skipped
    finally:
        pool.close()
        runtime.close()
