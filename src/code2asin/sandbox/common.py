"""Types shared by the sandbox's endpoint modules: requests, replies, errors, the request log."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SandboxQuotas:
    """Token-bucket quotas per (credential, operation family), per marketplace for Creators (one
    Associates store each) and per region for SP-API (usage plans are per application and region).
    ``unlimited()`` disables them."""

    creators_rps: float = 1.0
    creators_burst: int = 1
    spapi_catalog_rps: float = 2.0
    spapi_catalog_burst: int = 2
    spapi_pricing_rps: float = 0.5
    spapi_pricing_burst: int = 1
    #: Keepa token bucket per API key: ``keepa_refill_rate`` tokens every ``keepa_refill_interval_s``
    #: (Keepa: per minute) up to ``keepa_tokens`` (unused tokens expire after an hour, so a balance never
    #: holds more than 60 refills). ``inf`` tokens: no accounting. A shorter interval compresses time in
    #: tests.
    keepa_tokens: float = 1200.0
    keepa_refill_rate: int = 20
    keepa_refill_interval_s: float = 60.0

    @classmethod
    def unlimited(cls) -> SandboxQuotas:
        inf = math.inf
        return cls(inf, 1, inf, 1, inf, 1, keepa_tokens=inf)

    def plan(self, family: str) -> tuple[float, int]:
        return {
            "creators": (self.creators_rps, self.creators_burst),
            "catalog": (self.spapi_catalog_rps, self.spapi_catalog_burst),
            "pricing": (self.spapi_pricing_rps, self.spapi_pricing_burst),
        }[family]


class QuotaBuckets:
    """Thread-safe token buckets keyed by (credential scope, family)."""

    def __init__(self, quotas: SandboxQuotas | None) -> None:
        self.quotas = quotas or SandboxQuotas.unlimited()
        self._lock = threading.Lock()
        self._state: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, credential: str, family: str) -> bool:
        rate, burst = self.quotas.plan(family)
        if math.isinf(rate):
            return True
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._state.get((credential, family), (float(burst), now))
            tokens = min(float(burst), tokens + (now - stamp) * rate)
            if tokens < 1.0:
                self._state[(credential, family)] = (tokens, now)
                return False
            self._state[(credential, family)] = (tokens - 1.0, now)
            return True


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One HTTP call the sandbox answered. ``kind`` is ``api``, ``token`` or ``image``."""

    operation: str
    kind: str
    method: str
    path: str
    time: float
    status: int
    codes: tuple[str, ...] = ()
    asins: tuple[str, ...] = ()
    marketplace: str | None = None
    credential: str | None = None
    fault: str | None = None
    #: a paged answer's later pages repeat the search (its codes) with the token of the page asked
    page_token: str | None = None
    #: Keepa tokens the answer consumed (``tokensConsumed``: one per product returned)
    tokens: int = 0


@dataclass
class Request:
    """What an endpoint handler sees of an HTTP request; handlers fill the ``log_*`` fields."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    log_codes: tuple[str, ...] = ()
    log_asins: tuple[str, ...] = ()
    log_marketplace: str | None = None
    log_credential: str | None = None
    log_tokens: int = 0

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def json_body(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


class ApiError(Exception):
    """Raised by handlers to answer with an error envelope."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.reply = Reply(status, body, headers or {})


def creators_error(status: int, type_: str, message: str, **extra: Any) -> ApiError:
    """Creators API request-level error: ``{"type", "message", "reason"?, ...context fields}``."""
    return ApiError(status, {"type": type_, "message": message, **extra})


def validation_error(
    message: str, reason: str = "FieldValidationFailed", fields: list[str] | None = None
) -> ApiError:
    extra: JSON = {"reason": reason}
    if fields:
        extra["fieldList"] = [{"name": name, "message": message} for name in fields]
    return creators_error(400, "ValidationException", message, **extra)


def spapi_error(status: int, code: str, message: str, details: str = "") -> ApiError:
    """SP-API error envelope ``{"errors": [{"code", "message", "details"}]}``."""
    return ApiError(status, {"errors": [{"code": code, "message": message, "details": details}]})
