"""Client-side rate limiting: wait for a slot instead of earning a 429.

One limiter key per (credential, scope, operation), e.g. ``spapi:<client_id>:eu:catalog`` (SP-API per
application and region), ``creators:<credential_id>:FR``. Each key is paced by GCRA (the
generic cell rate algorithm, a token bucket kept as one timestamp, the "theoretical arrival time"):
emission interval ``T = (1 / rate) * (1 + margin)`` so we stay just under the quota (margin 1 %).
Network jitter between our clock and Amazon's bucket can make a request that left on time arrive
early; what absorbs it depends on the bucket's burst:

* ``burst >= 2``: we use ``burst - 1`` of it at once (a tolerance of ``(burst - 2) * T``) and never the
  last token. That token is the reserve: a request may arrive up to one whole interval early (500 ms
  at SP-API's 2 requests/s) and still find it, and the 1 % margin fills it again;
* ``burst == 1`` (Creators, SP-API pricing): there is no reserve, so ``T`` also carries 10 ms of
  slack, the jitter we allow for.
``penalise(key, seconds)`` records "nobody uses this key before now + seconds", which every user
checks: a 429 pauses all workers of that credential for the delay Amazon advertised.

Two implementations of the ``RateLimiter`` protocol:

* ``InProcessLimiter``: thread-safe, for the embedded mode; clock and sleep are injectable.
* ``RedisLimiter``: shared by every process and host using one Redis. A Lua script applies GCRA
  atomically with the Redis server's own clock (``TIME``), so clock skew between hosts cannot
  let two workers overshoot; the penalty is a separate key with an expiry.

Why not a library. ``limits`` (5.x) offers ``hit``/``test`` only: it never blocks, so a paced
acquire would have to poll ``get_window_stats`` and retry, racing other processes between the test
and the hit, and its windows allow a full window's quota at once at the boundary; it has no notion
of a shared penalty. ``pyrate-limiter`` (4.x) blocks, but by sleeping in a polling loop inside the
library with its own timing, has no shared penalty either (we would still need our own Redis key and
check), and its time source is not injectable for deterministic tests. Both would add a dependency
for what is ~40 lines of GCRA here, so the small algorithm is written out and tested instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis import Redis

#: pace this much under the advertised quota (relative, then absolute seconds per request)
DEFAULT_MARGIN = 0.01
DEFAULT_SLACK = 0.01
#: a key nobody configured is paced at this rate (1 request per second, no burst)
DEFAULT_RATE = 1.0


class RateLimiter(Protocol):
    """Blocking, per-key pacing shared by every user of the same key."""

    def configure(self, key: str, rate: float, burst: int = 1) -> None:
        """Set the quota of ``key``: ``rate`` requests per second, ``burst`` at once."""
        ...

    def acquire(self, key: str) -> None:
        """Block until one request on ``key`` is allowed, then count it."""
        ...

    def penalise(self, key: str, seconds: float) -> None:
        """Allow nobody to use ``key`` for ``seconds`` from now (after a 429)."""
        ...


@dataclass(frozen=True, slots=True)
class _Quota:
    interval: float  # seconds between requests, margin included
    tolerance: float  # how far ahead of the schedule a burst may run

    @classmethod
    def of(cls, rate: float, burst: int, margin: float, slack: float) -> _Quota:
        if rate <= 0 or burst < 1:
            raise ValueError(f"A rate limit needs rate > 0 and burst >= 1, not {rate}/{burst}.")
        interval = (1.0 / rate) * (1.0 + margin) + (slack if burst == 1 else 0.0)
        return cls(interval, interval * max(burst - 2, 0))

    @property
    def at_once(self) -> int:
        """Requests let through at once from idle (the burst less its reserve)."""
        return round(self.tolerance / self.interval) + 1


def paced_interval(rate: float, burst: int = 1) -> float:
    """Seconds between two requests our limiter lets through on a ``rate``/``burst`` key when it is busy."""
    return _Quota.of(rate, burst, DEFAULT_MARGIN, DEFAULT_SLACK).interval


def paced_seconds(calls: int, rate: float, burst: int) -> float:
    """Seconds our limiter needs, from idle, to let ``calls`` requests through on a ``rate``/``burst`` key."""
    quota = _Quota.of(rate, burst, DEFAULT_MARGIN, DEFAULT_SLACK)
    return max(calls - quota.at_once, 0) * quota.interval


class InProcessLimiter:
    """GCRA limiter for the threads of one process."""

    def __init__(
        self,
        *,
        margin: float = DEFAULT_MARGIN,
        slack: float = DEFAULT_SLACK,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._margin = margin
        self._slack = slack
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._quotas: dict[str, _Quota] = {}
        self._tat: dict[str, float] = {}
        self._penalty_until: dict[str, float] = {}

    def configure(self, key: str, rate: float, burst: int = 1) -> None:
        quota = _Quota.of(rate, burst, self._margin, self._slack)
        with self._lock:
            self._quotas[key] = quota

    def _try(self, key: str) -> float:
        """Take a slot now and return 0, or return how long to wait before trying again."""
        with self._lock:
            now = self._clock()
            penalty = self._penalty_until.get(key, 0.0)
            if penalty > now:
                return penalty - now
            quota = self._quotas.get(key) or _Quota.of(DEFAULT_RATE, 1, self._margin, self._slack)
            tat = max(self._tat.get(key, now), now)
            allowed_at = tat - quota.tolerance
            if now < allowed_at:
                return allowed_at - now
            self._tat[key] = tat + quota.interval
            return 0.0

    def acquire(self, key: str) -> None:
        while (wait := self._try(key)) > 0:
            self._sleep(wait)

    def penalise(self, key: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + max(seconds, 0.0)
            self._penalty_until[key] = max(self._penalty_until.get(key, 0.0), until)


# KEYS[1] = theoretical arrival time (µs), KEYS[2] = penalty end (µs)
# ARGV[1] = interval (µs), ARGV[2] = tolerance (µs)
# Returns 0 when a slot was taken, else the microseconds to wait.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local penalty = tonumber(redis.call('GET', KEYS[2]) or '0')
if penalty > now then return penalty - now end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowed_at = tat - tolerance
if now < allowed_at then return allowed_at - now end
local new_tat = tat + interval
local ttl_ms = math.floor((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
return 0
"""

# KEYS[1] = penalty end (µs); ARGV[1] = penalty (µs). Keeps the later of the old and new ends.
_PENALISE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_us = now + tonumber(ARGV[1])
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if old > until_us then until_us = old end
local ttl_ms = math.floor((until_us - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', until_us), 'PX', ttl_ms)
return until_us
"""


class RedisLimiter:
    """GCRA limiter shared through Redis by every process and host of a deployment.

    Quotas are configured per process (each worker configures the same keys from the same
    settings); the schedule and the penalty live in Redis under ``<prefix><key>:tat`` and
    ``<prefix><key>:penalty``.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "code2asin:ratelimit:",
        margin: float = DEFAULT_MARGIN,
        slack: float = DEFAULT_SLACK,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._margin = margin
        self._slack = slack
        self._sleep = sleep
        self._quotas: dict[str, _Quota] = {}
        self._lock = threading.Lock()
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._penalise = client.register_script(_PENALISE_LUA)

    def configure(self, key: str, rate: float, burst: int = 1) -> None:
        quota = _Quota.of(rate, burst, self._margin, self._slack)
        with self._lock:
            self._quotas[key] = quota

    def acquire(self, key: str) -> None:
        with self._lock:
            quota = self._quotas.get(key) or _Quota.of(DEFAULT_RATE, 1, self._margin, self._slack)
        keys = [f"{self._prefix}{key}:tat", f"{self._prefix}{key}:penalty"]
        args = [round(quota.interval * 1e6), round(quota.tolerance * 1e6)]
        while True:
            wait_us = int(self._acquire(keys=keys, args=args))
            if wait_us <= 0:
                return
            self._sleep(wait_us / 1e6)

    def penalise(self, key: str, seconds: float) -> None:
        self._penalise(keys=[f"{self._prefix}{key}:penalty"], args=[round(max(seconds, 0.0) * 1e6)])


def create_limiter(broker_url: str | None) -> RateLimiter:
    """A ``RedisLimiter`` on ``broker_url`` (a ``redis://`` URL), or an ``InProcessLimiter`` when empty.

    Raises ``ValueError`` for a broker URL that is not Redis.
    """
    if not broker_url:
        return InProcessLimiter()
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        scheme = broker_url.split(":", 1)[0]  # never echo the URL: it may hold a password
        raise ValueError(f"The rate limiter needs a Redis broker URL (redis://...), not a {scheme!r} URL.")
    from redis import Redis  # imported here: only distributed mode needs the redis package

    return RedisLimiter(Redis.from_url(broker_url))
