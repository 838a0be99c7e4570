"""Plumbing the provider clients share: the process-wide token cache, one HTTP exchange with its failures
classified, token answers, ``Retry-After``, and tolerant readers of JSON values.

The Creators, SP-API and Keepa clients all import from here, so no client imports another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from code2asin.errors import ErrorType, ProviderError
from code2asin.providers.base import Candidate

#: refresh a cached token this long before it expires
TOKEN_REFRESH_MARGIN = 60.0


class TokenCache:
    """Access tokens shared by the threads (and clients) of one process, keyed by credential.

    ``get`` returns the cached token until ``TOKEN_REFRESH_MARGIN`` seconds before its expiry, else
    calls ``fetch`` (which returns ``(token, expires_in)``) under a lock so one thread refreshes.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, key: str, fetch: Callable[[], tuple[str, float]]) -> str:
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached[1]:
                return cached[0]
            token, expires_in = fetch()
            self._tokens[key] = (token, self._clock() + max(expires_in - TOKEN_REFRESH_MARGIN, 0.0))
            return token

    def invalidate(self, key: str, token: str) -> None:
        """Forget ``token`` (refused by the API) unless another thread already replaced it."""
        with self._lock:
            if self._tokens.get(key, ("", 0.0))[0] == token:
                del self._tokens[key]


#: the API requests sent and Keepa tokens consumed within ``counting_calls`` (per thread and task)
_CALLS: ContextVar[list[int] | None] = ContextVar("code2asin_api_calls", default=None)


@contextmanager
def counting_calls() -> Iterator[list[int]]:
    """Count the billable API requests ``send`` makes inside the block (``box[0]``) and the Keepa tokens
    their answers say they consumed (``box[1]``, see ``tokens_consumed``)."""
    box = [0, 0]
    reset = _CALLS.set(box)
    try:
        yield box
    finally:
        _CALLS.reset(reset)


def tokens_consumed(tokens: int) -> None:
    """An answer consumed ``tokens`` of the key's balance (Keepa's ``tokensConsumed``)."""
    box = _CALLS.get()
    if box is not None:
        box[1] += max(tokens, 0)


def send(
    http: httpx.Client, method: str, url: str, what: str, *, billable: bool = True, **kwargs: Any
) -> httpx.Response:
    """One HTTP exchange; timeouts and transport failures become ``network`` errors naming ``what``.

    A ``billable`` request (an API operation, not a token or free status call) counts in ``counting_calls``.
    """
    box = _CALLS.get()
    if billable and box is not None:
        box[0] += 1
    try:
        return http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise ProviderError(f"{what} timed out ({type(exc).__name__}).", ErrorType.NETWORK) from None
    except httpx.TransportError as exc:
        raise ProviderError(
            f"{what} could not be reached ({type(exc).__name__}).", ErrorType.NETWORK
        ) from None


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The response's JSON object; an empty body is ``{}``; anything unparsable is a ``network`` error."""
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        raise ProviderError(
            f"{what} answered HTTP {response.status_code} with a body that is not JSON.", ErrorType.NETWORK
        ) from None
    if not isinstance(data, dict):
        raise ProviderError(f"{what} answered JSON that is not an object.", ErrorType.NETWORK)
    return data


def parse_token(response: httpx.Response, what: str, rate: float) -> tuple[str, float]:
    """``(access_token, expires_in)`` from a 200 token answer; 429 and 5xx are classified errors."""
    if response.status_code == 429:
        delay = retry_after(response, None, 1.0 / rate)
        raise ProviderError(f"{what} throttled (HTTP 429).", ErrorType.API_RATE_LIMIT, delay)
    if response.status_code != 200:
        raise ProviderError(f"{what} answered HTTP {response.status_code}.", ErrorType.NETWORK)
    data = json_object(response, what)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ProviderError(f"{what} answered without an access_token.", ErrorType.NETWORK)
    return token, float_or_none(data.get("expires_in")) or 3600.0


def token_error(response: httpx.Response) -> str:
    """``HTTP 401 invalid_client`` from an OAuth2 error answer (never echoes the request)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    code = data.get("error") or data.get("reason") if isinstance(data, dict) else None
    return f"HTTP {response.status_code} {code}" if code else f"HTTP {response.status_code}"


def retry_after(response: httpx.Response, advertised: object, default: float) -> float:
    """Seconds to wait after a 429: the body's value, else ``Retry-After`` (seconds or date), else default."""
    seconds = float_or_none(advertised)
    header = response.headers.get("Retry-After")
    if seconds is None and header:
        seconds = float_or_none(header)
        if seconds is None:
            try:
                seconds = parsedate_to_datetime(header).timestamp() - time.time()
            except (TypeError, ValueError):
                seconds = None
    return max(seconds, 0.0) if seconds is not None else default


def dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def dict_at(node: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = node.get(key)
    return value if isinstance(value, dict) else {}


def int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None and not isinstance(value, bool) else None
    except ValueError:
        return None


def float_or_none(value: object) -> float | None:
    try:
        return float(str(value)) if value is not None and not isinstance(value, bool) else None
    except ValueError:
        return None


def decimal_or_none(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except InvalidOperation:
        return None


_SOURCE_FIELDS = tuple(
    f.name for f in fields(Candidate) if f.name not in {"asin", "source", "identifiers", "field_sources"}
)


def mark_sources(candidate: Candidate, provider: str) -> None:
    """Record ``provider`` in ``field_sources`` for every field it filled."""
    for name in _SOURCE_FIELDS:
        value = getattr(candidate, name)
        if value is not None and value != []:
            candidate.field_sources[name] = provider

