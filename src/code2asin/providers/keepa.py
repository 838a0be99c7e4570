"""Keepa: identify codes (``code=``, 100 per call), enrich ASINs (``asin=``, 100 per call), search titles.

Protocol (Keepa's "Request Products" page, https://keepa.com/#!discuss/t/request-products/110;
https://github.com/keepacom/api_backend ``Request.java``,
``Product.java``, ``Stats.java``; the ``keepa`` PyPI package 1.6 ``Keepa.query``/``_product_query``):

``GET {api_url}/product?key=<key>&domain=<id>&code=<c1,...,c100>&code-limit=N&stats=1&history=0&rating=1``
(``asin=<a1,...,a100>`` instead of ``code`` to enrich). ``search_title`` sends
``GET {api_url}/search?key=&domain=&type=product&term=<brand title>&page=0`` with the same stats
parameters (``Request.getProductSearchRequest``); its cost, modelled as ``SEARCH_PAGE_TOKENS`` (10) a result
page after Keepa's token table, is paced like a product call's. Parameters, and why:

* ``domain``: the marketplace's Keepa domain id (``marketplaces.Marketplace.keepa_domain_id``); a
  marketplace Keepa does not serve is a ``ConfigurationError`` when the client is built.
* ``code``: UPC, EAN or ISBN-13 only. ISBN-10 is sent as its 978 EAN-13 (``LookupCode.gtin`` already
  holds that conversion), UPC-A and expanded UPC-E as 12 digits, EAN-8 as 8, a GTIN-14 with a packaging
  indicator as 14, everything else as the 13-digit EAN.
* ``code-limit``: caps the products per code (default 5), so a code shared by hundreds of listings cannot
  drain the token balance (1 token per product returned).
* ``stats=1``: free; the product gets ``stats.current``, the last value of every ``csv`` series (indices
  0 AMAZON, 1 NEW, 3 SALES, 16 RATING, 17 COUNT_REVIEWS), which is all this client reads.
* ``history=0``: drops the ``csv`` arrays (years of price points, most of the payload and of Keepa's
  processing time). Without ``stats`` that would lose the current values, hence both together. When an
  answer does carry ``csv`` (``history=True``), the last point of each series is used where ``stats`` is
  missing.
* ``rating=1``: fills RATING (stars x 10, 45 = 4.5) and COUNT_REVIEWS; may cost one extra token per product
  when Keepa's rating data is stale (Keepa docs).

Products do not say which code found them: each is mapped back through its ``eanList``/``upcList``/
``gtinList`` compared as GTIN-14 (a single-code request maps everything to its code).

Candidate fields: title (HTML stripped and unescaped), brand, images (``images[].l``, else the deprecated
``imagesCSV``, behind ``image_base_url``, default ``https://m.media-amazon.com/images/I/``), sales rank
(SALES), price (Amazon's own offer, else the lowest new offer; integer in the smallest currency unit,
whole yen on .co.jp, ``-1`` = no offer), currency of the marketplace, rating, review count, package
quantity, parent ASIN. Keepa time is minutes since 2011-01-01 (``keepa_time_to_unix_ms``).

Tokens: a call costs one token per product it returns (a code Keepa does not know costs nothing), and
Keepa serves any call while the balance is positive, letting it go negative ("All API requests execute
regardless of your current token balance, as long as it's positive. Requesting large result sets may cause
your token balance to go negative": Keepa's API documentation, Product Finder). Every answer carries
``tokensLeft``, ``refillIn`` (ms), ``refillRate`` (per refill); the client keeps the latest. Before a call
whose codes or ASINs outnumber the tokens left it asks ``GET /token`` (free) for the balance now, since
other workers may share the key; while the balance is zero or below it sleeps until the refill
(``refillIn`` after the answer, plus a small margin) and asks again. So the balance is spent down to the
last token and the job runs at the refill rate, instead of waiting for a whole call's worth of tokens that
the codes not found would not have used. If the wait would take more than ``max_wait_s`` it raises
``api_rate_limit`` marked not sent, with the time until the refills make the balance positive as
``retry_after``, so the job reschedules the rows rather than blocking a worker, and the rows spend no
attempt on a call that never left. Calls of one client are serialised (one balance).

Errors: 429 ``NOT_ENOUGH_TOKEN`` -> ``api_rate_limit`` with ``retry_after = refillIn / 1000`` (and the
shared limiter key is paused for that long when a limiter is given); 402 ``PAYMENT_REQUIRED`` and a 400 that
names the key -> ``ConfigurationError``; other 400 -> ``invalid_data``; 5xx, timeouts, transport failures
and bad JSON -> ``network``. The key is sent as the ``key`` query parameter and never appears in messages,
logs or ``api_response``.
"""

from __future__ import annotations

import copy
import hashlib
import html
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from code2asin.config import KeepaSettings
from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import Candidate, LookupCode, LookupOutcome, TitleQuery
from code2asin.providers.client_support import (
    dicts,
    int_or_none,
    json_object,
    mark_sources,
    send,
    tokens_consumed,
)
from code2asin.providers.marketplaces import KEEPA_DOMAINS, get_marketplace
from code2asin.providers.ratelimit import RateLimiter

NAME = "keepa"
DEFAULT_API_URL = "https://api.keepa.com"
IMAGE_BASE_URL = "https://m.media-amazon.com/images/I/"
MAX_ITEMS = 100
KEEPA_EPOCH_MINUTES = 21_564_000
AMAZON, NEW, SALES, RATING, COUNT_REVIEWS = 0, 1, 3, 16, 17
#: currencies Keepa prices in whole units (everything else is in cents)
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY"})
#: sleep this much past the advertised refill, so the next balance check sees the new tokens
REFILL_MARGIN_S = 0.05
DEFAULT_MAX_WAIT_S = 60.0
#: tokens one product-search result page costs: the cost we model, per Keepa's token table (10 per page)
SEARCH_PAGE_TOKENS = 10
#: the shared limiter only carries 429 pauses between workers; Keepa itself limits tokens, not requests
LIMITER_RATE, LIMITER_BURST = 10.0, 10
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")

PAYMENT_REQUIRED_MESSAGE = (
    "Keepa refused the API key: the subscription has no access or ran out (CODE2ASIN_KEEPA_API_KEY)."
)


def keepa_time_to_unix_ms(minutes: int) -> int:
    """Keepa minutes (since 2011-01-01 UTC) to Unix milliseconds."""
    return (minutes + KEEPA_EPOCH_MINUTES) * 60_000


def request_code(code: LookupCode) -> str:
    """The form of ``code`` Keepa accepts (UPC, EAN or ISBN-13; ISBN-10 becomes its 978 EAN-13)."""
    gtin = code.gtin
    if code.code_type in ("UPC", "UPC_E"):
        return gtin[-12:]
    if code.code_type == "EAN8":
        return gtin[-8:]
    if gtin[0] != "0":
        return gtin  # GTIN-14 with a packaging indicator
    return gtin[-13:]


def to_gtin14(value: str) -> str | None:
    digits = value.strip()
    return digits.zfill(14) if digits.isdigit() and 8 <= len(digits) <= 14 else None


def product_gtins(product: dict[str, Any]) -> set[str]:
    """Every EAN/UPC/GTIN of a Keepa product as GTIN-14."""
    found: set[str] = set()
    for field in ("eanList", "upcList", "gtinList"):
        for value in _strings(product.get(field)):
            gtin = to_gtin14(value)
            if gtin:
                found.add(gtin)
    return found


def _strings(value: object) -> list[str]:
    return [str(v) for v in value if isinstance(v, str | int) and str(v)] if isinstance(value, list) else []


def clean_title(value: object) -> str | None:
    """Keepa titles may carry HTML: tags removed, entities unescaped, blanks collapsed."""
    if not isinstance(value, str):
        return None
    text = _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", value))).strip()
    return text or None


def current_values(product: dict[str, Any]) -> dict[int, int]:
    """The current value of the csv series this client reads: ``stats.current``, else the csv's last point."""
    out: dict[int, int] = {}
    stats = product.get("stats")
    current = stats.get("current") if isinstance(stats, dict) else None
    csv = product.get("csv")
    for index in (AMAZON, NEW, SALES, RATING, COUNT_REVIEWS):
        value = None
        if isinstance(current, list) and index < len(current):
            value = int_or_none(current[index])
        if value is None and isinstance(csv, list) and index < len(csv):
            series = csv[index]
            if isinstance(series, list) and len(series) >= 2:
                value = int_or_none(series[-1])
        if value is not None:
            out[index] = value
    return out


def _images(product: dict[str, Any], base: str) -> list[str]:
    names = [str(image["l"]) for image in dicts(product.get("images")) if image.get("l")]
    if not names and isinstance(product.get("imagesCSV"), str):
        names = [n.strip() for n in str(product["imagesCSV"]).split(",") if n.strip()]
    return [name if name.startswith(("http://", "https://")) else f"{base}{name}" for name in names]


def to_candidate(product: dict[str, Any], host: str, currency: str, image_base_url: str) -> Candidate:
    """Map one Keepa ``Product`` to a ``Candidate``."""
    asin = str(product["asin"]).upper()
    candidate = Candidate(asin=asin, source=NAME, detail_page_url=f"https://{host}/dp/{asin}")
    for field, id_type in (("eanList", "EAN"), ("upcList", "UPC"), ("gtinList", "GTIN")):
        values = _strings(product.get(field))
        if values:
            candidate.identifiers[id_type] = values
    candidate.title = clean_title(product.get("title"))
    brand = product.get("brand")
    candidate.brand = (brand.strip() or None) if isinstance(brand, str) else None
    candidate.images = _images(product, image_base_url)
    current = current_values(product)
    cents = next((current[i] for i in (AMAZON, NEW) if current.get(i, -1) > 0), None)
    if cents is not None:
        unit = 1 if currency in ZERO_DECIMAL_CURRENCIES else 100
        candidate.price = Decimal(cents) / unit
        candidate.currency = currency
    if current.get(SALES, -1) > 0:
        candidate.sales_rank = current[SALES]
    if current.get(RATING, -1) > 0:
        candidate.rating = current[RATING] / 10
    if current.get(COUNT_REVIEWS, -1) >= 0 and RATING in current:
        candidate.review_count = current[COUNT_REVIEWS]
    quantity = int_or_none(product.get("packageQuantity"))
    if not quantity or quantity < 1:
        quantity = int_or_none(product.get("numberOfItems"))
    candidate.package_quantity = quantity if quantity and quantity > 0 else None
    parent = product.get("parentAsin")
    candidate.parent_asin = str(parent) if isinstance(parent, str) and parent else None
    mark_sources(candidate, NAME)
    return candidate


def _has_data(product: dict[str, Any]) -> bool:
    return any(product.get(f) for f in ("title", "stats", "csv", "eanList", "upcList"))


@dataclass(frozen=True, slots=True)
class TokenState:
    """The balance Keepa reported last, and when (client clock)."""

    tokens_left: int
    refill_in_ms: int
    refill_rate: int
    seen_at: float


def _time_to_cover(deficit: int, refill_rate: int, next_refill_s: float) -> float:
    """Seconds until ``deficit`` more tokens have come in: the next refill, then one a minute."""
    refills = -(-max(deficit, 1) // max(refill_rate, 1))
    return next_refill_s + (refills - 1) * 60.0


class KeepaClient:
    """Keepa provider ``keepa``: ``identify`` (100 codes per call) and ``enrich`` (100 ASINs per call).

    ``limiter`` (optional) shares 429 pauses with every worker using the same key (limiter key
    ``keepa:<sha256(key)[:16]>``); ``sleep`` and ``clock`` are injectable for tests. Raises
    ``ConfigurationError`` at construction when the key is empty or Keepa does not serve the marketplace.
    """

    name = NAME
    identify_batch_size = MAX_ITEMS
    enrich_batch_size = MAX_ITEMS

    def __init__(
        self,
        *,
        http: httpx.Client,
        api_key: str,
        marketplace: str = "FR",
        api_url: str = DEFAULT_API_URL,
        limiter: RateLimiter | None = None,
        code_limit: int = 5,
        history: bool = False,
        image_base_url: str = IMAGE_BASE_URL,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ConfigurationError("The Keepa provider needs an API key: set CODE2ASIN_KEEPA_API_KEY.")
        self._market = get_marketplace(marketplace)
        if self._market.keepa_domain_id is None:
            served = ", ".join(sorted(KEEPA_DOMAINS.values()))
            raise ConfigurationError(
                f"Keepa has no data for {self._market.host}: use it on {served}, or another provider "
                "(CODE2ASIN_PROVIDER)."
            )
        if not 1 <= code_limit <= 100:
            raise ValueError(f"code_limit must be between 1 and 100, not {code_limit}.")
        self._domain = self._market.keepa_domain_id
        self._http = http
        self._key = api_key
        self._api_url = api_url.rstrip("/")
        self._limiter = limiter
        self._code_limit = code_limit
        self._history = history
        self._image_base = image_base_url
        self._max_wait = max_wait_s
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._state: TokenState | None = None
        self.limiter_key = f"keepa:{hashlib.sha256(api_key.encode()).hexdigest()[:16]}"
        if limiter is not None:
            limiter.configure(self.limiter_key, LIMITER_RATE, LIMITER_BURST)

    @classmethod
    def from_settings(
        cls,
        settings: KeepaSettings,
        *,
        marketplace: str,
        http: httpx.Client,
        limiter: RateLimiter | None = None,
    ) -> KeepaClient:
        """Build from ``CODE2ASIN_KEEPA_*``; raises ``ConfigurationError`` naming a missing setting."""
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        return cls(http=http, api_key=key, marketplace=marketplace, api_url=settings.api_url, limiter=limiter)

    @property
    def token_state(self) -> TokenState | None:
        """The balance Keepa reported last (``None`` before the first answer)."""
        return self._state

    def refresh_balance(self) -> TokenState | None:
        """Ask Keepa for the balance now (``GET /token``, which costs no token)."""
        with self._lock:
            self._refresh()
        return self._state

    # -- one call ---------------------------------------------------------------------------------

    def _base_params(self) -> dict[str, str]:
        return {"domain": str(self._domain), "stats": "1", "history": "1" if self._history else "0",
                "rating": "1"}

    def _observe(self, data: dict[str, Any]) -> None:
        left, refill_in, rate = (int_or_none(data.get(k)) for k in ("tokensLeft", "refillIn", "refillRate"))
        if left is not None and refill_in is not None and rate is not None:
            self._state = TokenState(left, max(refill_in, 0), rate, self._clock())

    def _exchange(self, path: str, params: dict[str, str]) -> tuple[dict[str, Any], int]:
        """GET one Keepa endpoint; return (JSON body, elapsed ms). Raises classified errors."""
        what = {"/product": "Keepa product request", "/search": "Keepa product search"}.get(
            path, "Keepa token status"
        )
        if self._limiter is not None:
            self._limiter.acquire(self.limiter_key)
        started = time.perf_counter()
        response = send(self._http, "GET", f"{self._api_url}{path}", what, billable=path != "/token",
                        params={"key": self._key, **params}, headers={"Accept": "application/json"})
        elapsed = round((time.perf_counter() - started) * 1000)
        status = response.status_code
        if status >= 500:
            raise ProviderError(f"{what} answered HTTP {status}.", ErrorType.NETWORK)
        try:
            data = json_object(response, what)
        except ProviderError:
            if status == 200:
                raise
            data = {}
        self._observe(data)
        if status == 200:
            consumed = int_or_none(data.get("tokensConsumed"))
            tokens_consumed(len(dicts(data.get("products"))) if consumed is None else consumed)
            return data, elapsed
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        assert isinstance(error, dict)
        detail = " ".join(str(error.get(k) or "") for k in ("type", "message")).strip() or f"HTTP {status}"
        if status == 429:
            refill_in = int_or_none(data.get("refillIn"))
            delay = refill_in / 1000 if refill_in is not None and refill_in > 0 else 60.0
            if self._limiter is not None:
                self._limiter.penalise(self.limiter_key, delay)
            raise ProviderError(f"{what}: not enough Keepa tokens (HTTP 429 {detail}).",
                                ErrorType.API_RATE_LIMIT, delay)
        if status == 402:
            raise ConfigurationError(PAYMENT_REQUIRED_MESSAGE)
        if status in (400, 401, 403) and "key" in detail.lower():
            raise ConfigurationError(f"Keepa rejected the API key ({detail}): check CODE2ASIN_KEEPA_API_KEY.")
        if status == 400:
            raise ProviderError(f"{what} rejected: {detail}", ErrorType.INVALID_DATA)
        raise ProviderError(f"{what} answered HTTP {status}: {detail}", ErrorType.UNKNOWN)

    def _refresh(self) -> None:
        """Ask ``GET /token`` for the balance (costs no token)."""
        self._exchange("/token", {})

    def _pace(self, cost: int) -> None:
        """Wait until the balance is positive (Keepa serves any call then); see the module docstring."""
        if self._state is None or self._state.tokens_left < max(1, cost):
            self._refresh()  # what the last answer said may be stale when other clients share the key
        waited = 0.0
        while (state := self._state) is not None and state.tokens_left <= 0:
            wait = max(state.refill_in_ms / 1000 - (self._clock() - state.seen_at), 0.0) + REFILL_MARGIN_S
            if state.refill_rate <= 0 or waited + wait > self._max_wait:
                raise ProviderError(
                    f"Keepa has {state.tokens_left} tokens left and serves a call only while the balance is "
                    f"positive: waiting for the refill ({state.refill_rate} tokens per refill).",
                    ErrorType.API_RATE_LIMIT,
                    _time_to_cover(1 - state.tokens_left, state.refill_rate, wait),
                    sent=False,
                )
            self._sleep(wait)
            waited += wait
            self._refresh()

    def _call(self, params: dict[str, str], cost: int) -> tuple[dict[str, Any], int]:
        with self._lock:
            self._pace(cost)
            return self._exchange("/product", params)

    # -- identify ---------------------------------------------------------------------------------

    def identify(self, codes: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        """Look codes up, 100 per call. Raises ``ConfigurationError``; other failures land in the outcomes."""
        unique = list({code.gtin: code for code in codes}.values())
        outcomes = {code.gtin: LookupOutcome() for code in unique}
        for start in range(0, len(unique), self.identify_batch_size):
            self._identify_chunk(unique[start : start + self.identify_batch_size], outcomes)
        return outcomes

    def _identify_chunk(self, chunk: list[LookupCode], outcomes: dict[str, LookupOutcome]) -> None:
        sent = {code.gtin: request_code(code) for code in chunk}
        params = {**self._base_params(), "code": ",".join(dict.fromkeys(sent.values())),
                  "code-limit": str(self._code_limit)}
        try:
            data, elapsed = self._call(params, len(sent))
        except ConfigurationError:
            raise
        except ProviderError as error:
            for gtin, value in sent.items():
                outcomes[gtin].error = error
                outcomes[gtin].api_response = {"domain": self._domain, "code": value, "error": str(error)}
            return
        logs: dict[str, list[dict[str, object]]] = {}
        for gtin, value in sent.items():
            logs[gtin] = []
            outcomes[gtin].elapsed_ms = elapsed
            outcomes[gtin].api_response = {"domain": self._domain, "code": value,
                                           "tokensConsumed": int_or_none(data.get("tokensConsumed")),
                                           "products": logs[gtin]}
        for product in dicts(data.get("products")):
            if not product.get("asin"):
                continue
            matched = product_gtins(product) & sent.keys()
            if not matched and len(sent) == 1:
                matched = set(sent)  # one code asked: the product can only be its answer
            candidate = to_candidate(product, self._market.host, self._market.currency, self._image_base)
            for gtin in matched:
                outcomes[gtin].candidates.append(copy.deepcopy(candidate))
                logs[gtin].append({"asin": candidate.asin, "title": candidate.title,
                                   "identifiers": candidate.identifiers})

    # -- title search -----------------------------------------------------------------------------

    def search_title(self, query: TitleQuery) -> list[Candidate]:
        """One product search (``GET /search?type=product&term=<brand title>&page=0``, with the stats
        parameters of ``/product``), paced and charged ``SEARCH_PAGE_TOKENS`` in the client's token
        accounting: candidates mapped like products, in Keepa's order, ``[]`` when none.

        Keepa has no brand filter, so the brand goes first in the term (unless the title names it).
        Raises ``ProviderError`` (classified as in ``identify``) or ``ConfigurationError``.
        """
        brand = (query.brand or "").strip()
        named = brand and brand.casefold() in query.title.casefold()
        term = query.title.strip() if not brand or named else f"{brand} {query.title.strip()}"
        params = {**self._base_params(), "type": "product", "term": term, "page": "0"}
        with self._lock:
            self._pace(SEARCH_PAGE_TOKENS)
            data, _ = self._exchange("/search", params)
        return [
            to_candidate(product, self._market.host, self._market.currency, self._image_base)
            for product in dicts(data.get("products"))
            if product.get("asin")
        ]

    # -- enrich -----------------------------------------------------------------------------------

    def enrich(self, asins: Sequence[str]) -> dict[str, Candidate | ProviderError]:
        """Product data (rating, reviews, price, rank...) per ASIN, 100 per call.

        An ASIN Keepa does not know gets ``invalid_data``. Raises ``ConfigurationError``.
        """
        out: dict[str, Candidate | ProviderError] = {}
        unique = list(dict.fromkeys(asins))
        for start in range(0, len(unique), self.enrich_batch_size):
            out.update(self._enrich_chunk(unique[start : start + self.enrich_batch_size]))
        return out

    def _enrich_chunk(self, asins: list[str]) -> dict[str, Candidate | ProviderError]:
        params = {**self._base_params(), "asin": ",".join(a.upper() for a in asins)}
        try:
            data, _ = self._call(params, len(asins))
        except ConfigurationError:
            raise
        except ProviderError as error:
            return dict.fromkeys(asins, error)
        products = {str(p["asin"]).upper(): p for p in dicts(data.get("products")) if p.get("asin")}
        out: dict[str, Candidate | ProviderError] = {}
        for asin in asins:
            product = products.get(asin.upper())
            if product is None or not _has_data(product):
                out[asin] = ProviderError(
                    f"Keepa has no data for {asin} on {self._market.host}.", ErrorType.INVALID_DATA
                )
                continue
            out[asin] = to_candidate(product, self._market.host, self._market.currency, self._image_base)
        return out
