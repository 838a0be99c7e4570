"""The job action services (no HTTP): dispatch only when there is work, events carry the actor."""

from __future__ import annotations

import pytest
from tests.api.conftest import Api, upload

from code2asin.errors import LifecycleError
from code2asin.jobs import queries, service
from code2asin.jobs.models import ChunkStatus, JobChunk


def test_pause_and_resume_ask_for_a_dispatch_only_when_chunks_are_left(api: Api) -> None:
    token = api.token()
    content = b"EAN\n3017620422003\n5449000000996\n"
    job_id = str(
        upload(api, token, amazon=True, options='{"provider": "sandbox"}', content=content)["job_id"]
    )
    with api.db.unit_of_work() as session:
        assert service.start_job(session, job_id, "user:ann").dispatch is True
    with api.db.unit_of_work() as session:
        paused = service.pause_job(session, job_id, "user:ann")
        assert (paused.job.status, paused.dispatch) == ("paused", False)
        with pytest.raises(LifecycleError, match="Cannot pause a job that is paused"):
            service.pause_job(session, job_id, "user:ann")
    with api.db.unit_of_work() as session:
        session.query(JobChunk).filter(JobChunk.job_id == job_id).update({"status": ChunkStatus.DONE})
        resumed = service.resume_job(session, job_id, "user:bob")
        assert (resumed.job.status, resumed.dispatch) == ("completed", False)  # nothing left to run
    with api.db.unit_of_work() as session:
        events = [(e.event, e.actor) for e in queries.job_timeline(session, job_id)]
    assert events[1:] == [
        ("start", "user:ann"), ("pause", "user:ann"), ("resume", "user:bob"), ("complete", "user:bob"),
    ]  # fmt: skip


def test_delete_job_and_source_removes_the_stored_file(api: Api) -> None:
    token = api.token()
    job_id = str(upload(api, token)["job_id"])
    storage = api.app.state.code2asin.storage
    with api.db.unit_of_work() as session:
        key = service.get_job(session, job_id).source_key
    assert key is not None and storage.exists(key)
    service.delete_job_and_source(api.db, storage, job_id, actor="test")
    assert not storage.exists(key)
