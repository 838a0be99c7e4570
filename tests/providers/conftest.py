"""Fixtures for provider tests: a scripted fake of Amazon's endpoints on ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from code2asin.providers.client_support import TokenCache

Responder = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingLimiter:
    """A limiter that records what the client asked of it and never waits."""

    def __init__(self) -> None:
        self.configured: dict[str, tuple[float, int]] = {}
        self.acquired: list[str] = []
        self.penalties: list[tuple[str, float]] = []

    def configure(self, key: str, rate: float, burst: int = 1) -> None:
        self.configured[key] = (rate, burst)

    def acquire(self, key: str) -> None:
        self.acquired.append(key)

    def penalise(self, key: str, seconds: float) -> None:
        self.penalties.append((key, seconds))


class FakeAmazon:
    """Routes requests by path to scripted responders and records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[str, list[Responder]] = {}
        self.token_counter = 0

    def on(self, path: str, *responders: Responder) -> None:
        """Answer ``path`` with ``responders`` in turn; the last one repeats."""
        self.routes[path] = list(responders)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get(request.url.path)
        if not queue:
            return httpx.Response(599, json={"message": f"unscripted {request.url.path}"})
        responder = queue.pop(0) if len(queue) > 1 else queue[0]
        return responder(request)

    def token(self, expires_in: int = 3600) -> Responder:
        def respond(request: httpx.Request) -> httpx.Response:
            self.token_counter += 1
            return httpx.Response(
                200,
                json={
                    "access_token": f"TOKEN-{self.token_counter}",
                    "token_type": "bearer",
                    "expires_in": expires_in,
                },
            )

        return respond

    def to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler), timeout=httpx.Timeout(5.0))

    @staticmethod
    def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Responder:
        def respond(request: httpx.Request) -> httpx.Response:
            if body is None:
                return httpx.Response(status, headers=headers)
            return httpx.Response(status, json=body, headers=headers)

        return respond

    @staticmethod
    def raw(status: int, text: str) -> Responder:
        return lambda request: httpx.Response(status, text=text)

    @staticmethod
    def fail(exc: type[httpx.TransportError]) -> Responder:
        def respond(request: httpx.Request) -> httpx.Response:
            raise exc("scripted failure", request=request)

        return respond

    @staticmethod
    def body_of(request: httpx.Request) -> Any:
        return json.loads(request.content)


@pytest.fixture
def fake() -> FakeAmazon:
    return FakeAmazon()


@pytest.fixture
def limiter() -> RecordingLimiter:
    return RecordingLimiter()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tokens(clock: FakeClock) -> TokenCache:
    return TokenCache(clock=clock)
