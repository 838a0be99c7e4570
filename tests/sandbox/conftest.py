"""Fixtures for the sandbox tests: a running sandbox and token helpers, all over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from code2asin.sandbox.sample_codes import example_codes
from code2asin.sandbox.server import (
    DEFAULT_CREDENTIAL_ID,
    DEFAULT_CREDENTIAL_SECRET,
    DEFAULT_LWA_CLIENT_ID,
    DEFAULT_LWA_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    SandboxServer,
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as http:
        yield http


@pytest.fixture(scope="session")
def examples() -> dict[str, list[str]]:
    return example_codes()


def cognito_token(http: httpx.Client, credential_id: str = DEFAULT_CREDENTIAL_ID) -> str:
    response = http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credential_id,
            "client_secret": DEFAULT_CREDENTIAL_SECRET,
            "scope": "creatorsapi/default",
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def lwa_creators_token(http: httpx.Client) -> str:
    response = http.post(
        "/auth/o2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CREDENTIAL_ID,
            "client_secret": DEFAULT_CREDENTIAL_SECRET,
            "scope": "creatorsapi::default",
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def spapi_token(http: httpx.Client, refresh_token: str = DEFAULT_REFRESH_TOKEN) -> str:
    response = http.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": DEFAULT_LWA_CLIENT_ID,
            "client_secret": DEFAULT_LWA_CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def creators_headers(client: httpx.Client) -> Callable[..., dict[str, str]]:
    """Headers of a Creators call with a fresh Cognito 2.2 token (or LwA 3.2 with ``lwa=True``)."""

    def make(
        marketplace: str = "www.amazon.fr", *, lwa: bool = False, version: str = "2.2"
    ) -> dict[str, str]:
        if lwa:
            return {"Authorization": f"Bearer {lwa_creators_token(client)}", "x-marketplace": marketplace}
        token = cognito_token(client)
        return {"Authorization": f"Bearer {token}, Version {version}", "x-marketplace": marketplace}

    return make


@pytest.fixture
def spapi_headers(client: httpx.Client) -> dict[str, str]:
    return {"x-amz-access-token": spapi_token(client)}
