"""The Redis limiter against the real Redis server (CODE2ASIN_TEST_REDIS_URL, default 127.0.0.1:6379/15)."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from code2asin.providers.ratelimit import RedisLimiter, create_limiter

REDIS_URL = os.environ.get("CODE2ASIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # no server is a failure: .ci/run starts Redis
    value = f"test:ratelimit:{uuid.uuid4().hex}:"
    yield value
    for key in client.scan_iter(f"{value}*"):
        client.delete(key)
    client.close()


def _acquire_in_process(
    prefix: str, key: str, count: int, rate: float, burst: int, out: multiprocessing.Queue[float]
) -> None:
    limiter = RedisLimiter(redis.Redis.from_url(REDIS_URL), prefix=prefix)
    limiter.configure(key, rate, burst)
    for _ in range(count):
        limiter.acquire(key)
        out.put(time.time())


def _max_in_window(stamps: list[float], window: float) -> int:
    ordered = sorted(stamps)
    return max(sum(1 for s in ordered[i:] if s < start + window) for i, start in enumerate(ordered))


def test_redis_limiter_shared_by_two_processes_never_exceeds_the_quota(prefix: str) -> None:
    rate, burst, per_process = 20.0, 2, 15
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[float] = context.Queue()
    workers = [
        context.Process(
            target=_acquire_in_process, args=(prefix, "creators:x:FR", per_process, rate, burst, out)
        )
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    stamps = [out.get(timeout=30) for _ in range(2 * per_process)]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    window = 1.0
    # each process alone would take 15 in <1 s; together they must share 20/s
    assert _max_in_window(stamps, window) <= burst + rate * window


def test_redis_penalty_set_by_one_client_pauses_another(prefix: str) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    first = RedisLimiter(redis.Redis.from_url(REDIS_URL), prefix=prefix)
    second = RedisLimiter(redis.Redis.from_url(REDIS_URL), prefix=prefix, sleep=sleep)
    second.configure("spapi:x:catalog", rate=100.0, burst=10)
    first.penalise("spapi:x:catalog", 0.3)
    second.acquire("spapi:x:catalog")
    assert waits and 0.2 < waits[0] <= 0.3


def test_redis_limiter_paces_burst_then_interval(prefix: str) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    limiter = RedisLimiter(redis.Redis.from_url(REDIS_URL), prefix=prefix, sleep=sleep)
    limiter.configure("k", rate=10.0, burst=3)
    for _ in range(2):
        limiter.acquire("k")
    assert waits == []  # the burst less its reserve token is free
    limiter.acquire("k")
    assert waits and waits[0] == pytest.approx(0.101, abs=0.02)  # 1 % margin, no slack with a reserve


def test_create_limiter_with_redis_url_is_shared() -> None:
    assert isinstance(create_limiter(REDIS_URL), RedisLimiter)
