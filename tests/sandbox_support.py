"""Pointing the real provider clients at a running sandbox, with pacing lifted, for tests."""

from __future__ import annotations

from collections import Counter

from code2asin.config import Settings
from code2asin.providers.plan import Endpoints
from code2asin.sandbox import server as sb


def endpoints_for(server: sb.SandboxServer, marketplace: str = "FR", **overrides: object) -> Endpoints:
    """The sandbox's endpoints and test credentials; our own pacing lifted (the sandbox's quotas decide)."""
    endpoints = Endpoints.for_running_sandbox(Settings(), server, marketplace)
    endpoints.creators_rate = 1000.0
    endpoints.spapi_catalog_rate = 1000.0
    endpoints.spapi_catalog_burst = 10
    endpoints.spapi_pricing_rate = 1000.0
    for name, value in overrides.items():
        setattr(endpoints, name, value)
    return endpoints


def searched_codes(server: sb.SandboxServer) -> Counter[str]:
    """How many times each code was looked up by ``searchCatalogItems``: a second page of one search
    repeats its codes and is not a second lookup."""
    return Counter(
        code
        for r in server.request_log
        if r.operation == "searchCatalogItems" and r.page_token is None
        for code in r.codes
    )
