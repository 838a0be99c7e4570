"""The safe image fetcher: Amazon's image hosts only, over https, to a validated public address.

``ImageFetcher.fetch(url)`` returns the image's bytes, type and SHA-256 or raises ``ProviderError``:
``invalid_data`` for what retrying cannot fix (URL not allowed, private address, 4xx, not an image, too
big, too many redirects) and ``network`` for what may pass (timeouts, connection errors, 5xx, 429, a body
cut short). Rules, each checked before any byte leaves the machine:

* the URL has no userinfo, no control characters or backslashes, and a host on the allowlist: Amazon's
  image hosts (https, port 443) or an entry of ``settings.image_hosts`` (``host`` or ``host:port``; plain
  http and private/loopback addresses allowed, as for the sandbox or a private mirror);
* the host is resolved once and every address must be public (no private, loopback, link-local such as
  169.254.169.254, multicast, reserved or unspecified address, IPv4-mapped/6to4/Teredo/NAT64 forms
  unwrapped) unless the host is a configured image host;
* the connection goes to the address that was validated ("pinning", so a DNS answer that changes between
  the check and the connection, a rebinding attack, cannot redirect it): the request URL carries the IP,
  the ``Host`` header the name, and httpcore's ``sni_hostname`` request extension makes TLS send the name
  as SNI and verify the certificate against the name, not the IP;
* redirects are followed by hand, at most 3, each hop checked like the first URL; no proxy from the
  environment (``trust_env=False``), no cookies kept, ``Accept-Encoding: identity`` (no gzip bomb);
* the body is streamed and abandoned as soon as it passes ``max_bytes`` or the total deadline; it must
  start with JPEG, PNG or WebP magic bytes and end as that format ends, so a cut body is never returned.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from code2asin.config import Settings
from code2asin.errors import ErrorType, ProviderError

AMAZON_IMAGE_HOSTS = frozenset({
    "m.media-amazon.com",
    "images-na.ssl-images-amazon.com",
    "images-eu.ssl-images-amazon.com",
    "images-fe.ssl-images-amazon.com",
})
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 3
MAX_URL_LENGTH = 2048
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Resolver = Callable[..., Sequence[tuple[Any, ...]]]


def _invalid(message: str) -> ProviderError:
    return ProviderError(message, ErrorType.INVALID_DATA)


def _network(message: str, retry_after: float | None = None) -> ProviderError:
    return ProviderError(message, ErrorType.NETWORK, retry_after)


@dataclass(frozen=True, slots=True)
class TrustedHost:
    """An ``image_hosts`` entry: ``host`` (any port) or ``host:port``."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> TrustedHost:
        parts = urlsplit("//" + entry.strip())
        if not parts.hostname:
            raise ValueError(f"Invalid image host {entry!r}: use host or host:port.")
        return cls(parts.hostname.lower(), parts.port)

    def matches(self, host: str, port: int) -> bool:
        return self.host == host and self.port in (None, port)


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the allowlist: where to connect and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    raw_path: str
    trusted: bool

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


def check_url(url: str, trusted_hosts: Iterable[TrustedHost] = ()) -> Target:
    """Parse ``url`` and check it against the allowlist; ``ProviderError(invalid_data)`` when refused."""
    if len(url) > MAX_URL_LENGTH or any(c <= " " or c in "\\\x7f" for c in url):
        raise _invalid("Image URL refused: too long, or contains spaces, control characters or backslashes.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _invalid(f"Image URL refused: scheme {scheme or '(none)'!r} is not https.")
    if "@" in parts.netloc:
        raise _invalid("Image URL refused: it carries a user name or password.")
    try:
        host, port = (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise _invalid("Image URL refused: invalid port.") from None
    if not host:
        raise _invalid("Image URL refused: no host.")
    trusted = any(entry.matches(host, port) for entry in trusted_hosts)
    if not trusted:
        if host not in AMAZON_IMAGE_HOSTS:
            raise _invalid(f"Image URL refused: {host} is not an Amazon image host.")
        if scheme != "https" or port != 443:
            raise _invalid(f"Image URL refused: {host} is only fetched over https on port 443.")
    raw_path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url, scheme, host, port, raw_path, trusted)


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is a globally routable unicast address (embedded IPv4 forms unwrapped)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in ipaddress.IPv6Network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified or address.is_link_local
    )


def resolve_addresses(
    host: str, port: int, *, allow_private: bool, getaddrinfo: Resolver = socket.getaddrinfo
) -> list[str]:
    """Resolve ``host`` once; every address must be public unless ``allow_private``. Returns the IPs."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        try:
            infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise _network(f"Image host {host} could not be resolved: {error}.") from error
        found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    else:
        found = [literal]
    addresses = list(dict.fromkeys(found))
    if not addresses:
        raise _network(f"Image host {host} has no address.")
    if not allow_private:
        refused = [str(a) for a in addresses if not is_public_address(a)]
        if refused:
            raise _invalid(f"Image URL refused: {host} resolves to non-public {', '.join(refused)}.")
    return [str(a) for a in addresses]


def sniff_image_type(data: bytes) -> str | None:
    """``image/jpeg``, ``image/png`` or ``image/webp`` by magic bytes, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_complete_image(data: bytes, content_type: str) -> bool:
    """Whether the body ends as its format ends (a body cut short by a dropped connection does not)."""
    tail = data[-64:]  # a short trailer after the end marker is tolerated
    if content_type == "image/jpeg":
        return b"\xff\xd9" in tail  # 0xFF in entropy data is stuffed, so FFD9 here is the EOI marker
    if content_type == "image/png":
        return b"IEND" in tail
    return int.from_bytes(data[4:8], "little") + 8 <= len(data)


@dataclass(frozen=True, slots=True)
class FetchedImage:
    url: str
    final_url: str
    content: bytes
    content_type: str
    sha256: str


class Fetcher(Protocol):
    def fetch(self, url: str) -> FetchedImage: ...


class ImageFetcher:
    """Fetches images under the rules of the module docstring. Thread-safe; ``close()`` when done."""

    def __init__(
        self,
        image_hosts: Iterable[str] = (),
        *,
        client: httpx.Client | None = None,
        max_bytes: int = MAX_IMAGE_BYTES,
        total_seconds: float = 60.0,
        getaddrinfo: Resolver = socket.getaddrinfo,
    ) -> None:
        self.trusted = tuple(TrustedHost.parse(entry) for entry in image_hosts)
        self.max_bytes = max_bytes
        self.total_seconds = total_seconds
        self._getaddrinfo = getaddrinfo
        self._owns_client = client is None
        self._client = client or httpx.Client(
            timeout=DEFAULT_TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> ImageFetcher:
        return cls(settings.image_hosts, **options)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> ImageFetcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def fetch(self, url: str) -> FetchedImage:
        """Download one image; ``ProviderError`` (``network`` or ``invalid_data``) on any failure."""
        deadline = time.monotonic() + self.total_seconds
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            target = check_url(current, self.trusted)
            addresses = resolve_addresses(
                target.host, target.port, allow_private=target.trusted, getaddrinfo=self._getaddrinfo
            )
            location, content = self._get(target, addresses, deadline)
            if location is None:
                assert content is not None
                content_type = sniff_image_type(content)
                if content_type is None:
                    raise _invalid(f"Not an image (not JPEG, PNG or WebP): {current}")
                if not is_complete_image(content, content_type):
                    raise _network(f"Image body cut short: {current}")
                digest = hashlib.sha256(content).hexdigest()
                return FetchedImage(url, current, content, content_type, digest)
            current = urljoin(current, location)
        raise _invalid(f"Image URL refused: more than {MAX_REDIRECTS} redirects from {url}.")

    def _get(self, target: Target, addresses: list[str], deadline: float) -> tuple[str | None, bytes | None]:
        """GET ``target`` from the first validated address that connects: (redirect location, body)."""
        headers = {"Host": target.host_header, "Accept": "image/*", "Accept-Encoding": "identity"}
        extensions = {} if _is_ip(target.host) else {"sni_hostname": target.host}
        for index, address in enumerate(addresses):
            pinned = httpx.URL(
                scheme=target.scheme, host=address, port=target.port, raw_path=target.raw_path.encode()
            )
            try:
                with self._client.stream(
                    "GET", pinned, headers=headers, extensions=extensions, follow_redirects=False
                ) as response:
                    return self._answer(target, response, deadline)
            except httpx.ConnectError as error:
                if index == len(addresses) - 1:
                    raise _network(f"Image host {target.host} unreachable: {error}") from error
            except httpx.TimeoutException as error:
                raise _network(f"Image download timed out: {target.url}") from error
            except httpx.TransportError as error:  # reset, cut body (Content-Length not reached), protocol
                raise _network(f"Image download failed: {target.url}: {error}") from error
        raise _network(f"Image host {target.host} unreachable.")  # pragma: no cover - loop always returns

    def _answer(
        self, target: Target, response: httpx.Response, deadline: float
    ) -> tuple[str | None, bytes | None]:
        status = response.status_code
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise _invalid(f"Redirect without a location: {target.url}")
            return location, None
        if status >= 500 or status in _RETRYABLE_STATUSES:
            raise _network(f"Image host answered {status}: {target.url}", _retry_after(response))
        if status != 200:
            raise _invalid(f"Image host answered {status}: {target.url}")
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            raise _invalid(f"Image sent with a content encoding: {target.url}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise _invalid(f"Image larger than {self.max_bytes} bytes: {target.url}")
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > self.max_bytes:
                raise _invalid(f"Image larger than {self.max_bytes} bytes: {target.url}")
            if time.monotonic() > deadline:
                raise _network(f"Image download took longer than {self.total_seconds:.0f} s: {target.url}")
        return None, bytes(body)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
