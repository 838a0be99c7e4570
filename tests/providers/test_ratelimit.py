from __future__ import annotations

import itertools
import random
import threading
from typing import TYPE_CHECKING

import pytest

from code2asin.providers.ratelimit import InProcessLimiter, create_limiter

if TYPE_CHECKING:
    from conftest import FakeClock


def paced(clock: FakeClock, rate: float, burst: int, margin: float = 0, slack: float = 0) -> InProcessLimiter:
    """A limiter on the fake clock with key ``k`` at ``rate``/``burst``, starting at t = 0."""
    clock.now = 0.0
    limiter = InProcessLimiter(clock=clock, sleep=clock.sleep, margin=margin, slack=slack)
    limiter.configure("k", rate=rate, burst=burst)
    return limiter


def test_a_burst_of_two_keeps_one_token_in_reserve_and_paces_at_the_rate_and_margin(clock: FakeClock) -> None:
    limiter = paced(clock, 2.0, 2, margin=0.01, slack=0.02)
    times = []
    for _ in range(10):
        limiter.acquire("k")
        times.append(clock.now)
    interval = 0.5 * 1.01  # no slack: the reserve token absorbs jitter
    assert times[:2] == [0.0, pytest.approx(interval)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap == pytest.approx(interval) for gap in gaps)


def test_a_burst_of_one_has_no_reserve_so_its_interval_carries_the_slack(clock: FakeClock) -> None:
    limiter = paced(clock, 2.0, 1, margin=0.01, slack=0.02)
    for _ in range(5):
        limiter.acquire("k")
    assert clock.now == pytest.approx(4 * (0.5 * 1.01 + 0.02))


@pytest.mark.parametrize("burst", [2, 3, 5])
def test_arrivals_up_to_one_interval_late_or_early_never_empty_the_servers_bucket(
    clock: FakeClock, burst: int
) -> None:
    """Amazon's token bucket, fed by our limiter's grants each delayed by a random 0-90 % of an interval
    on the way (network, threads): the reserve token lets every request through."""
    clock.now = 0.0
    rate = 40.0
    limiter = InProcessLimiter(clock=clock, sleep=clock.sleep)
    limiter.configure("k", rate=rate, burst=burst)
    jitter = random.Random(14)
    arrivals = []
    for _ in range(2000):
        limiter.acquire("k")
        arrivals.append(clock.now + jitter.uniform(0.0, 0.9) / rate)
    tokens, stamp, refused = float(burst), 0.0, 0
    for arrived in sorted(arrivals):
        tokens = min(float(burst), tokens + (arrived - stamp) * rate)
        stamp = arrived
        if tokens < 1.0:
            refused += 1
        else:
            tokens -= 1.0
    assert refused == 0
    assert (len(arrivals) - burst) / rate / clock.now > 0.98  # and the bucket stays busy


def test_unconfigured_key_is_paced_at_one_per_second(clock: FakeClock) -> None:
    clock.now = 0.0
    limiter = InProcessLimiter(clock=clock, sleep=clock.sleep, margin=0.0, slack=0.0)
    for _ in range(3):
        limiter.acquire("unknown")
    assert clock.now == pytest.approx(2.0)


def test_idle_time_refills_the_burst_but_no_more(clock: FakeClock) -> None:
    limiter = paced(clock, 1.0, 3)
    for _ in range(3):
        limiter.acquire("k")
    clock.now = 100.0  # a long idle period
    for _ in range(3):
        limiter.acquire("k")
    assert clock.now == pytest.approx(101.0)  # 2 at once (1 token kept in reserve), the 3rd 1 s later


def test_penalty_pauses_the_key_for_the_advertised_delay(clock: FakeClock) -> None:
    clock.now = 0.0
    limiter = InProcessLimiter(clock=clock, sleep=clock.sleep)
    limiter.configure("k", rate=10.0, burst=5)
    limiter.penalise("k", 60.0)
    limiter.acquire("k")
    assert clock.now == pytest.approx(60.0)


def test_shorter_penalty_does_not_shorten_a_longer_one(clock: FakeClock) -> None:
    clock.now = 0.0
    limiter = InProcessLimiter(clock=clock, sleep=clock.sleep)
    limiter.penalise("k", 60.0)
    limiter.penalise("k", 5.0)
    limiter.acquire("k")
    assert clock.now == pytest.approx(60.0)


def test_penalty_on_one_key_leaves_other_keys_alone(clock: FakeClock) -> None:
    clock.now = 0.0
    limiter = InProcessLimiter(clock=clock, sleep=clock.sleep)
    limiter.penalise("spapi:a:catalog", 60.0)
    limiter.acquire("spapi:a:pricing")
    assert clock.now == 0.0


def test_threads_sharing_a_limiter_never_exceed_the_quota(clock: FakeClock) -> None:
    clock.now = 0.0
    lock = threading.Lock()

    def sleep(seconds: float) -> None:  # the fake clock advances for everyone
        with lock:
            clock.now += seconds

    limiter = InProcessLimiter(clock=clock, sleep=sleep, margin=0.0, slack=0.0)
    limiter.configure("k", rate=1.0, burst=1)
    stamps: list[float] = []

    def work() -> None:
        for _ in range(5):
            limiter.acquire("k")
            with lock:
                stamps.append(clock.now)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 20
    # one slot per second: at most one grant is stamped within any half-open second [n, n+1)
    ordered = sorted(stamps)
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(ordered))


def test_invalid_quota_is_refused() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        InProcessLimiter().configure("k", rate=0.0)


def test_create_limiter_without_broker_is_in_process() -> None:
    assert isinstance(create_limiter(None), InProcessLimiter)
    assert isinstance(create_limiter(""), InProcessLimiter)


def test_create_limiter_refuses_a_non_redis_url_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="redis://") as info:
        create_limiter("amqp://user:hunter2@host/")
    assert "hunter2" not in str(info.value)
