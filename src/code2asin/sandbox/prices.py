"""Sandbox prices that move over time, deterministically by date and product, and can be set on purpose.

* Movement: the euro base price of an item is multiplied by a factor in [0.97, 1.03] drawn from a hash
  of (ASIN, ISO date). Two dates therefore differ by at most ~6 %: under the default 10 % alert threshold,
  so an alert in a test is one the test caused.
* The date is the UTC date, or the one a test set through the control endpoint (a controllable clock).
* Overrides: ``POST /_sandbox/prices`` sets the price of one ASIN on one marketplace, or ``null`` for
  "no offer" (out of stock); ``{"clear": true}`` removes every override, ``{"date": "YYYY-MM-DD"}`` sets
  the sandbox's date (``null`` goes back to the real one). Answers the resulting state.

Every ``SandboxServer`` has its own ``PriceBook``; the request handler makes it the active one for the
request's thread (a context variable), so ``SandboxItem.price`` needs no server reference. This module
imports nothing of the catalogue: ``sandbox.items`` imports it, one way.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from code2asin.sandbox.common import ApiError, Reply, Request
from code2asin.sandbox.encoding import stable_hash
from code2asin.sandbox.marketplaces import MARKETPLACES, Marketplace, local_price

CONTROL_PATH = "/_sandbox/prices"
#: the largest move of the daily factor away from 1 (in parts per 10,000)
MOVE_BASIS_POINTS = 300


class PricedItem(Protocol):
    """What pricing reads of an item (``sandbox.items.SandboxItem``), so prices import no catalogue module."""

    @property
    def asin(self) -> str: ...

    @property
    def base_price_eur(self) -> float | None: ...


@dataclass
class PriceBook:
    """One sandbox's price state: its date (None: today in UTC) and its per-(ASIN, marketplace) overrides."""

    today: date | None = None
    #: (ASIN, marketplace country) -> local price, or None for "no offer"
    overrides: dict[tuple[str, str], float | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def day(self) -> date:
        return self.today or datetime.now(UTC).date()

    def set_price(self, asin: str, marketplace: str, price: float | None) -> None:
        with self._lock:
            self.overrides[(asin.upper(), marketplace.upper())] = price

    def override(self, asin: str, marketplace: str) -> tuple[bool, float | None]:
        """``(True, price)`` when a test set this price (``None``: no offer), else ``(False, None)``."""
        key = (asin.upper(), marketplace.upper())
        with self._lock:
            return (key in self.overrides, self.overrides.get(key))

    def clear(self) -> None:
        with self._lock:
            self.overrides.clear()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "date": self.day().isoformat(),
                "date_is_set": self.today is not None,
                "overrides": [
                    {"asin": a, "marketplace": m, "price": p} for (a, m), p in sorted(self.overrides.items())
                ],
            }


DEFAULT_BOOK = PriceBook()
_active: ContextVar[PriceBook | None] = ContextVar("code2asin_sandbox_price_book", default=None)


def activate(book: PriceBook) -> None:
    """Make ``book`` the price book of the current thread/context (the handler does it per request)."""
    _active.set(book)


def active_book() -> PriceBook:
    return _active.get() or DEFAULT_BOOK


def daily_factor(asin: str, day: date) -> float:
    """The price factor of ``asin`` on ``day``: 1 +- at most ``MOVE_BASIS_POINTS`` / 10,000."""
    spread = 2 * MOVE_BASIS_POINTS + 1
    return 1 + (stable_hash("price-move", asin, day.isoformat()) % spread - MOVE_BASIS_POINTS) / 10_000


def price_of(item: PricedItem, marketplace: Marketplace) -> tuple[float, str] | None:
    """The item's (price, currency) on ``marketplace`` today for the active book; None: no offer."""
    book = active_book()
    overridden, forced = book.override(item.asin, marketplace.country)
    if overridden:
        return None if forced is None else (float(forced), marketplace.currency)
    if item.base_price_eur is None:
        return None
    moved = item.base_price_eur * daily_factor(item.asin, book.day())
    return local_price(moved, marketplace), marketplace.currency


def _marketplace(code: object) -> Marketplace:
    for market in MARKETPLACES:
        if market.country == str(code).upper():
            return market
    raise ApiError(400, {"message": f"Unknown marketplace {code!r}."})


def control(request: Request, book: PriceBook) -> Reply:
    """``POST /_sandbox/prices`` (sandbox only; no Amazon API has it)."""
    try:
        body = request.json_body() if request.body else {}
    except ValueError as exc:
        raise ApiError(400, {"message": f"The body is not JSON: {exc}"}) from exc
    if not isinstance(body, dict):
        raise ApiError(400, {"message": "The body must be a JSON object."})
    if body.get("clear"):
        book.clear()
    if "date" in body:
        try:
            book.today = date.fromisoformat(body["date"]) if body["date"] else None
        except (TypeError, ValueError) as exc:
            raise ApiError(400, {"message": f"date must be YYYY-MM-DD: {exc}"}) from exc
    if "asin" in body:
        market = _marketplace(body.get("marketplace", "FR"))
        price = body.get("price")
        if price is not None and (
            not isinstance(price, int | float) or isinstance(price, bool) or price <= 0
        ):
            raise ApiError(400, {"message": "price must be a positive number, or null for no offer."})
        book.set_price(str(body["asin"]), market.country, None if price is None else float(price))
    return Reply(200, book.state())
