"""The safe fetcher over real HTTP: allowlist, public addresses, pinning, redirects, size, type, cut bodies.

"No request off the allowlist" is asserted two ways: with a transport that records every request the
fetcher hands it (and a resolver that records every name it is asked), and with real loopback servers
that count their hits.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
from tests.images.conftest import ScriptedServer, sandbox_image_urls, send

from code2asin.errors import ErrorType, ProviderError
from code2asin.images import MAX_IMAGE_BYTES, ImageFetcher, sniff_image_type
from code2asin.sandbox.jpeg import make_jpeg
from code2asin.sandbox.server import SandboxServer

JPEG = make_jpeg(64, 64, 120, "fetcher test")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + b"\x00\x00\x00\x00IEND\xaeB`\x82"
WEBP = b"RIFF" + (20).to_bytes(4, "little") + b"WEBPVP8 " + b"\x00" * 12


class Recorder:
    """A transport and a resolver that record what the fetcher asks for."""

    def __init__(self, addresses: dict[str, str] | None = None, body: bytes = JPEG) -> None:
        self.requests: list[httpx.Request] = []
        self.resolved: list[str] = []
        self.addresses = addresses or {}
        self.body = body

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        # a stream, as a real transport gives: the fetcher reads the raw body chunk by chunk
        return httpx.Response(200, stream=httpx.ByteStream(self.body), headers={"Content-Type": "image/jpeg"})

    def getaddrinfo(self, host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        self.resolved.append(host)
        address = self.addresses.get(host)
        if address is None:
            raise socket.gaierror(f"unknown host {host}")
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    def fetcher(self, image_hosts: list[str] | None = None) -> ImageFetcher:
        client = httpx.Client(transport=httpx.MockTransport(self.handle))  # in memory: no socket to close
        return ImageFetcher(image_hosts or [], client=client, getaddrinfo=self.getaddrinfo)


def refused(fetcher: ImageFetcher, url: str, error_type: ErrorType = ErrorType.INVALID_DATA) -> str:
    with pytest.raises(ProviderError) as caught:
        fetcher.fetch(url)
    assert caught.value.error_type is error_type, str(caught.value)
    return str(caught.value)


def test_fetches_a_sandbox_image_with_its_type_size_and_sha256(
    sandbox: SandboxServer, fetcher: ImageFetcher
) -> None:
    url = sandbox_image_urls(sandbox, "B0TESTASIN1", 1)[0]
    image = fetcher.fetch(url)
    expected = httpx.get(url).content
    assert image.content == expected
    assert image.content_type == "image/jpeg"
    assert image.sha256 == hashlib.sha256(expected).hexdigest()
    assert image.url == image.final_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://localhost/images/I/x.jpg",
        "https://localhost/images/I/x.jpg",
        "http://127.0.0.1/images/I/x.jpg",
        "http://[::1]/images/I/x.jpg",
        "http://m.media-amazon.com/images/I/x.jpg",  # Amazon, but plain http
        "https://m.media-amazon.com:8443/images/I/x.jpg",
        "https://m.media-amazon.com@evil.example/images/I/x.jpg",
        "https://m.media-amazon.com:443@127.0.0.1/images/I/x.jpg",
        "https://user:secret@m.media-amazon.com/images/I/x.jpg",
        "https://evil.example#@m.media-amazon.com/images/I/x.jpg",
        "https://evil.example\\@m.media-amazon.com/images/I/x.jpg",
        "https://evil.example?@m.media-amazon.com/images/I/x.jpg",
        "https://m.media-amazon.com.evil.example/images/I/x.jpg",
        "https://m.media-amazon.com\t.evil.example/x.jpg",
        "https://m.media-amazon.com:99999/x.jpg",
        "file:///etc/passwd",
        "ftp://m.media-amazon.com/images/I/x.jpg",
        "//m.media-amazon.com/images/I/x.jpg",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "https://" + "a" * 3000 + ".m.media-amazon.com/x.jpg",
    ],
)
def test_hostile_url_is_refused_without_any_request_or_lookup(url: str) -> None:
    recorder = Recorder({"localhost": "127.0.0.1", "evil.example": "93.184.216.34"})
    refused(recorder.fetcher(), url)
    assert recorder.requests == []
    assert recorder.resolved == []


@pytest.mark.parametrize("address", ["169.254.169.254", "127.0.0.1", "10.0.0.5", "::ffff:169.254.169.254"])
def test_amazon_host_resolving_to_a_non_public_address_is_refused_without_request(address: str) -> None:
    recorder = Recorder({"m.media-amazon.com": address})
    message = refused(recorder.fetcher(), "https://m.media-amazon.com/images/I/81abc.jpg")
    assert "non-public" in message
    assert recorder.resolved == ["m.media-amazon.com"]
    assert recorder.requests == []


def test_connection_is_pinned_to_the_validated_address_with_name_in_host_header_and_sni() -> None:
    recorder = Recorder({"m.media-amazon.com": "52.84.10.20"})
    image = recorder.fetcher().fetch("https://m.media-amazon.com/images/I/81abc._SL1500_.jpg?x=1")
    assert image.content == JPEG
    [request] = recorder.requests
    assert str(request.url) == "https://52.84.10.20/images/I/81abc._SL1500_.jpg?x=1"
    assert request.headers["host"] == "m.media-amazon.com"
    assert request.extensions["sni_hostname"] == "m.media-amazon.com"
    assert recorder.resolved == ["m.media-amazon.com"]


def test_an_image_host_entry_without_port_trusts_any_port_and_allows_http() -> None:
    recorder = Recorder({"mirror.internal": "10.1.2.3"})
    recorder.fetcher(["mirror.internal"]).fetch("http://mirror.internal:8080/i.jpg")
    [request] = recorder.requests
    assert str(request.url) == "http://10.1.2.3:8080/i.jpg"
    assert request.headers["host"] == "mirror.internal:8080"


def test_an_image_host_entry_with_port_trusts_only_that_port(
    scripted_server: Callable[[], ScriptedServer],
) -> None:
    allowed, other = scripted_server(), scripted_server()
    with ImageFetcher([allowed.host]) as fetcher:
        refused(fetcher, f"{other.base_url}/i.jpg")
    assert other.hits == []


def serve(body: bytes, content_type: str = "image/jpeg", status: int = 200,
          headers: dict[str, str] | None = None) -> Callable[[BaseHTTPRequestHandler], None]:
    return lambda handler: send(handler, status, body, content_type, headers)


@pytest.fixture
def local(scripted_server: Callable[[], ScriptedServer]) -> ScriptedServer:
    return scripted_server()


@pytest.fixture
def local_fetcher(local: ScriptedServer) -> Iterator[ImageFetcher]:
    fetcher = ImageFetcher([local.host], max_bytes=100_000)
    yield fetcher
    fetcher.close()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp")],
    ids=["jpeg", "png", "webp"],
)
def test_jpeg_png_and_webp_are_recognised_by_magic_bytes_whatever_the_header_says(
    local: ScriptedServer, local_fetcher: ImageFetcher, body: bytes, content_type: str
) -> None:
    local.routes["/i"] = serve(body, "application/octet-stream")
    image = local_fetcher.fetch(f"{local.base_url}/i")
    assert (image.content_type, image.content) == (content_type, body)


def test_html_served_as_image_jpeg_is_refused(local: ScriptedServer, local_fetcher: ImageFetcher) -> None:
    local.routes["/i.jpg"] = serve(b"<!doctype html><html><body>Sorry</body></html>", "image/jpeg")
    assert "Not an image" in refused(local_fetcher, f"{local.base_url}/i.jpg")
    assert sniff_image_type(b"GIF89a....") is None


def test_redirect_from_an_allowed_host_to_a_non_allowed_host_is_refused_before_any_request_to_it(
    scripted_server: Callable[[], ScriptedServer],
) -> None:
    allowed, target = scripted_server(), scripted_server()
    target.routes["/i.jpg"] = serve(JPEG)
    allowed.routes["/r"] = serve(b"", "text/plain", 302, {"Location": f"{target.base_url}/i.jpg"})
    allowed.routes["/meta"] = serve(b"", "text/plain", 301, {"Location": "http://169.254.169.254/latest/meta-data/"})
    allowed.routes["/loop"] = serve(b"", "text/plain", 307, {"Location": "http://localhost:1/x.jpg"})
    with ImageFetcher([allowed.host]) as fetcher:
        for path in ("/r", "/meta", "/loop"):
            refused(fetcher, f"{allowed.base_url}{path}")

    assert target.hits == []
    assert [path for path, _ in allowed.hits] == ["/r", "/meta", "/loop"]


def test_redirects_on_the_allowlist_are_followed_up_to_three_hops(
    local: ScriptedServer, local_fetcher: ImageFetcher
) -> None:
    local.routes["/final.jpg"] = serve(JPEG)
    for n in range(1, 5):
        location = f"/hop{n - 1}" if n > 1 else "/final.jpg"
        local.routes[f"/hop{n}"] = serve(b"", "text/plain", 302, {"Location": location})

    image = local_fetcher.fetch(f"{local.base_url}/hop3")
    assert image.final_url == f"{local.base_url}/final.jpg"
    local.hits.clear()
    assert "redirects" in refused(local_fetcher, f"{local.base_url}/hop4")
    assert "/final.jpg" not in [path for path, _ in local.hits]


def test_body_declared_larger_than_the_cap_is_refused_without_reading_it(
    local: ScriptedServer, local_fetcher: ImageFetcher
) -> None:
    def huge(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(50 * 1024 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(JPEG[:100])

    local.routes["/huge.jpg"] = huge
    assert "larger than 100000" in refused(local_fetcher, f"{local.base_url}/huge.jpg")


def test_streamed_body_is_abandoned_as_soon_as_it_passes_the_cap(
    local: ScriptedServer, local_fetcher: ImageFetcher
) -> None:
    sent: list[int] = []

    def endless(handler: BaseHTTPRequestHandler) -> None:  # chunked, no length: only the cap stops it
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = JPEG[:3] + b"\x00" * 16_381
        for _ in range(10_000):  # 160 MB if nobody stops it
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent.append(len(chunk))

    local.routes["/endless.jpg"] = endless
    assert "larger than 100000" in refused(local_fetcher, f"{local.base_url}/endless.jpg")
    assert MAX_IMAGE_BYTES == 10 * 1024 * 1024


def test_body_cut_short_against_its_content_length_is_a_network_error(
    local: ScriptedServer, local_fetcher: ImageFetcher
) -> None:
    def cut(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(JPEG)))
        handler.end_headers()
        handler.wfile.write(JPEG[: len(JPEG) // 2])
        handler.close_connection = True

    local.routes["/cut.jpg"] = cut
    refused(local_fetcher, f"{local.base_url}/cut.jpg", ErrorType.NETWORK)


def test_body_cut_short_without_a_length_is_caught_by_the_missing_end_marker(
    local: ScriptedServer, local_fetcher: ImageFetcher
) -> None:
    def cut(handler: BaseHTTPRequestHandler) -> None:  # HTTP/1.0 style: the body ends when the socket closes
        handler.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n\r\n" + JPEG[: len(JPEG) - 40])
        handler.close_connection = True

    local.routes["/cut.jpg"] = cut
    assert "cut short" in refused(local_fetcher, f"{local.base_url}/cut.jpg", ErrorType.NETWORK)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(404, ErrorType.INVALID_DATA), (403, ErrorType.INVALID_DATA), (500, ErrorType.NETWORK),
     (503, ErrorType.NETWORK), (429, ErrorType.NETWORK)],
)
def test_http_statuses_are_classified_network_or_invalid_data(
    local: ScriptedServer, local_fetcher: ImageFetcher, status: int, error_type: ErrorType
) -> None:
    local.routes["/s.jpg"] = serve(b"error", "text/plain", status, {"Retry-After": "7"})
    with pytest.raises(ProviderError) as caught:
        local_fetcher.fetch(f"{local.base_url}/s.jpg")
    assert caught.value.error_type is error_type
    if status == 429:
        assert caught.value.retry_after == 7


def test_a_compressed_body_is_refused(local: ScriptedServer, local_fetcher: ImageFetcher) -> None:
    local.routes["/gz.jpg"] = serve(JPEG, "image/jpeg", 200, {"Content-Encoding": "gzip"})
    assert "content encoding" in refused(local_fetcher, f"{local.base_url}/gz.jpg")


def test_a_host_that_never_answers_times_out_as_a_network_error(local: ScriptedServer) -> None:
    release = threading.Event()
    local.routes["/slow.jpg"] = lambda handler: release.wait(10)
    client = httpx.Client(timeout=httpx.Timeout(0.2), trust_env=False)
    try:
        fetcher = ImageFetcher([local.host], client=client)
        message = refused(fetcher, f"{local.base_url}/slow.jpg", ErrorType.NETWORK)
    finally:
        release.set()
        client.close()
    assert "timed out" in message


def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ImageFetcher([f"127.0.0.1:{port}"]) as fetcher:
        refused(fetcher, f"http://127.0.0.1:{port}/i.jpg", ErrorType.NETWORK)
