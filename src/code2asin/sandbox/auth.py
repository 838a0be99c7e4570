"""Token endpoints of the sandbox: Cognito (Creators 2.x), LwA (Creators 3.x and SP-API refresh grant)."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from code2asin.sandbox.common import ApiError, Reply, Request

TOKEN_LIFETIME_S = 3600
COGNITO_SCOPE = "creatorsapi/default"
LWA_SCOPE = "creatorsapi::default"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Everything the sandbox accepts as valid credentials."""

    creators: dict[str, str]  # credential id -> secret (eligible and ineligible ones)
    lwa_client_id: str
    lwa_client_secret: str
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    family: str  # cognito | lwa | spapi
    credential: str
    expires_at: float


class TokenStore:
    """Access tokens handed out, with their family and expiry (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}

    def issue(self, family: str, credential: str, lifetime: float = TOKEN_LIFETIME_S) -> Token:
        prefix = {"cognito": "eyJraWQiOi", "lwa": "Atc|MQIC", "spapi": "Atza|IwEB"}[family]
        token = Token(prefix + secrets.token_urlsafe(32), family, credential, time.time() + lifetime)
        with self._lock:
            self._tokens[token.value] = token
        return token

    def get(self, value: str) -> Token | None:
        with self._lock:
            return self._tokens.get(value)

    def expire_all(self) -> None:
        """Make every token handed out so far expired (to test refresh paths)."""
        with self._lock:
            self._tokens = {k: Token(t.value, t.family, t.credential, 0.0) for k, t in self._tokens.items()}


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    return ApiError(status, {"error": error, "error_description": description})


def _form(request: Request) -> dict[str, str]:
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    parsed = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.header("Authorization") or ""
    if not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _oauth_error(400, "invalid_request", "Malformed Basic authorization header") from None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def cognito_token(request: Request, creds: Credentials, store: TokenStore) -> Reply:
    """``POST /oauth2/token``: Cognito client-credentials grant (Creators API 2.x)."""
    form = _form(request)
    basic = _basic(request)
    client_id, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret", ""))
    request.log_credential = client_id or None
    if form.get("grant_type") != "client_credentials":
        raise _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if not client_id or creds.creators.get(client_id) != secret:
        raise _oauth_error(400, "invalid_client", "Client authentication failed")
    if form.get("scope", COGNITO_SCOPE) != COGNITO_SCOPE:
        raise _oauth_error(400, "invalid_scope", f"Invalid scope; expected {COGNITO_SCOPE}")
    token = store.issue("cognito", client_id)
    return Reply(200, {"access_token": token.value, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"})


def lwa_token(request: Request, creds: Credentials, store: TokenStore) -> Reply:
    """``POST /auth/o2/token``: LwA client credentials (Creators 3.x, JSON) or refresh token (SP-API)."""
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            raw = request.json_body()
        except ValueError:
            raise _oauth_error(400, "invalid_request", "Malformed JSON body") from None
        if not isinstance(raw, dict):
            raise _oauth_error(400, "invalid_request", "Body must be a JSON object")
        fields = {str(k): str(v) for k, v in raw.items()}
    else:
        fields = _form(request)
    basic = _basic(request)
    client_id, secret = basic if basic else (fields.get("client_id", ""), fields.get("client_secret", ""))
    request.log_credential = client_id or None
    grant = fields.get("grant_type")
    if grant == "client_credentials":
        if not client_id or creds.creators.get(client_id) != secret:
            raise _oauth_error(401, "invalid_client", "Client authentication failed")
        if fields.get("scope") != LWA_SCOPE:
            raise _oauth_error(400, "invalid_scope", f"An unknown scope was requested; expected {LWA_SCOPE}")
        token = store.issue("lwa", client_id)
        body = {"access_token": token.value, "scope": LWA_SCOPE, "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME_S}
        return Reply(200, body)
    if grant == "refresh_token":
        if client_id != creds.lwa_client_id or secret != creds.lwa_client_secret:
            raise _oauth_error(401, "invalid_client", "Client authentication failed")
        if fields.get("refresh_token") != creds.refresh_token:
            message = "The request has an invalid grant parameter : refresh_token"
            raise _oauth_error(400, "invalid_grant", message)
        token = store.issue("spapi", client_id)
        body = {"access_token": token.value, "refresh_token": creds.refresh_token, "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME_S}
        return Reply(200, body)
    raise _oauth_error(400, "unsupported_grant_type", "The authorization grant type is not supported")
