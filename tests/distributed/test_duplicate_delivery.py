"""A chunk delivered twice (same message sent twice, run by two workers at once) is run once."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from tests.sandbox_support import searched_codes

from code2asin.config import Settings
from code2asin.jobs.celery_app import create_celery
from code2asin.jobs.dispatch import CeleryDispatcher
from code2asin.jobs.models import ConversionLog, JobItem
from code2asin.sandbox import server as sb

from .conftest import Cluster


def test_chunk_sent_twice_to_two_workers_calls_each_code_once_and_logs_each_row_once(
    make_cluster: Callable[..., Cluster],
) -> None:
    # slow enough (20 catalog calls a second) that the second copy arrives while the first holds the lease
    cluster = make_cluster(CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND="8", CODE2ASIN_SPAPI_CATALOG_BURST="1")
    job_id = cluster.create_started_job(100, seed=3, dispatch=False)
    cluster.start_worker("w1", concurrency=1)
    cluster.start_worker("w2", concurrency=1)
    cluster.sandbox.clear_log()
    for _ in range(2):
        cluster.celery.send_task("code2asin.run_chunk", args=[job_id, 0])

    job = cluster.wait_finished(job_id, 60)

    assert job.status == "completed"
    searched = searched_codes(cluster.sandbox)
    assert len(searched) == 100
    assert max(searched.values()) == 1, "a code was looked up by both deliveries"
    with cluster.db.unit_of_work() as session:
        logs = dict(
            session.execute(
                select(ConversionLog.row_no, func.count())
                .where(ConversionLog.job_id == job_id)
                .group_by(ConversionLog.row_no)
            ).all()
        )
        items = session.scalar(select(func.count()).where(JobItem.job_id == job_id))
    assert items == 100
    assert sorted(logs) == list(range(1, 101))
    assert set(logs.values()) == {1}


def test_run_chunk_message_carries_ids_only_no_secrets(
    make_cluster: Callable[..., Cluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = make_cluster()
    for name, value in cluster.env.items():  # the dispatcher's process holds every provider secret
        if name.startswith("CODE2ASIN_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.creators.credential_secret and settings.spapi.refresh_token
    job_id = cluster.create_started_job(150, seed=4, dispatch=False)
    dispatcher = CeleryDispatcher(settings, cluster.db, create_celery(settings))
    dispatcher.dispatch(job_id)  # two chunks, two messages; no worker runs
    dispatcher.close()
    client = cluster.redis_server.client()
    bodies = [
        json.loads(raw)
        for key in client.keys("code2asin*")
        if client.type(key) == b"list"
        for raw in client.lrange(key, 0, -1)
    ]
    client.close()
    assert len(bodies) == 2
    secrets = [
        settings.creators.credential_secret.get_secret_value(),
        settings.spapi.refresh_token.get_secret_value(),
        sb.DEFAULT_LWA_CLIENT_SECRET,
        settings.broker_url or "redis://",
        "postgresql",
    ]
    for message in bodies:
        assert message["headers"]["task"] == "code2asin.run_chunk"
        assert message["content-type"] == "application/json"
        raw = json.dumps(message)
        assert not [s for s in secrets if s in raw]
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        assert kwargs == {}
        assert args[0] == job_id and isinstance(args[1], int) and len(args) == 2
    assert sorted(json.loads(base64.b64decode(m["body"]))[0][1] for m in bodies) == [0, 1]
