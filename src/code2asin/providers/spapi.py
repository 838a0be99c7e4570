"""Amazon Selling Partner API: Catalog Items 2022-04-01 (identify) and Product Pricing v0 (prices).

Protocol (https://developer-docs.amazon.com/sp-api/docs/catalog-items-api-v2022-04-01-reference, the
models in https://github.com/amzn/selling-partner-api-models): a Login with Amazon refresh-token grant
(form body) gives an access token sent as ``x-amz-access-token``. ``searchCatalogItems`` takes up to 20
identifiers of one ``identifiersType``; its results are not in input order and do not say which input
they matched, so every item is mapped back through its own identifiers compared as GTIN-14 (ISBN-10 as
its 978 EAN). One item may match several inputs and one input several items.

``identifiersType`` per code type: EAN/EAN8 -> ``EAN``; UPC and UPC-E -> ``UPC`` with the 12-digit
UPC-A; ISBN10/ISBN13 -> ``ISBN``; GTIN14 -> ``GTIN``. Japanese EANs (prefixes 45/49) are sent as
``EAN``, not ``JAN``: Amazon converts every GTIN-compatible identifier to a GTIN before matching
(amzn/selling-partner-api-models#264), so ``EAN`` finds them on every marketplace and a chunk needs
one call fewer.

Errors: 429 -> ``api_rate_limit`` and the limiter key is paused (``Retry-After``, else one period of
``x-amzn-RateLimit-Limit``, else of the configured rate); 5xx, timeouts, bad JSON -> ``network``; 400 ->
``invalid_data`` for the codes of that request; refused tokens or roles -> ``ConfigurationError``.
"""

from __future__ import annotations

import copy
import hashlib
import re
import time
from collections.abc import Sequence
from typing import Any

import httpx

from code2asin.config import SpapiSettings
from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import Candidate, LookupCode, LookupOutcome, TitleQuery
from code2asin.providers.client_support import (
    TokenCache,
    decimal_or_none,
    dict_at,
    dicts,
    float_or_none,
    int_or_none,
    json_object,
    mark_sources,
    parse_token,
    retry_after,
    send,
    token_error,
)
from code2asin.providers.marketplaces import get_marketplace
from code2asin.providers.ratelimit import RateLimiter

NAME = "spapi"
CATALOG_PATH = "/catalog/2022-04-01/items"
PRICING_PATH = "/products/pricing/v0/competitivePrice"
INCLUDED_DATA = "identifiers,summaries,images,salesRanks"
IMAGE_VARIANTS = ("MAIN", "PT01", "PT02", "PT03", "PT04", "PT05", "PT06", "PT07", "PT08")
MAX_PAGES = 10
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
#: searchCatalogItems takes at most 20 keywords (catalogItems_2022-04-01.json, ``keywords`` maxItems)
MAX_KEYWORDS = 20
_WORD_SPLIT_RE = re.compile(r"[\s,]+")


#: code type -> (identifiersType, digits of the GTIN-14 to send)
_REQUEST_FORMS: dict[str, tuple[str, int]] = {
    "UPC": ("UPC", 12),
    "UPC_E": ("UPC", 12),  # expanded: the 12-digit UPC-A
    "EAN": ("EAN", 13),
    "EAN8": ("EAN", 8),
    "ISBN13": ("ISBN", 13),
    "GTIN14": ("GTIN", 14),
}


def request_identifier(code: LookupCode) -> tuple[str, str]:
    """The ``(identifiersType, identifier)`` to send for ``code``."""
    gtin = code.gtin
    if code.code_type == "ISBN10":
        isbn10 = "".join(ch for ch in code.code if ch.isalnum()).upper()
        return "ISBN", isbn10 if len(isbn10) == 10 else gtin[-13:]
    if code.code_type in _REQUEST_FORMS:
        id_type, digits = _REQUEST_FORMS[code.code_type]
        return id_type, gtin[-digits:]
    return ("EAN", gtin[-13:]) if gtin.startswith("0") else ("GTIN", gtin)


def _ean_check_digit(data: str) -> str:
    return str((10 - sum((3, 1)[i % 2] * int(d) for i, d in enumerate(reversed(data)))) % 10)


def to_gtin14(value: str, identifier_type: str = "") -> str | None:
    """A returned identifier as GTIN-14 (ISBN-10 through its 978 EAN), or ``None`` if it is no GTIN."""
    compact = "".join(ch for ch in value if ch.isalnum()).upper()
    if len(compact) == 10 and (identifier_type == "ISBN" or not compact.isdigit()):
        core = "978" + compact[:9]
        return (core + _ean_check_digit(core)).zfill(14) if core.isdigit() else None
    return compact.zfill(14) if compact.isdigit() and len(compact) <= 14 else None


def title_keywords(title: str) -> list[str]:
    """The ``keywords`` csv values of a title: its words (a decimal comma becomes a dot, since the list
    is comma-separated), without pure punctuation or repeats (case-insensitive), the first 20."""
    words = _WORD_SPLIT_RE.split(re.sub(r"(\d),(\d)", r"\1.\2", title))
    kept: dict[str, str] = {}
    for word in words:
        if any(ch.isalnum() for ch in word):
            kept.setdefault(word.casefold(), word)
    return list(kept.values())[:MAX_KEYWORDS]


def _for_market(blocks: Any, marketplace_id: str) -> list[dict[str, Any]]:
    """The per-marketplace blocks of ``marketplace_id`` (all of them when none says its marketplace)."""
    all_blocks = dicts(blocks)
    mine = [b for b in all_blocks if b.get("marketplaceId") == marketplace_id]
    return mine or [b for b in all_blocks if not b.get("marketplaceId")]


def item_gtins(item: dict[str, Any]) -> set[str]:
    """Every identifier of ``item`` (any marketplace) as GTIN-14."""
    found: set[str] = set()
    for block in dicts(item.get("identifiers")):
        for ident in dicts(block.get("identifiers")):
            gtin = to_gtin14(str(ident.get("identifier") or ""), str(ident.get("identifierType") or ""))
            if gtin:
                found.add(gtin)
    return found


def to_candidate(item: dict[str, Any], marketplace_id: str, host: str) -> Candidate:
    """Map one Catalog Items ``Item`` to a ``Candidate``."""
    asin = str(item["asin"])
    candidate = Candidate(asin=asin, source=NAME, detail_page_url=f"https://{host}/dp/{asin}")
    for block in _for_market(item.get("identifiers"), marketplace_id):
        for ident in dicts(block.get("identifiers")):
            if ident.get("identifierType") and ident.get("identifier"):
                candidate.identifiers.setdefault(str(ident["identifierType"]), []).append(
                    str(ident["identifier"])
                )
    summaries = _for_market(item.get("summaries"), marketplace_id)
    if summaries:
        summary = summaries[0]
        candidate.title = str(summary["itemName"]) if summary.get("itemName") else None
        candidate.brand = str(summary["brand"]) if summary.get("brand") else None
        kind = summary.get("itemClassification")
        candidate.item_classification = str(kind) if kind else None
        candidate.package_quantity = int_or_none(summary.get("packageQuantity"))
    best: dict[str, tuple[int, str]] = {}
    for block in _for_market(item.get("images"), marketplace_id):
        for image in dicts(block.get("images")):
            variant, link = str(image.get("variant") or ""), image.get("link")
            area = (int_or_none(image.get("height")) or 0) * (int_or_none(image.get("width")) or 0)
            if variant in IMAGE_VARIANTS and link and area >= best.get(variant, (-1, ""))[0]:
                best[variant] = (area, str(link))
    candidate.images = [best[v][1] for v in IMAGE_VARIANTS if v in best]
    ranks = _for_market(item.get("salesRanks"), marketplace_id)
    for field in ("displayGroupRanks", "classificationRanks"):
        values = [r for block in ranks for e in dicts(block.get(field)) if (r := int_or_none(e.get("rank")))]
        if values:
            candidate.sales_rank = min(values)
            break
    mark_sources(candidate, NAME)
    return candidate


class SpapiClient:
    """SP-API provider ``spapi``: ``identify`` (20 codes per call) and ``prices`` (20 ASINs per call).

    ``api_url`` defaults to the marketplace's regional endpoint. Limiter keys:
    ``spapi:<client_id>:<region>:catalog`` and ``spapi:<client_id>:<region>:pricing``: SP-API usage plans
    are per selling partner and application, and each region (``na``, ``eu``, ``fe``) is separate
    infrastructure with its own endpoint and its own buckets, so the clients of FR, DE and IT share their
    keys and a US client has its own. ``client_id`` is no secret; the key never holds the client secret
    or the refresh token.
    """

    name = NAME
    identify_batch_size = 20
    prices_batch_size = 20

    def __init__(
        self,
        *,
        http: httpx.Client,
        limiter: RateLimiter,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        marketplace: str = "FR",
        api_url: str | None = None,
        token_url: str = LWA_TOKEN_URL,
        catalog_rate: float = 2.0,
        catalog_burst: int = 2,
        pricing_rate: float = 0.5,
        token_cache: TokenCache | None = None,
    ) -> None:
        self._market = get_marketplace(marketplace)
        self._http = http
        self._limiter = limiter
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._api_url = (api_url or self._market.spapi_endpoint).rstrip("/")
        self._token_url = token_url
        self._tokens = token_cache or TokenCache()
        fingerprint = hashlib.sha256(refresh_token.encode()).hexdigest()[:16]
        self._token_key = f"spapi:{token_url}:{client_id}:{fingerprint}"
        quota = f"spapi:{client_id}:{self._market.spapi_region}"
        self.catalog_key = f"{quota}:catalog"
        self.pricing_key = f"{quota}:pricing"
        self._rates = {self.catalog_key: catalog_rate, self.pricing_key: pricing_rate}
        limiter.configure(self.catalog_key, catalog_rate, catalog_burst)
        limiter.configure(self.pricing_key, pricing_rate, 1)

    @classmethod
    def from_settings(
        cls,
        settings: SpapiSettings,
        *,
        marketplace: str,
        http: httpx.Client,
        limiter: RateLimiter,
        token_cache: TokenCache | None = None,
    ) -> SpapiClient:
        """Build from ``CODE2ASIN_SPAPI_*``; raises ``ConfigurationError`` naming a missing setting."""
        if not (settings.client_id and settings.client_secret and settings.refresh_token):
            raise ConfigurationError(
                "The SP-API provider needs CODE2ASIN_SPAPI_CLIENT_ID, CODE2ASIN_SPAPI_CLIENT_SECRET and "
                "CODE2ASIN_SPAPI_REFRESH_TOKEN."
            )
        return cls(
            http=http,
            limiter=limiter,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            refresh_token=settings.refresh_token.get_secret_value(),
            marketplace=marketplace,
            api_url=settings.api_url,
            token_url=settings.token_url,
            catalog_rate=settings.catalog_requests_per_second,
            catalog_burst=settings.catalog_burst,
            pricing_rate=settings.pricing_requests_per_second,
            token_cache=token_cache,
        )

    # -- auth and one call ------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        what = "SP-API token endpoint (Login with Amazon)"
        response = send(self._http, "POST", self._token_url, what, billable=False, data=form)
        if response.status_code in (400, 401, 403):
            detail = token_error(response)
            if "invalid_grant" in detail:
                raise ConfigurationError(
                    f"Login with Amazon refused the SP-API refresh token ({detail}): authorise the app again "
                    "and set the new token in CODE2ASIN_SPAPI_REFRESH_TOKEN."
                )
            raise ConfigurationError(
                f"Login with Amazon refused the SP-API app credentials of client {self._client_id!r} "
                f"({detail}): check CODE2ASIN_SPAPI_CLIENT_ID and CODE2ASIN_SPAPI_CLIENT_SECRET."
            )
        return parse_token(response, what, self._rates[self.catalog_key])

    def _get(self, path: str, params: dict[str, str], key: str, operation: str) -> tuple[dict[str, Any], int]:
        """GET one SP-API operation; return (JSON body, elapsed ms). 404 is an empty body.

        Raises ``ProviderError`` (classified) or ``ConfigurationError``.
        """
        for attempt in (1, 2):
            token = self._tokens.get(self._token_key, self._fetch_token)
            self._limiter.acquire(key)
            started = time.perf_counter()
            response = send(
                self._http,
                "GET",
                f"{self._api_url}{path}",
                f"SP-API {operation}",
                params=params,
                headers={"x-amz-access-token": token, "Accept": "application/json"},
            )
            elapsed = round((time.perf_counter() - started) * 1000)
            status = response.status_code
            if status == 200:
                return json_object(response, f"SP-API {operation}"), elapsed
            if status >= 500:
                raise ProviderError(f"SP-API {operation} answered HTTP {status}.", ErrorType.NETWORK)
            try:
                data = json_object(response, f"SP-API {operation}")
            except ProviderError:
                data = {}
            error = (dicts(data.get("errors")) or [{}])[0]
            message = " ".join(str(error.get(k) or "") for k in ("code", "message", "details")).strip()
            if status in (401, 403) and attempt == 1 and (status == 401 or "expired" in message.lower()):
                self._tokens.invalidate(self._token_key, token)
                continue
            self._raise_for(operation, status, message or f"HTTP {status}", response, key)
            return {}, elapsed  # 404
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for(
        self, operation: str, status: int, message: str, response: httpx.Response, key: str
    ) -> None:
        if status == 404:
            return
        if status == 429:
            period = 1.0 / (float_or_none(response.headers.get("x-amzn-RateLimit-Limit")) or self._rates[key])
            delay = retry_after(response, None, period)
            self._limiter.penalise(key, delay)
            raise ProviderError(
                f"SP-API {operation} throttled (HTTP 429): {message}", ErrorType.API_RATE_LIMIT, delay
            )
        if status in (401, 403):
            role = "Pricing" if key == self.pricing_key else "Product Listing"
            raise ConfigurationError(
                f"SP-API refused {operation} for {self._market.code} ({message}): the app needs the {role} "
                "role and a refresh token authorised for this marketplace (CODE2ASIN_SPAPI_REFRESH_TOKEN)."
            )
        if status == 400:
            raise ProviderError(f"SP-API {operation} rejected the request: {message}", ErrorType.INVALID_DATA)
        raise ProviderError(f"SP-API {operation} answered HTTP {status}: {message}", ErrorType.UNKNOWN)

    # -- identify ---------------------------------------------------------------------------------

    def batch_key(self, code: LookupCode) -> str:
        """Codes of one ``identifiersType`` share a request: the runner batches them together."""
        return request_identifier(code)[0]

    def identify(self, codes: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        """Look codes up by identifier, 20 per call and one call per ``identifiersType``.

        Raises ``ConfigurationError``; other failures land in the outcomes of the request's codes.
        """
        outcomes = {code.gtin: LookupOutcome() for code in codes}
        groups: dict[str, dict[str, str]] = {}  # identifiersType -> gtin -> identifier sent
        for code in codes:
            id_type, value = request_identifier(code)
            groups.setdefault(id_type, {})[code.gtin] = value
        for id_type, members in groups.items():
            gtins = list(members)
            for start in range(0, len(gtins), self.identify_batch_size):
                chunk = {g: members[g] for g in gtins[start : start + self.identify_batch_size]}
                self._identify_chunk(id_type, chunk, outcomes)
        return outcomes

    def _identify_chunk(
        self, id_type: str, chunk: dict[str, str], outcomes: dict[str, LookupOutcome]
    ) -> None:
        params = {
            "identifiers": ",".join(dict.fromkeys(chunk.values())),
            "identifiersType": id_type,
            "marketplaceIds": self._market.spapi_marketplace_id,
            "includedData": INCLUDED_DATA,
            "pageSize": "20",
        }
        items: list[dict[str, Any]] = []
        elapsed = 0
        try:
            for _ in range(MAX_PAGES):
                data, ms = self._get(CATALOG_PATH, params, self.catalog_key, "searchCatalogItems")
                elapsed += ms
                page = [item for item in dicts(data.get("items")) if item.get("asin")]
                items.extend(page)
                token = dict_at(data, "pagination").get("nextToken")
                if not token or not page or len(items) >= (int_or_none(data.get("numberOfResults")) or 0):
                    break
                params = {**params, "pageToken": str(token)}
        except ConfigurationError:
            raise
        except ProviderError as error:
            for gtin in chunk:
                outcomes[gtin].error = error
                outcomes[gtin].api_response = {"identifiersType": id_type, "error": str(error)}
            return
        for gtin in chunk:
            outcomes[gtin].elapsed_ms = elapsed
            outcomes[gtin].api_response = {"identifiersType": id_type, "items": []}
        for item in items:
            matched = item_gtins(item) & chunk.keys()
            if not matched and len(chunk) == 1:
                matched = set(chunk)  # one input: the item can only be its answer
            candidate = to_candidate(item, self._market.spapi_marketplace_id, self._market.host)
            for gtin in matched:
                outcomes[gtin].candidates.append(copy.deepcopy(candidate))
                trimmed = {
                    "asin": candidate.asin,
                    "title": candidate.title,
                    "identifiers": candidate.identifiers,
                }
                response = outcomes[gtin].api_response or {}
                items_log = response.get("items")
                if isinstance(items_log, list):
                    items_log.append(trimmed)

    # -- title search -----------------------------------------------------------------------------

    def search_title(self, query: TitleQuery) -> list[Candidate]:
        """One ``searchCatalogItems`` by ``keywords`` (``title_keywords``) and ``brandNames`` when known,
        20 items, the ``includedData`` of ``identify``, paced on the catalog key: candidates in Amazon's
        order, ``[]`` when none (or when the title has no word to send).

        Raises ``ProviderError`` (classified as in ``identify``) or ``ConfigurationError``.
        """
        keywords = title_keywords(query.title)
        if not keywords:
            return []
        params = {
            "keywords": ",".join(keywords),
            "marketplaceIds": self._market.spapi_marketplace_id,
            "includedData": INCLUDED_DATA,
            "pageSize": "20",
        }
        if query.brand:
            params["brandNames"] = query.brand
        data, _ = self._get(CATALOG_PATH, params, self.catalog_key, "searchCatalogItems")
        return [
            to_candidate(item, self._market.spapi_marketplace_id, self._market.host)
            for item in dicts(data.get("items"))
            if item.get("asin")
        ]

    # -- prices -----------------------------------------------------------------------------------

    def prices(self, asins: Sequence[str]) -> dict[str, Candidate | ProviderError]:
        """Buy-box (new) price per ASIN via ``getCompetitivePricing``, 20 ASINs per call.

        An ASIN without a buy-box price gets a ``Candidate`` without price; one Amazon did not
        return or reported as a client error gets ``invalid_data``. Raises ``ConfigurationError``.
        """
        out: dict[str, Candidate | ProviderError] = {}
        unique = list(dict.fromkeys(asins))
        for start in range(0, len(unique), self.prices_batch_size):
            out.update(self._prices_chunk(unique[start : start + self.prices_batch_size]))
        return out

    def _prices_chunk(self, asins: list[str]) -> dict[str, Candidate | ProviderError]:
        params = {
            "MarketplaceId": self._market.spapi_marketplace_id,
            "ItemType": "Asin",
            "Asins": ",".join(asins),
        }
        try:
            data, _ = self._get(PRICING_PATH, params, self.pricing_key, "getCompetitivePricing")
        except ConfigurationError:
            raise
        except ProviderError as error:
            return dict.fromkeys(asins, error)
        entries = {str(e.get("ASIN") or "").upper(): e for e in dicts(data.get("payload"))}
        out: dict[str, Candidate | ProviderError] = {}
        for asin in asins:
            entry = entries.get(asin.upper())
            if entry is None or entry.get("status") not in (None, "Success"):
                why = entry.get("status") if entry else "not returned"
                out[asin] = ProviderError(
                    f"SP-API has no price data for {asin}: {why}", ErrorType.INVALID_DATA
                )
                continue
            out[asin] = price_candidate(asin, entry)
        return out


def price_candidate(asin: str, entry: dict[str, Any]) -> Candidate:
    """The buy-box (``CompetitivePriceId`` "1", new) price of one pricing payload entry."""
    candidate = Candidate(asin=asin, source=NAME)
    pricing = dict_at(dict_at(entry, "Product"), "CompetitivePricing")
    for offer in dicts(pricing.get("CompetitivePrices")):
        if str(offer.get("CompetitivePriceId")) != "1":
            continue
        price = dict_at(offer, "Price")
        money = dict_at(price, "LandedPrice") or dict_at(price, "ListingPrice")
        candidate.price = decimal_or_none(money.get("Amount"))
        candidate.currency = str(money["CurrencyCode"]) if money.get("CurrencyCode") else None
        candidate.buy_box = candidate.price is not None or None
        break
    mark_sources(candidate, NAME)
    return candidate


class SpapiPricing:
    """The SP-API price stage as an ``EnrichProvider`` (``enrich`` = ``SpapiClient.prices``)."""

    name = NAME
    enrich_batch_size = 20

    def __init__(self, client: SpapiClient) -> None:
        self._client = client

    def enrich(self, asins: Sequence[str]) -> dict[str, Candidate | ProviderError]:
        return self._client.prices(asins)
