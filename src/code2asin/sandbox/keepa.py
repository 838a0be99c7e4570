"""Keepa API simulation: ``GET /product`` (by ``code`` or ``asin``) and ``GET /token``, token accounting.

Protocol (Keepa's "Request Products" page, https://keepa.com/#!discuss/t/request-products/110;
https://github.com/keepacom/api_backend ``Request.java``,
``Product.java``, ``Stats.java``, ``KeepaAPI.java``; the ``keepa`` PyPI package 1.6):

* ``GET /product?key=&domain=<id>&code=<c1,...>`` or ``&asin=<a1,...>`` (exactly one of them, up to 100
  values), optional ``code-limit`` (products per code), ``stats`` (days, or ``start,end``), ``history``
  (``0`` drops the ``csv`` arrays), ``rating`` (``1`` fills the RATING and COUNT_REVIEWS series). Other
  parameters (``update``, ``offers``, ``buybox``...) are accepted and ignored. The ``keepa`` client asks
  for ``/product/`` with a trailing slash: both spellings are served.
* Codes are UPC, EAN or ISBN-13 compared as GTIN-14 against the same deterministic catalogue as the
  Creators and SP-API simulations, seen from the ``domain``'s marketplace (a product may be missing or
  listed under a local ASIN outside FR, ``catalogue``), so every provider agrees on ASINs and EANs. An
  ISBN-10 finds nothing (Keepa does not accept it). An ASIN or code Keepa does not know returns no
  product.
* Every answer, errors included, carries the token envelope ``timestamp``, ``tokensLeft``, ``refillIn``
  (ms to the next refill), ``refillRate`` (tokens per refill, per minute at Keepa), ``tokenFlowReduction``,
  ``tokensConsumed`` and ``processingTimeInMs``. Errors add ``error: {type, message, details}``
  (``RequestError.java``).
* Tokens: one per product returned. A request is served while the key's balance is positive, and may take
  it below zero (the ``keepa`` client accounts for negative balances); at zero or below it answers
  **429** ``NOT_ENOUGH_TOKEN`` and consumes nothing. ``GET /token`` reports the balance for free.
* Keys: ``402 PAYMENT_REQUIRED`` for a key whose subscription has no API access or ran out. For a key
  Keepa does not know at all the public sources disagree (the ``keepa`` issues #4 and #45 show
  ``REQUEST_REJECTED``, i.e. 400, on key checks; no official page says it); the sandbox answers 400 with
  error type ``invalidKey``. Clients must treat both as a configuration fault.

Keepa time is minutes since 2011-01-01: ``unix_ms = (keepa_minutes + 21564000) * 60000``. Prices are
integers in the smallest currency unit (cents; whole yen on .co.jp), ``-1`` when there is no offer.
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from code2asin.sandbox import catalogue
from code2asin.sandbox.common import JSON, ApiError, Reply, Request, SandboxQuotas
from code2asin.sandbox.encoding import stable_hash, to_gtin14
from code2asin.sandbox.items import SandboxItem
from code2asin.sandbox.marketplaces import BY_COUNTRY, Marketplace

KEEPA_EPOCH_MINUTES = 21_564_000
#: Keepa domain id (``AmazonLocale`` ordinal) -> sandbox marketplace country; 7 (cn) is reserved
DOMAINS: dict[int, str] = {
    1: "US", 2: "UK", 3: "DE", 4: "FR", 5: "JP", 6: "CA", 8: "IT", 9: "ES", 10: "IN", 11: "MX", 12: "BR",
}
MAX_ITEMS = 100
CSV_LENGTH = 36  # Product.CsvType entries (AMAZON .. COUNT_NEW_FBM)
AMAZON, NEW, SALES, RATING, COUNT_REVIEWS = 0, 1, 3, 16, 17
#: what an unlimited sandbox reports as the balance (JSON has no infinity)
UNLIMITED_BALANCE = 1_000_000


# --- token accounting -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenStatus:
    tokens_left: int
    refill_in_ms: int
    refill_rate: int


class KeepaTokens:
    """One Keepa token bucket per API key, refilled in steps like Keepa's (thread-safe)."""

    def __init__(self, quotas: SandboxQuotas, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = quotas.keepa_tokens
        self.rate = quotas.keepa_refill_rate
        self.interval = quotas.keepa_refill_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, next refill time)

    @property
    def unlimited(self) -> bool:
        return math.isinf(self.capacity)

    def _refill(self, key: str, now: float) -> tuple[float, float]:
        tokens, next_at = self._state.get(key, (self.capacity, now + self.interval))
        if now >= next_at:
            steps = int((now - next_at) // self.interval) + 1
            tokens = min(self.capacity, tokens + steps * self.rate)
            next_at += steps * self.interval
        self._state[key] = (tokens, next_at)
        return tokens, next_at

    def _status(self, tokens: float, next_at: float, now: float) -> TokenStatus:
        return TokenStatus(math.floor(tokens), max(0, math.ceil((next_at - now) * 1000)), self.rate)

    def status(self, key: str) -> TokenStatus:
        if self.unlimited:
            return TokenStatus(UNLIMITED_BALANCE, round(self.interval * 1000), self.rate)
        with self._lock:
            now = self._clock()
            tokens, next_at = self._refill(key, now)
            return self._status(tokens, next_at, now)

    def spend(self, key: str, cost: Callable[[], int]) -> tuple[bool, int, TokenStatus]:
        """Serve one request if the balance is positive: ``(served, tokens consumed, status after)``."""
        if self.unlimited:
            return True, cost(), self.status(key)
        with self._lock:
            now = self._clock()
            tokens, next_at = self._refill(key, now)
            if tokens <= 0:
                return False, 0, self._status(tokens, next_at, now)
            consumed = cost()
            tokens -= consumed
            self._state[key] = (tokens, next_at)
            return True, consumed, self._status(tokens, next_at, now)

    def set_balance(self, key: str, tokens: float) -> None:
        """Test helper: set a key's balance (the refill schedule keeps running)."""
        with self._lock:
            _, next_at = self._refill(key, self._clock())
            self._state[key] = (tokens, next_at)


# --- envelopes ------------------------------------------------------------------------------------------


def envelope(status: TokenStatus | None, consumed: int = 0, started: float | None = None) -> JSON:
    """The fields every Keepa answer carries."""
    s = status or TokenStatus(0, 0, 0)
    elapsed = 0 if started is None else round((time.perf_counter() - started) * 1000)
    return {
        "timestamp": int(time.time() * 1000), "tokensLeft": s.tokens_left, "refillIn": s.refill_in_ms,
        "refillRate": s.refill_rate, "tokenFlowReduction": 0.0, "tokensConsumed": consumed,
        "processingTimeInMs": elapsed,
    }


def keepa_error(status: int, type_: str, message: str, tokens: TokenStatus | None = None) -> ApiError:
    body = envelope(tokens)
    body["error"] = {"type": type_, "message": message, "details": None}
    return ApiError(status, body)


def not_enough_tokens(tokens: TokenStatus) -> ApiError:
    return keepa_error(429, "NOT_ENOUGH_TOKEN", "Not enough tokens to process this request.", tokens)


# --- request parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeepaKeys:
    valid: frozenset[str]
    payment_required: frozenset[str]


def authenticate(request: Request, keys: KeepaKeys) -> str:
    key = (request.query.get("key") or [""])[0]
    request.log_credential = key or None
    if key in keys.payment_required:
        raise keepa_error(402, "PAYMENT_REQUIRED",
                          "Your subscription does not include API access or has run out.")
    if key not in keys.valid:
        raise keepa_error(400, "invalidKey", "Invalid or missing access key.")
    return key


def _one(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[0].strip() if values else None


def _list(request: Request, name: str) -> list[str]:
    return [v.strip() for raw in request.query.get(name, []) for v in raw.split(",") if v.strip()]


def _flag(request: Request, name: str, tokens: TokenStatus) -> bool:
    value = _one(request, name)
    if value in (None, ""):
        return name == "history"  # history defaults to 1, rating to 0
    if value not in ("0", "1"):
        raise keepa_error(400, "invalidParameter", f"'{name}' must be 0 or 1.", tokens)
    return value == "1"


@dataclass(frozen=True, slots=True)
class ProductQuery:
    marketplace: Marketplace
    domain_id: int
    codes: tuple[str, ...]
    asins: tuple[str, ...]
    code_limit: int | None
    stats: bool
    history: bool
    rating: bool


def parse_query(request: Request, tokens: TokenStatus) -> ProductQuery:
    domain = _one(request, "domain") or ""
    if not domain.isdigit() or int(domain) not in DOMAINS:
        raise keepa_error(400, "invalidParameter",
                          f"'domain' must be one of {', '.join(map(str, DOMAINS))}.", tokens)
    request.log_marketplace = DOMAINS[int(domain)]
    codes, asins = _list(request, "code"), [a.upper() for a in _list(request, "asin")]
    request.log_codes, request.log_asins = tuple(codes), tuple(asins)
    if codes and asins:
        raise keepa_error(400, "invalidParameter", "Use either 'asin' or 'code', not both.", tokens)
    if not codes and not asins:
        raise keepa_error(400, "invalidParameter", "Either 'asin' or 'code' is required.", tokens)
    if len(codes) > MAX_ITEMS or len(asins) > MAX_ITEMS:
        raise keepa_error(400, "invalidParameter", f"At most {MAX_ITEMS} ASINs or codes per request.", tokens)
    raw_limit = _one(request, "code-limit")
    if raw_limit is not None and (not raw_limit.isdigit() or int(raw_limit) < 1):
        raise keepa_error(400, "invalidParameter", "'code-limit' must be a positive integer.", tokens)
    raw_stats = _one(request, "stats")
    if raw_stats is not None and not _valid_stats(raw_stats):
        raise keepa_error(400, "invalidParameter",
                          "'stats' must be a number of days or a 'start,end' range.", tokens)
    return ProductQuery(
        marketplace=BY_COUNTRY[DOMAINS[int(domain)]], domain_id=int(domain), codes=tuple(codes),
        asins=tuple(asins), code_limit=int(raw_limit) if raw_limit else None, stats=bool(raw_stats),
        history=_flag(request, "history", tokens), rating=_flag(request, "rating", tokens),
    )


def _valid_stats(value: str) -> bool:
    parts = value.split(",")
    if len(parts) == 1:
        return parts[0].isdigit() and int(parts[0]) > 0
    return len(parts) == 2 and all(p.strip() for p in parts)


def find_products(query: ProductQuery) -> list[SandboxItem]:
    """The products a query returns, each once, in request order."""
    found: dict[str, SandboxItem] = {}
    if query.asins:
        for asin in query.asins:
            item = catalogue.sandbox_item(asin, query.marketplace.country)
            if item is not None:
                found.setdefault(item.asin, item)
        return list(found.values())
    for code in query.codes:
        digits = code.replace("-", "")
        if not digits.isdigit() or len(digits) == 10:  # ISBN-10 is not accepted by Keepa
            continue
        gtin = to_gtin14(digits)
        items = catalogue.products_for_gtin(gtin, query.marketplace.country) if gtin else ()
        for item in items[: query.code_limit] if query.code_limit else items:
            found.setdefault(item.asin, item)
    return list(found.values())


# --- product rendering ----------------------------------------------------------------------------------


def keepa_minutes(unix_seconds: float) -> int:
    return int(unix_seconds // 60) - KEEPA_EPOCH_MINUTES


def _cents(amount: float, marketplace: Marketplace) -> int:
    return round(amount) if marketplace.currency == "JPY" else round(amount * 100)


def _series(now: int, values: Iterable[int], ages: tuple[int, ...]) -> list[int]:
    """``[keepaTime, value, ...]`` with the given ages (minutes before ``now``), the last one current."""
    out: list[int] = []
    for age, value in zip(ages, values, strict=True):
        out += [now - age, value]
    return out


def current_values(item: SandboxItem, marketplace: Marketplace, rating: bool) -> list[int]:
    """``stats.current``: the last value of every csv series, ``-1`` where there is none."""
    current = [-1] * CSV_LENGTH
    price = item.price(marketplace)
    cents = _cents(price[0], marketplace) if price else -1
    current[AMAZON] = cents if price and item.buy_box else -1
    current[NEW] = cents
    current[SALES] = item.sales_rank or -1
    reviews = catalogue.rating_for(item.asin, marketplace.country) if rating else None
    if reviews is not None:
        current[RATING], current[COUNT_REVIEWS] = round(reviews[0] * 10), reviews[1]
    return current


def _csv(item: SandboxItem, current: list[int], now: int) -> list[list[int] | None]:
    ages = (43_200, 10_080, 1_440)  # 30 days, 7 days and 1 day ago
    csv: list[list[int] | None] = [None] * CSV_LENGTH
    wobble = 1 + (stable_hash("keepa-wobble", item.asin) % 9) / 100
    for index in (AMAZON, NEW):
        value = current[index]
        past = round(value * wobble) if value > 0 else -1
        csv[index] = _series(now, (past, past if value > 0 else -1, value), ages)
    if current[SALES] > 0:
        rank = current[SALES]
        csv[SALES] = _series(now, (rank * 2, round(rank * 1.3), rank), ages)
    if current[RATING] > 0:
        csv[RATING] = _series(now, (max(10, current[RATING] - 1), current[RATING]), ages[1:])
        count = current[COUNT_REVIEWS]
        csv[COUNT_REVIEWS] = _series(now, (max(0, count - 1 - count // 20), count), ages[1:])
    return csv


def render_product(item: SandboxItem, query: ProductQuery) -> JSON:
    """One ``Product`` object (``Product.java`` field names)."""
    now = keepa_minutes(time.time())
    dep = item.department
    node = int(dep.browse_node_id) if dep.browse_node_id.isdigit() else 0
    current = current_values(item, query.marketplace, query.rating)
    names = [f"{i}.jpg" for i in item.image_ids]
    images = [{"l": name, "lH": 1000, "lW": 1000, "m": name.replace(".jpg", "._SL500_.jpg"), "mH": 500,
               "mW": 500} for name in names]
    product: JSON = {
        "asin": item.asin, "domainId": query.domain_id, "productType": 0,
        "title": html.escape(item.title, quote=False), "brand": item.brand, "manufacturer": item.brand,
        "parentAsin": item.parent_asin, "eanList": list(item.eans) or None,
        "upcList": list(item.upcs) or None, "gtinList": list(item.gtins) or None, "rootCategory": node,
        "categories": [node] if node else None,
        "productGroup": dep.product_group, "binding": dep.binding, "color": item.colour,
        "author": item.contributor, "packageQuantity": item.package_quantity,
        "numberOfItems": item.package_quantity, "imagesCSV": ",".join(names) or None,
        "images": images or None, "trackingSince": now - 525_600, "lastUpdate": now - 30,
        "lastPriceChange": now - 1_440, "salesRankReference": node if item.sales_rank else -1,
        "csv": None, "stats": None,
    }
    if query.rating:
        product["lastRatingUpdate"] = now - 720
    if query.history:
        product["csv"] = _csv(item, current, now)
        if item.sales_rank:
            product["salesRanks"] = {str(node): product["csv"][SALES]}
    if query.stats:
        product["stats"] = {"current": current, "avg": list(current), "atIntervalStart": list(current)}
    return product


# --- handlers -------------------------------------------------------------------------------------------


def product(request: Request, tokens: KeepaTokens, keys: KeepaKeys) -> Reply:
    started = time.perf_counter()
    key = authenticate(request, keys)
    query = parse_query(request, tokens.status(key))
    items: list[SandboxItem] = []

    def cost() -> int:
        items.extend(find_products(query))
        return len(items)

    served, consumed, status = tokens.spend(key, cost)
    if not served:
        raise not_enough_tokens(status)
    request.log_tokens = consumed
    body = envelope(status, consumed, started)
    body["products"] = [render_product(item, query) for item in items]
    return Reply(200, body)


def token_status(request: Request, tokens: KeepaTokens, keys: KeepaKeys) -> Reply:
    key = authenticate(request, keys)
    return Reply(200, envelope(tokens.status(key)))
