"""Provider plans: which provider identifies codes and which ones enrich the chosen ASINs.

A plan is written as stages joined by ``+``; the first stage identifies, the others enrich in order:

* ``creators``: ``searchItems`` per code (title, brand, offer, images and rank come with the search);
* ``spapi``: ``searchCatalogItems`` by 20 codes, then Product Pricing by 20 ASINs for prices;
* ``spapi+creators``: identify with SP-API, enrich with Creators ``getItems`` (10 ASINs per call);
* ``creators+spapi``: identify with Creators, prices from SP-API Product Pricing;
* ``keepa``: Keepa alone, 100 codes per call (title, brand, price, images, rank, rating and reviews);
* ``spapi+creators+keepa`` (or any plan ending in ``+keepa``): Keepa enriches by 100 ASINs per call and
  fills what the earlier stages left empty, notably ``rating`` and ``review_count``;
* ``sandbox``: ``spapi+creators+keepa`` against a sandbox started on a free loopback port for the run
  (``spapi+creators`` on a marketplace Keepa does not serve). The sandbox run has no quotas, so the Keepa
  stage costs one local call per 100 ASINs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import httpx

from code2asin.config import CreatorsStore, Settings
from code2asin.errors import ConfigurationError
from code2asin.providers.base import EnrichProvider, IdentifyProvider, TitleSearchProvider
from code2asin.providers.creators import DEFAULT_API_URL as CREATORS_API_URL
from code2asin.providers.creators import CreatorsClient
from code2asin.providers.keepa import DEFAULT_API_URL as KEEPA_API_URL
from code2asin.providers.keepa import IMAGE_BASE_URL as KEEPA_IMAGE_URL
from code2asin.providers.keepa import KeepaClient
from code2asin.providers.marketplaces import get_marketplace
from code2asin.providers.ratelimit import RateLimiter, create_limiter
from code2asin.providers.spapi import SpapiClient, SpapiPricing
from code2asin.providers.stages import Plan, parse_plan

if TYPE_CHECKING:
    from code2asin.sandbox.server import SandboxServer

HTTP_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=30.0)


@dataclass
class Endpoints:
    """Where the providers are and which credentials they use (from settings, or a sandbox)."""

    creators_api_url: str
    creators_token_url: str | None
    creators_id: str | None
    creators_secret: str | None
    creators_version: str
    partner_tag: str | None
    creators_rate: float
    spapi_api_url: str | None
    spapi_token_url: str
    spapi_client_id: str | None
    spapi_client_secret: str | None
    spapi_refresh_token: str | None
    spapi_catalog_rate: float
    spapi_catalog_burst: int
    spapi_pricing_rate: float
    keepa_api_key: str | None = None
    keepa_api_url: str = KEEPA_API_URL
    #: where Keepa's image file names live (Amazon's CDN; the sandbox serves its own)
    keepa_image_url: str = KEEPA_IMAGE_URL
    on_close: list[Callable[[], None]] = field(default_factory=list)
    #: image hosts to trust for this plan (the sandbox's CDN is plain http on loopback)
    image_hosts: list[str] = field(default_factory=list)
    #: other marketplaces' Associates stores (``CODE2ASIN_CREATORS_STORES``); see ``for_marketplace``
    creators_stores: dict[str, CreatorsStore] = field(default_factory=dict)

    def for_marketplace(self, marketplace: str) -> Endpoints:
        """These endpoints with the Creators credential and tag of ``marketplace``'s own store, when one
        is configured (each field it leaves unset keeps the default store's)."""
        store = self.creators_stores.get(get_marketplace(marketplace).code)
        if store is None:
            return self
        secret = store.credential_secret.get_secret_value() if store.credential_secret else None
        return replace(
            self,
            creators_id=store.credential_id or self.creators_id,
            creators_secret=secret or self.creators_secret,
            creators_version=store.credential_version or self.creators_version,
            partner_tag=store.partner_tag or self.partner_tag,
            creators_token_url=store.token_url or self.creators_token_url,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Endpoints:
        c, s, k = settings.creators, settings.spapi, settings.keepa
        return cls(
            creators_api_url=c.api_url,
            creators_token_url=c.token_url or None,
            creators_id=c.credential_id or None,
            creators_secret=c.credential_secret.get_secret_value() if c.credential_secret else None,
            creators_version=c.credential_version,
            partner_tag=c.partner_tag or None,
            creators_rate=c.requests_per_second,
            spapi_api_url=s.api_url or None,
            spapi_token_url=s.token_url,
            spapi_client_id=s.client_id or None,
            spapi_client_secret=s.client_secret.get_secret_value() if s.client_secret else None,
            spapi_refresh_token=s.refresh_token.get_secret_value() if s.refresh_token else None,
            spapi_catalog_rate=s.catalog_requests_per_second,
            spapi_catalog_burst=s.catalog_burst,
            spapi_pricing_rate=s.pricing_requests_per_second,
            keepa_api_key=k.api_key.get_secret_value() if k.api_key else None,
            keepa_api_url=k.api_url,
            creators_stores=dict(c.stores),
        )

    @classmethod
    def sandbox(cls, settings: Settings, marketplace: str) -> Endpoints:
        """Start an in-process sandbox on a free loopback port, with Amazon's default quotas."""
        from code2asin.sandbox import server as sandbox

        running = sandbox.SandboxServer("127.0.0.1", 0).start()
        endpoints = cls.for_running_sandbox(settings, running, marketplace)
        endpoints.creators_stores = {}  # the demo's sandbox knows its own test credentials only
        endpoints.on_close.append(running.stop)
        return endpoints

    @classmethod
    def for_running_sandbox(cls, settings: Settings, running: SandboxServer, marketplace: str) -> Endpoints:
        """Every provider pointed at ``running`` with the sandbox's test credentials."""
        from code2asin.sandbox import server as sandbox

        endpoints = cls.from_settings(settings)
        endpoints.creators_api_url = running.base_url
        endpoints.creators_token_url = running.cognito_token_url
        endpoints.creators_id = sandbox.DEFAULT_CREDENTIAL_ID
        endpoints.creators_secret = sandbox.DEFAULT_CREDENTIAL_SECRET
        endpoints.creators_version = _sandbox_version(marketplace)
        endpoints.partner_tag = sandbox.DEFAULT_PARTNER_TAG
        endpoints.spapi_api_url = running.base_url
        endpoints.spapi_token_url = running.lwa_token_url
        endpoints.spapi_client_id = sandbox.DEFAULT_LWA_CLIENT_ID
        endpoints.spapi_client_secret = sandbox.DEFAULT_LWA_CLIENT_SECRET
        endpoints.spapi_refresh_token = sandbox.DEFAULT_REFRESH_TOKEN
        endpoints.keepa_api_key = sandbox.DEFAULT_KEEPA_KEY
        endpoints.keepa_api_url = running.base_url
        endpoints.keepa_image_url = f"{running.base_url}/images/I/"
        endpoints.image_hosts.append(f"{running.host}:{running.port}")
        return endpoints


def _sandbox_version(marketplace: str) -> str:
    return get_marketplace(marketplace).creators_region_versions[0]


#: provider -> (what it does as the identify stage, what it does as an enrich stage)
STAGE_ROLES = {
    "creators": (
        "identify: searchItems, one code per call; ASIN, title, brand, buy-box price, images, rank, link",
        "enrich: getItems, 10 ASINs per call; buy-box price and availability, images, the partner-tagged "
        "link, and any field the stages before it left empty",
    ),
    "spapi": (
        "identify: Catalog Items searchCatalogItems, 20 codes per call; ASIN, title, brand, images, rank, "
        "identifiers",
        "enrich: Product Pricing getCompetitivePricing, 20 ASINs per call; prices",
    ),
    "keepa": (
        "identify: /product, 100 codes per call; ASIN, title, brand, current price, rank, rating, "
        "review count, images",
        "enrich: /product by ASIN, 100 per call; rating and review count, price and rank where missing",
    ),
}


def describe_plan(plan: str) -> list[dict[str, str]]:
    """What each stage of ``plan`` does, in order: ``[{"provider", "stage", "role"}]`` (stage: identify,
    enrich or direct).

    A field of a result comes from the first stage that filled it (``JobItem.field_sources`` says which).
    """
    try:
        stages = parse_plan(plan)
    except ConfigurationError:
        role = "direct import of (code, ASIN) pairs; no provider called"
        return [{"provider": plan, "stage": "direct", "role": role}]
    described = [{"provider": stages[0], "stage": "identify", "role": STAGE_ROLES[stages[0]][0]}]
    described += [{"provider": s, "stage": "enrich", "role": STAGE_ROLES[s][1]} for s in stages[1:]]
    if stages == ["spapi"]:
        described.append({"provider": "spapi", "stage": "enrich", "role": STAGE_ROLES["spapi"][1]})
    return described


def _creators(
    endpoints: Endpoints, marketplace: str, http: httpx.Client, limiter: RateLimiter
) -> CreatorsClient:
    missing = [
        name
        for name, value in (
            ("CODE2ASIN_CREATORS_CREDENTIAL_ID", endpoints.creators_id),
            ("CODE2ASIN_CREATORS_CREDENTIAL_SECRET", endpoints.creators_secret),
            ("CODE2ASIN_CREATORS_PARTNER_TAG", endpoints.partner_tag),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(
            f"The Creators API plan needs {', '.join(missing)}: set them (see .env.example)."
        )
    assert endpoints.creators_id and endpoints.creators_secret and endpoints.partner_tag
    return CreatorsClient(
        http=http,
        limiter=limiter,
        credential_id=endpoints.creators_id,
        credential_secret=endpoints.creators_secret,
        credential_version=endpoints.creators_version,
        partner_tag=endpoints.partner_tag,
        marketplace=marketplace,
        api_url=endpoints.creators_api_url,
        token_url=endpoints.creators_token_url,
        requests_per_second=endpoints.creators_rate,
    )


def _spapi(endpoints: Endpoints, marketplace: str, http: httpx.Client, limiter: RateLimiter) -> SpapiClient:
    missing = [
        name
        for name, value in (
            ("CODE2ASIN_SPAPI_CLIENT_ID", endpoints.spapi_client_id),
            ("CODE2ASIN_SPAPI_CLIENT_SECRET", endpoints.spapi_client_secret),
            ("CODE2ASIN_SPAPI_REFRESH_TOKEN", endpoints.spapi_refresh_token),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(f"The SP-API plan needs {', '.join(missing)}: set them (see .env.example).")
    assert endpoints.spapi_client_id and endpoints.spapi_client_secret and endpoints.spapi_refresh_token
    return SpapiClient(
        http=http,
        limiter=limiter,
        client_id=endpoints.spapi_client_id,
        client_secret=endpoints.spapi_client_secret,
        refresh_token=endpoints.spapi_refresh_token,
        marketplace=marketplace,
        api_url=endpoints.spapi_api_url,
        token_url=endpoints.spapi_token_url,
        catalog_rate=endpoints.spapi_catalog_rate,
        catalog_burst=endpoints.spapi_catalog_burst,
        pricing_rate=endpoints.spapi_pricing_rate,
    )


def _keepa(endpoints: Endpoints, marketplace: str, http: httpx.Client, limiter: RateLimiter) -> KeepaClient:
    if not endpoints.keepa_api_key:
        raise ConfigurationError("The Keepa plan needs CODE2ASIN_KEEPA_API_KEY: set it (see .env.example).")
    return KeepaClient(
        http=http,
        api_key=endpoints.keepa_api_key,
        marketplace=marketplace,
        api_url=endpoints.keepa_api_url,
        limiter=limiter,
        image_base_url=endpoints.keepa_image_url,
    )


def build_plan(
    settings: Settings,
    plan: str,
    marketplace: str,
    *,
    endpoints: Endpoints | None = None,
    limiter: RateLimiter | None = None,
) -> Plan:
    """Build the providers of ``plan`` for ``marketplace``; ``Plan.close`` releases them.

    Raises ``ConfigurationError`` (one sentence) for an unknown plan or missing credentials.
    """
    stages = parse_plan(plan)
    is_sandbox = plan.strip().lower() == "sandbox"
    if is_sandbox and get_marketplace(marketplace).keepa_domain_id is None:
        stages.remove("keepa")  # the demo still runs on a marketplace Keepa does not serve
    if endpoints is None:
        if is_sandbox:
            endpoints = Endpoints.sandbox(settings, marketplace)
        else:
            endpoints = Endpoints.from_settings(settings)
    endpoints = endpoints.for_marketplace(marketplace)
    http = httpx.Client(timeout=HTTP_TIMEOUT, headers={"User-Agent": "code2asin/0.1"})
    limiter = limiter or create_limiter(settings.broker_url)
    closers = [http.close, *endpoints.on_close]

    def close() -> None:
        for closer in closers:
            closer()

    try:
        clients: dict[str, CreatorsClient | SpapiClient | KeepaClient] = {}
        for stage in stages:
            if stage == "creators":
                clients[stage] = _creators(endpoints, marketplace, http, limiter)
            elif stage == "keepa":
                clients[stage] = _keepa(endpoints, marketplace, http, limiter)
            else:
                clients[stage] = _spapi(endpoints, marketplace, http, limiter)
        first = clients[stages[0]]
        identify: IdentifyProvider = first
        enrich: list[EnrichProvider] = []
        for stage in stages[1:]:
            client = clients[stage]
            enrich.append(SpapiPricing(client) if isinstance(client, SpapiClient) else client)
        if stages == ["spapi"]:
            assert isinstance(first, SpapiClient)
            enrich.append(SpapiPricing(first))
    except BaseException:
        close()
        raise
    return Plan(
        name=plan,
        identify=identify,
        enrich=enrich,
        close=close,
        image_hosts=tuple(endpoints.image_hosts),
        cache_scopes=cache_scopes(endpoints),
        title_search=next(
            (c for c in (clients[s] for s in stages) if isinstance(c, TitleSearchProvider)), None
        ),
    )


def cache_scopes(endpoints: Endpoints) -> dict[str, str]:
    """Provider -> a short tag of its base URL, for providers not at Amazon's (or Keepa's) own address.

    Cached answers hold URLs of the server that gave them (a sandbox's images on its port of the day):
    answers of another server must not be served as this one's, so the lookup cache keys them apart.
    """
    urls = {
        "creators": (endpoints.creators_api_url, CREATORS_API_URL),
        "spapi": (endpoints.spapi_api_url, None),
        "keepa": (endpoints.keepa_api_url, KEEPA_API_URL),
    }
    scopes: dict[str, str] = {}
    for name, (url, default) in urls.items():
        if url and url.rstrip("/") != (default or "").rstrip("/") and not _is_amazon_region(url):
            scopes[name] = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:12]
    return scopes


def _is_amazon_region(url: str) -> bool:
    return bool(re.fullmatch(r"https://sellingpartnerapi(-[a-z]{2})?\.amazon\.com/?", url))


def build_plans(
    settings: Settings, plan: str, marketplaces: Sequence[str], *, limiter: RateLimiter | None = None
) -> dict[str, Plan]:
    """``build_plan`` for each of ``marketplaces``, sharing one limiter (and, for the ``sandbox`` plan, one
    in-process sandbox), so quotas shared across marketplaces (an SP-API region, a Keepa key) are paced
    once. The caller closes every plan; a failure closes those already built and raises.
    """
    limiter = limiter or create_limiter(settings.broker_url)
    running: SandboxServer | None = None
    if plan.strip().lower() == "sandbox":
        from code2asin.sandbox import server as sandbox

        running = sandbox.SandboxServer("127.0.0.1", 0).start()
    plans: dict[str, Plan] = {}
    try:
        for marketplace in marketplaces:
            endpoints = None
            if running is not None:
                endpoints = Endpoints.for_running_sandbox(settings, running, marketplace)
                endpoints.creators_stores = {}  # the demo's sandbox knows its own test credentials only
                if not plans:
                    endpoints.on_close.append(running.stop)
            plans[marketplace] = build_plan(settings, plan, marketplace, endpoints=endpoints, limiter=limiter)
    except BaseException:
        for built in plans.values():
            built.close()
        if running is not None and not plans:
            running.stop()
        raise
    return plans
