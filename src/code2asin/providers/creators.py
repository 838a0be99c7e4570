"""Amazon Creators API (the PA-API 5 successor): identify by keyword search, enrich by ``getItems``, and
search by title + brand (``searchItems`` with ``keywords`` and ``brand``).

Protocol: OAuth2 client credentials, Cognito for credential versions 2.x (form body, scope
``creatorsapi/default``, header ``Bearer <t>, Version <v>``) and Login with Amazon for 3.x (JSON body,
scope ``creatorsapi::default``, header ``Bearer <t>``); every call is a JSON ``POST`` with
``x-marketplace: www.amazon.fr``. There is no identifier lookup: ``searchItems`` with ``keywords=<code>``
returns candidates whose ``itemInfo.externalIds`` the matcher checks. A search with no hit answers 404
``ResourceNotFoundException``, which is "not found", not a failure.

Errors: 429 -> ``api_rate_limit`` (and the limiter key is paused for the advertised delay); 5xx,
timeouts, connection errors, broken JSON -> ``network``; 400 on a code -> ``invalid_data``; refused
partner tag, credentials or eligibility -> ``ConfigurationError`` raised out of ``identify``/``enrich``
so the job stops. Secrets and tokens never appear in logs, ``api_response`` or messages.

Sources: Amazon's Creators API documentation (token endpoints and base URL; request headers; request
bodies; error codes):
https://affiliate-program.amazon.com/creatorsapi/docs/en-us/get-started/using-curl
https://affiliate-program.amazon.com/creatorsapi/docs/en-us/concepts/common-request-headers-and-parameters
https://affiliate-program.amazon.com/creatorsapi/docs/en-us/api-reference/operations/search-items
https://affiliate-program.amazon.com/creatorsapi/docs/en-us/api-reference/operations/get-items
https://affiliate-program.amazon.com/creatorsapi/docs/en-us/troubleshooting/error-codes-and-messages
and the official Python SDK bundled by python-amazon-paapi (``auth/oauth2_config.py``: token endpoints;
``api_client.py``: the ``Authorization`` header):
https://github.com/sergioteula/python-amazon-paapi/tree/master/creatorsapi_python_sdk
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx

from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.providers.base import Candidate, LookupCode, LookupOutcome, TitleQuery
from code2asin.providers.client_support import (
    TokenCache,
    dicts,
    json_object,
    parse_token,
    retry_after,
    send,
    token_error,
)
from code2asin.providers.creators_mapping import NAME, to_candidate, trim_item
from code2asin.providers.marketplaces import get_marketplace
from code2asin.providers.ratelimit import RateLimiter

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://creatorsapi.amazon"
TOKEN_URLS: dict[str, str] = {
    "2.1": "https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token",
    "2.2": "https://creatorsapi.auth.eu-south-2.amazoncognito.com/oauth2/token",
    "2.3": "https://creatorsapi.auth.us-west-2.amazoncognito.com/oauth2/token",
    "3.1": "https://api.amazon.com/auth/o2/token",
    "3.2": "https://api.amazon.co.uk/auth/o2/token",
    "3.3": "https://api.amazon.co.jp/auth/o2/token",
}
RESOURCES: tuple[str, ...] = (
    "itemInfo.externalIds",
    "itemInfo.title",
    "itemInfo.byLineInfo",
    "itemInfo.productInfo",
    "images.primary.large",
    "images.variants.large",
    "offersV2.listings.price",
    "offersV2.listings.isBuyBoxWinner",
    "offersV2.listings.availability",
    "browseNodeInfo.websiteSalesRank",
    "parentASIN",
)
ISBN_TYPES = frozenset({"ISBN10", "ISBN13"})
_RETRY_TOKEN_REASONS = frozenset({"TokenExpired", "InvalidToken"})


class CreatorsClient:
    """Creators API provider: ``identify`` (a ``searchItems`` per code), ``enrich`` (``getItems`` by 10).

    ``token_url`` overrides the version's token endpoint (the sandbox serves both flows). Raises
    ``ConfigurationError`` at construction when the credential version is unknown or does not serve
    the marketplace's region.
    """

    name = NAME
    identify_batch_size = 1
    enrich_batch_size = 10

    def __init__(
        self,
        *,
        http: httpx.Client,
        limiter: RateLimiter,
        credential_id: str,
        credential_secret: str,
        credential_version: str,
        partner_tag: str,
        marketplace: str = "FR",
        api_url: str = DEFAULT_API_URL,
        token_url: str | None = None,
        requests_per_second: float = 1.0,
        token_cache: TokenCache | None = None,
    ) -> None:
        self._market = get_marketplace(marketplace)
        if credential_version not in TOKEN_URLS:
            raise ConfigurationError(
                f"Unknown Creators credential version {credential_version!r}: use the version shown next "
                f"to the credential in Associates Central ({', '.join(TOKEN_URLS)}) "
                "(CODE2ASIN_CREATORS_CREDENTIAL_VERSION)."
            )
        if credential_version not in self._market.creators_region_versions:
            valid = " or ".join(self._market.creators_region_versions)
            raise ConfigurationError(
                f"Creators credential version {credential_version} does not serve {self._market.host}: "
                f"that marketplace needs a {valid} credential (CODE2ASIN_CREATORS_CREDENTIAL_VERSION)."
            )
        self._http = http
        self._limiter = limiter
        self._id = credential_id
        self._secret = credential_secret
        self._version = credential_version
        self._tag = partner_tag
        self._api_url = api_url.rstrip("/")
        self._token_url = token_url or TOKEN_URLS[credential_version]
        self._cognito = credential_version.startswith("2.")
        self._rate = requests_per_second
        self._tokens = token_cache or TokenCache()
        self._token_key = f"creators:{self._token_url}:{credential_id}"
        self.limiter_key = f"creators:{credential_id}:{self._market.code}"
        limiter.configure(self.limiter_key, requests_per_second, 1)

    # -- auth -------------------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, float]:
        if self._cognito:
            form = {
                "grant_type": "client_credentials",
                "client_id": self._id,
                "client_secret": self._secret,
                "scope": "creatorsapi/default",
            }
            payload: dict[str, Any] = {"data": form}
        else:
            body = {
                "grant_type": "client_credentials",
                "client_id": self._id,
                "client_secret": self._secret,
                "scope": "creatorsapi::default",
            }
            payload = {"json": body}
        what = "Creators token endpoint"
        response = send(self._http, "POST", self._token_url, what, billable=False, **payload)
        if response.status_code in (400, 401, 403):
            raise ConfigurationError(
                f"The Creators API token endpoint refused credential {self._id!r} (version {self._version}, "
                f"{token_error(response)}): check CODE2ASIN_CREATORS_CREDENTIAL_ID, "
                "CODE2ASIN_CREATORS_CREDENTIAL_SECRET and CODE2ASIN_CREATORS_CREDENTIAL_VERSION."
            )
        return parse_token(response, "Creators token endpoint", self._rate)

    def _authorization(self, token: str) -> str:
        return f"Bearer {token}, Version {self._version}" if self._cognito else f"Bearer {token}"

    # -- one call -----------------------------------------------------------------------------------

    def _call(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], int]:
        """POST one operation; return (status, JSON body, elapsed ms) for 200 and 404.

        Raises ``ProviderError`` (classified) or ``ConfigurationError``.
        """
        for attempt in (1, 2):
            token = self._tokens.get(self._token_key, self._fetch_token)
            self._limiter.acquire(self.limiter_key)
            started = time.perf_counter()
            response = send(
                self._http,
                "POST",
                f"{self._api_url}/catalog/v1/{operation}",
                "Creators API",
                json=body,
                headers={
                    "Authorization": self._authorization(token),
                    "Content-Type": "application/json",
                    "x-marketplace": self._market.host,
                },
            )
            elapsed = round((time.perf_counter() - started) * 1000)
            status = response.status_code
            if status >= 500:
                raise ProviderError(f"Creators API {operation} answered HTTP {status}.", ErrorType.NETWORK)
            data = json_object(response, f"Creators API {operation}")
            reason = str(data.get("reason") or "")
            if status == 401 and reason in _RETRY_TOKEN_REASONS and attempt == 1:
                self._tokens.invalidate(self._token_key, token)
                continue
            if status in (200, 404):
                return status, data, elapsed
            self._raise_for(operation, status, data, response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for(self, operation: str, status: int, data: dict[str, Any], response: httpx.Response) -> None:
        reason = str(data.get("reason") or "")
        message = str(data.get("message") or data.get("type") or f"HTTP {status}")
        if status == 429:
            delay = retry_after(response, data.get("retryAfterSeconds"), 1.0 / self._rate)
            self._limiter.penalise(self.limiter_key, delay)
            log.warning("creators.throttled", extra={"operation": operation, "retry_after": delay})
            raise ProviderError(
                f"Creators API {operation} throttled (HTTP 429): {message}", ErrorType.API_RATE_LIMIT, delay
            )
        if status == 400 and reason in ("InvalidPartnerTag", "InvalidAssociate"):
            raise ConfigurationError(
                f"The Creators API refused the partner tag {self._tag!r} for {self._market.host}: use a "
                "tracking ID of your store on that marketplace (CODE2ASIN_CREATORS_PARTNER_TAG, or for "
                f'another marketplace its store in CODE2ASIN_CREATORS_STORES, e.g. {{"{self._market.code}": '
                '{"partner_tag": "mystore-21"}}).'
            )
        if status == 401:
            raise ConfigurationError(
                f"The Creators API refused the token of credential {self._id!r} ({reason or message}): "
                f"check that CODE2ASIN_CREATORS_CREDENTIAL_VERSION ({self._version}) matches the credential."
            )
        if status == 403:
            if reason == "AssociateNotEligible":
                raise ConfigurationError(
                    f"The Associates store of partner tag {self._tag!r} is not eligible for the Creators API "
                    f"on {self._market.host} (it needs 10 qualified sales in the last 30 days): use another "
                    "provider or other credentials (CODE2ASIN_CREATORS_CREDENTIAL_ID)."
                )
            raise ConfigurationError(
                f"The Creators API denied access to credential {self._id!r} on {self._market.host} "
                f"({reason or message}): check CODE2ASIN_CREATORS_CREDENTIAL_ID and the store's registration."
            )
        if status == 400:
            raise ProviderError(
                f"Creators API {operation} rejected the request: {message}", ErrorType.INVALID_DATA
            )
        raise ProviderError(f"Creators API {operation} answered HTTP {status}: {message}", ErrorType.UNKNOWN)

    # -- identify / enrich ---------------------------------------------------------------------------

    def identify(self, codes: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        """One ``searchItems`` per code; a 404 is an empty outcome. Raises ``ConfigurationError``."""
        return {code.gtin: self._search(code) for code in codes}

    def _search(self, code: LookupCode) -> LookupOutcome:
        body = {
            "keywords": code.code,
            "searchIndex": "Books" if code.code_type in ISBN_TYPES else "All",
            "itemCount": 10,
            "partnerTag": self._tag,
            "resources": list(RESOURCES),
        }
        try:
            status, data, elapsed = self._call("searchItems", body)
        except ConfigurationError:
            raise
        except ProviderError as error:
            return LookupOutcome(error=error, api_response={"error": str(error)})
        if status == 404:
            return LookupOutcome(
                api_response={"status": 404, "message": data.get("message")}, elapsed_ms=elapsed
            )
        result = data.get("searchResult")
        items = dicts(result.get("items") if isinstance(result, dict) else None)
        candidates = [to_candidate(item) for item in items if item.get("asin")]
        trimmed = {"status": status, "items": [trim_item(item) for item in items]}
        return LookupOutcome(candidates=candidates, api_response=trimmed, elapsed_ms=elapsed)

    def search_title(self, query: TitleQuery) -> list[Candidate]:
        """One ``searchItems`` with ``keywords`` = the title and ``brand`` when known (10 items, the
        resources ``identify`` asks for): candidates in Amazon's order; a 404 (no hit) is ``[]``.

        Raises ``ProviderError`` (classified as in ``identify``) or ``ConfigurationError``.
        """
        body: dict[str, Any] = {
            "keywords": query.title,
            "searchIndex": "All",
            "itemCount": 10,
            "partnerTag": self._tag,
            "resources": list(RESOURCES),
        }
        if query.brand:
            body["brand"] = query.brand
        status, data, _ = self._call("searchItems", body)
        if status == 404:
            return []
        result = data.get("searchResult")
        items = dicts(result.get("items") if isinstance(result, dict) else None)
        return [to_candidate(item) for item in items if item.get("asin")]

    def enrich(self, asins: Sequence[str]) -> dict[str, Candidate | ProviderError]:
        """``getItems`` by 10; a requested ASIN missing from the answer gets ``invalid_data``."""
        out: dict[str, Candidate | ProviderError] = {}
        unique = list(dict.fromkeys(asins))
        for start in range(0, len(unique), self.enrich_batch_size):
            out.update(self._get_items(unique[start : start + self.enrich_batch_size]))
        return out

    def _get_items(self, asins: list[str]) -> dict[str, Candidate | ProviderError]:
        body = {"itemIds": asins, "itemIdType": "ASIN", "partnerTag": self._tag, "resources": list(RESOURCES)}
        try:
            status, data, _ = self._call("getItems", body)
        except ConfigurationError:
            raise
        except ProviderError as error:
            return dict.fromkeys(asins, error)
        result = data.get("itemsResult") or data.get("itemResults")
        items = dicts(result.get("items") if isinstance(result, dict) else None) if status == 200 else []
        found = {str(item["asin"]).upper(): to_candidate(item) for item in items if item.get("asin")}
        messages = [str(e.get("message") or e.get("code")) for e in dicts(data.get("errors"))]
        out: dict[str, Candidate | ProviderError] = {}
        for asin in asins:
            if asin.upper() in found:
                out[asin] = found[asin.upper()]
                continue
            why = next((m for m in messages if asin in m), None) or str(data.get("message") or "not returned")
            out[asin] = ProviderError(f"Creators getItems has no item {asin}: {why}", ErrorType.INVALID_DATA)
        return out

