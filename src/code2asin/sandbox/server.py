"""The sandbox HTTP server: a local simulator of Amazon over real HTTP (standard library only).

Endpoints (Amazon's own paths; point a client's base URL / token URL at ``SandboxServer.base_url``):

* ``POST /oauth2/token``: Cognito client credentials (Creators API 2.x)
* ``POST /auth/o2/token``: LwA client credentials (Creators 3.x, JSON) and refresh-token grant (SP-API)
* ``POST /catalog/v1/searchItems``, ``POST /catalog/v1/getItems``: Creators API
* ``GET /catalog/2022-04-01/items``: SP-API Catalog Items ``searchCatalogItems``
* ``GET /products/pricing/v0/competitivePrice``: SP-API Pricing v0 ``getCompetitivePricing``
* ``GET /images/I/<id>[._SL<n>_].jpg``: image CDN serving real JPEGs
* ``GET /product``, ``GET /search``, ``GET /token``: Keepa (``key=`` query parameter, token bucket per key;
  see ``keepa`` and ``keepa_search``)
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from code2asin.sandbox import auth, creators, keepa, keepa_search, listings, prices, spapi
from code2asin.sandbox.common import (
    ApiError,
    LoggedRequest,
    QuotaBuckets,
    Reply,
    Request,
    SandboxQuotas,
    creators_error,
    spapi_error,
)
from code2asin.sandbox.encoding import is_image_id, stable_hash
from code2asin.sandbox.jpeg import make_jpeg

__all__ = [
    "DEFAULT_CREDENTIAL_ID", "DEFAULT_CREDENTIAL_SECRET", "DEFAULT_KEEPA_KEY", "DEFAULT_LWA_CLIENT_ID",
    "DEFAULT_LWA_CLIENT_SECRET", "DEFAULT_PARTNER_TAG", "DEFAULT_REFRESH_TOKEN", "EXPIRED_KEEPA_KEY",
    "FAULT_KINDS", "INELIGIBLE_CREDENTIAL_ID", "OPERATIONS", "LoggedRequest", "SandboxQuotas",
    "SandboxServer", "main",
]

DEFAULT_CREDENTIAL_ID = "sandbox-credential-id"
DEFAULT_CREDENTIAL_SECRET = "sandbox-credential-secret"
INELIGIBLE_CREDENTIAL_ID = "sandbox-ineligible-credential-id"
DEFAULT_PARTNER_TAG = "code2asin-21"
DEFAULT_LWA_CLIENT_ID = "amzn1.application-oa2-client.sandbox"
DEFAULT_LWA_CLIENT_SECRET = "amzn1.oa2-cs.v1.sandbox-secret"
DEFAULT_REFRESH_TOKEN = "Atzr|sandbox-refresh-token"
#: Keepa access keys: a working one, and one whose subscription ran out (402 PAYMENT_REQUIRED)
DEFAULT_KEEPA_KEY = "sandbox-keepa-key"
EXPIRED_KEEPA_KEY = "sandbox-keepa-expired-key"
FAULT_KINDS = frozenset({"500", "503", "timeout", "malformed_json", "429"})
OPERATIONS = frozenset({"token", "searchItems", "getItems", "searchCatalogItems", "getCompetitivePricing",
                        "image", "keepaProduct", "keepaSearch", "keepaToken"})
_IMAGE_RE = re.compile(r"^/images/I/([0-9A-Za-z]{11})(?:\._S[LXY](\d{1,4})_)?\.jpg$")
_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/oauth2/token"): "token",
    ("POST", "/auth/o2/token"): "token",
    ("POST", "/catalog/v1/searchItems"): "searchItems",
    ("POST", "/catalog/v1/getItems"): "getItems",
    ("GET", "/catalog/2022-04-01/items"): "searchCatalogItems",
    ("GET", "/products/pricing/v0/competitivePrice"): "getCompetitivePricing",
    # Keepa; the ``keepa`` PyPI client asks for ``/product/?...`` with a trailing slash
    ("GET", "/product"): "keepaProduct",
    ("GET", "/product/"): "keepaProduct",
    ("GET", "/search"): "keepaSearch",
    ("GET", "/search/"): "keepaSearch",
    ("GET", "/token"): "keepaToken",
    ("GET", "/token/"): "keepaToken",
    ("POST", prices.CONTROL_PATH): "sandboxPrices",  # sandbox-only control (sandbox.prices)
}
_KEEPA_OPS = frozenset({"keepaProduct", "keepaSearch", "keepaToken"})
_SPAPI_OPS = {"searchCatalogItems": "catalog", "getCompetitivePricing": "pricing"}


class SandboxServer:
    """Amazon simulator on a background thread. Use as a context manager or ``start()``/``stop()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credential_id: str = DEFAULT_CREDENTIAL_ID,
        credential_secret: str = DEFAULT_CREDENTIAL_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        partner_tag: str | Iterable[str] = DEFAULT_PARTNER_TAG,
        latency_ms: float = 0,
        quotas: SandboxQuotas | None = None,
        lwa_client_id: str = DEFAULT_LWA_CLIENT_ID,
        lwa_client_secret: str = DEFAULT_LWA_CLIENT_SECRET,
        ineligible_credential_id: str = INELIGIBLE_CREDENTIAL_ID,
        get_items_result_key: str = "itemsResult",
        fault_timeout_s: float = 30.0,
        keepa_key: str | Iterable[str] = DEFAULT_KEEPA_KEY,
        expired_keepa_key: str = EXPIRED_KEEPA_KEY,
        store_tags: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.latency_ms = latency_ms
        self.fault_timeout_s = fault_timeout_s
        self.get_items_result_key = get_items_result_key
        tags = frozenset([partner_tag] if isinstance(partner_tag, str) else partner_tag)
        self._partner_tags = tags
        #: a marketplace listed here is a store of its own: only its tag passes there (real Amazon refuses
        #: another store's tracking ID with InvalidPartnerTag)
        self._store_tags = tuple(
            (listings.marketplace_code(market), frozenset([tag]))
            for market, tag in (store_tags or {}).items()
        )
        self._ineligible = frozenset({ineligible_credential_id})
        self.credentials = auth.Credentials(
            creators={credential_id: credential_secret, ineligible_credential_id: credential_secret},
            lwa_client_id=lwa_client_id, lwa_client_secret=lwa_client_secret, refresh_token=refresh_token,
        )
        self.tokens = auth.TokenStore()
        self.quotas = QuotaBuckets(quotas)
        keepa_keys = frozenset([keepa_key] if isinstance(keepa_key, str) else keepa_key)
        self.keepa_keys = keepa.KeepaKeys(keepa_keys, frozenset({expired_keepa_key}))
        self.keepa_tokens = keepa.KeepaTokens(self.quotas.quotas)
        self.price_book = prices.PriceBook()
        self._log: list[LoggedRequest] = []
        self._faults: dict[str | None, deque[str]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def cognito_token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    @property
    def lwa_token_url(self) -> str:
        return f"{self.base_url}/auth/o2/token"

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="code2asin-sandbox",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- observation and control ---------------------------------------------------------------------------

    @property
    def request_log(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def inject_faults(self, operation: str | None, kind: str, count: int = 1) -> None:
        """Make the next ``count`` calls of ``operation`` (None: any API operation) fail with ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {sorted(OPERATIONS)}")
        with self._lock:
            self._faults.setdefault(operation, deque()).extend([kind] * count)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def expire_tokens(self) -> None:
        """Expire every access token handed out so far (clients must fetch a new one)."""
        self.tokens.expire_all()

    # --- request handling (called from handler threads) ----------------------------------------------------

    def _take_fault(self, operation: str) -> str | None:
        with self._lock:
            for key in (operation, None):
                if key is None and operation in {"token", "image", "keepaToken", "sandboxPrices"}:
                    continue
                queue = self._faults.get(key)
                if queue:
                    return queue.popleft()
        return None

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _config(self) -> creators.CreatorsConfig:
        return creators.CreatorsConfig(self._partner_tags, self._ineligible, self.base_url,
                                       self.get_items_result_key, self._store_tags)

    def _dispatch(self, operation: str, request: Request) -> Reply:
        if operation == "token":
            try:
                if request.path == "/oauth2/token":
                    reply = auth.cognito_token(request, self.credentials, self.tokens)
                else:
                    reply = auth.lwa_token(request, self.credentials, self.tokens)
            except ApiError as error:
                error.reply.headers["Connection"] = "close"
                raise
            # token clients are one-shot: closing spares them a pooled socket they never close
            reply.headers["Connection"] = "close"
            return reply
        if operation == "image":
            return _image(request.path)
        if operation in {"searchItems", "getItems"}:
            token, marketplace = creators.authenticate(request, self.tokens)
            config = self._config()
            creators.check_eligible(token, config)
            # one Associates store per marketplace: a credential's quota is per marketplace
            if not self.quotas.take(f"{token.credential}@{marketplace.host}", "creators"):
                raise creators.throttled()
            handler = creators.search_items if operation == "searchItems" else creators.get_items
            return Reply(200, handler(request, config, marketplace))
        family = _SPAPI_OPS[operation]
        rate = self.quotas.quotas.plan(family)[0]
        if rate == float("inf"):
            rate = SandboxQuotas().plan(family)[0]  # Amazon always reports a plan
        headers = {"x-amzn-RateLimit-Limit": str(rate)}
        try:
            token = spapi.authenticate(request, self.tokens)
            # usage plans are per application and region (separate infrastructure)
            if not self.quotas.take(f"{token.credential}@{spapi.quota_region(request)}", family):
                raise spapi.throttled()
            if operation == "searchCatalogItems":
                body = spapi.search_catalog_items(request, self.base_url)
            else:
                body = spapi.competitive_pricing(request)
        except ApiError as error:
            error.reply.headers.update(headers)
            raise
        return Reply(200, body, headers)

    def _answer(self, operation: str, request: Request) -> Reply:
        if operation == "keepaProduct":
            return keepa.product(request, self.keepa_tokens, self.keepa_keys)
        if operation == "keepaSearch":
            return keepa_search.search(request, self.keepa_tokens, self.keepa_keys)
        if operation == "keepaToken":
            return keepa.token_status(request, self.keepa_tokens, self.keepa_keys)
        if operation == "sandboxPrices":
            return prices.control(request, self.price_book)
        return self._dispatch(operation, request)

    def _fault(self, operation: str, kind: str) -> Reply | None:
        if operation not in _KEEPA_OPS or kind in {"timeout", "malformed_json"}:
            return self._fault_reply(operation, kind)
        if kind == "429":
            return keepa.not_enough_tokens(keepa.TokenStatus(0, 60_000, self.keepa_tokens.rate)).reply
        return keepa.keepa_error(int(kind), "INTERNAL_SERVER_ERROR", "Internal server error.").reply

    def _fault_reply(self, operation: str, kind: str) -> Reply | None:
        if kind == "timeout":
            self._stopping.wait(self.fault_timeout_s)
            return None
        if kind == "malformed_json":
            return Reply(200, b'{"searchResult": {"items": [{"asin": "B0', content_type="application/json")
        spapi_op = operation in _SPAPI_OPS
        status = int(kind)
        if kind == "429":
            error = spapi.throttled() if spapi_op else creators.throttled()
            return error.reply
        if spapi_op:
            code = "InternalFailure" if kind == "500" else "ServiceUnavailable"
            return spapi_error(status, code, "We encountered an internal error. Please try again.").reply
        if operation == "token":
            return Reply(status, {"error": "server_error", "error_description": "Internal server error"})
        type_ = "InternalServerException" if kind == "500" else "ServiceUnavailableException"
        return creators_error(status, type_, "The request processing has failed because of an unknown error, "
                              "exception or failure. Please retry again.").reply


def _image(path: str) -> Reply:
    match = _IMAGE_RE.match(path)
    if not match or not is_image_id(match.group(1)):
        return Reply(404, b"Not Found", content_type="text/plain")
    image_id = match.group(1)
    side = int(match.group(2) or 1000)
    if not 1 <= side <= 2000:
        return Reply(404, b"Not Found", content_type="text/plain")
    body = make_jpeg(side, side, 60 + stable_hash("grey", image_id) % 180, f"code2asin sandbox {image_id}")
    return Reply(200, body, {"Cache-Control": "max-age=31536000", "ETag": f'"{image_id}-{side}"'},
                 content_type="image/jpeg")


def _make_handler(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Server"
        sys_version = ""
        # headers and body leave in separate writes: without this, Nagle and delayed ACK add ~40 ms a call
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            operation = _ROUTES.get((method, parts.path))
            if operation is None and method == "GET" and parts.path.startswith("/images/"):
                operation = "image"
            if operation is None:
                self._send(Reply(404, {"message": f"No route for {method} {parts.path}"}))
                return
            query = parse_qs(parts.query, keep_blank_values=True)
            request = Request(method, parts.path, query, self.headers, body)
            prices.activate(server.price_book)
            fault = server._take_fault(operation)
            reply: Reply | None
            if fault is not None:
                reply = server._fault(operation, fault)
            else:
                try:
                    reply = server._answer(operation, request)
                except ApiError as error:
                    reply = error.reply
            kind = "token" if operation == "token" else "image" if operation == "image" else "api"
            server._record(LoggedRequest(
                operation=operation, kind=kind, method=method, path=parts.path, time=time.time(),
                status=0 if reply is None else reply.status, codes=request.log_codes, asins=request.log_asins,
                marketplace=request.log_marketplace, credential=request.log_credential, fault=fault,
                page_token=next(iter(request.query.get("pageToken", ())), None), tokens=request.log_tokens,
            ))
            # The latency is served after the answer is made, so the quota bucket sees each request as it
            # arrives. Slept before it, the sleeping thread's wake-up under load (the GIL, a busy CPU) moved
            # requests up to 7 ms at the bucket: jitter of the simulator, not of the client or the network.
            if server.latency_ms > 0:
                time.sleep(server.latency_ms / 1000)
            if reply is None:  # timeout fault: hang up without answering
                self.close_connection = True
                return
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            payload = reply.payload()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def main(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    latency_ms: float = 0,
    quotas: SandboxQuotas | None = SandboxQuotas(),  # noqa: B008 - immutable dataclass
    print_fn: Callable[[str], Any] = print,
    stop_event: threading.Event | None = None,
) -> None:
    """Serve the sandbox until interrupted (``code2asin sandbox``), printing the URL and test credentials."""
    server = SandboxServer(host, port, latency_ms=latency_ms, quotas=quotas).start()
    print_fn(f"Sandbox ready at {server.base_url}")
    print_fn(f"  Creators API: host={server.base_url} credential_id={DEFAULT_CREDENTIAL_ID} "
             f"credential_secret={DEFAULT_CREDENTIAL_SECRET} partner_tag={DEFAULT_PARTNER_TAG}")
    print_fn(f"    token URL 2.x (Cognito): {server.cognito_token_url}   3.x (LwA): {server.lwa_token_url}")
    print_fn(f"    ineligible credential_id (403 AssociateNotEligible): {INELIGIBLE_CREDENTIAL_ID}")
    print_fn(f"  SP-API: endpoint={server.base_url} token URL={server.lwa_token_url} "
             f"lwa_client_id={DEFAULT_LWA_CLIENT_ID} lwa_client_secret={DEFAULT_LWA_CLIENT_SECRET} "
             f"refresh_token={DEFAULT_REFRESH_TOKEN}")
    print_fn(f"  Keepa: api URL={server.base_url} key={DEFAULT_KEEPA_KEY} "
             f"(402 PAYMENT_REQUIRED: {EXPIRED_KEEPA_KEY})")
    try:
        (stop_event or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
