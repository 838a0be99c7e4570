"""Which addresses the fetcher may connect to, and how it pins them (TLS to the IP, SNI and certificate
checked against the name), with name resolution replaced by scripted getaddrinfo answers."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from code2asin.errors import ErrorType, ProviderError
from code2asin.images import ImageFetcher, check_url, is_public_address, resolve_addresses
from code2asin.sandbox.jpeg import make_jpeg

JPEG = make_jpeg(32, 32, 90, "tls test")


def answers(*addresses: str) -> Any:
    def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return getaddrinfo


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # cloud metadata (link-local)
        "169.254.170.2",  # ECS task metadata
        "127.0.0.1", "127.1.2.3", "0.0.0.0", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
        "192.0.0.1", "198.18.0.1", "224.0.0.251", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "192.0.2.10", "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1",
        "::ffff:169.254.169.254", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo wrapping 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
    ],
)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["52.84.10.20", "151.101.1.1", "2600:9000:2000::1", "::ffff:52.84.10.20"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_an_amazon_host_resolving_to_the_metadata_address_is_refused() -> None:
    with pytest.raises(ProviderError) as caught:
        resolve_addresses(
            "m.media-amazon.com", 443, allow_private=False, getaddrinfo=answers("169.254.169.254")
        )
    assert caught.value.error_type is ErrorType.INVALID_DATA


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(ProviderError, match=r"non-public 127\.0\.0\.1"):
        resolve_addresses(
            "m.media-amazon.com", 443, allow_private=False, getaddrinfo=answers("52.84.10.20", "127.0.0.1")
        )


def test_public_answers_are_returned_deduplicated_in_order_without_zone_ids() -> None:
    resolved = resolve_addresses(
        "m.media-amazon.com", 443, allow_private=False,
        getaddrinfo=answers("52.84.10.20", "2600:9000:2000::1", "52.84.10.20"),
    )
    assert resolved == ["52.84.10.20", "2600:9000:2000::1"]
    scoped = answers("fe80::1%eth0")
    assert resolve_addresses("mirror", 80, allow_private=True, getaddrinfo=scoped) == ["fe80::1"]


def test_a_configured_image_host_may_resolve_to_a_private_address() -> None:
    loopback = answers("127.0.0.1")
    assert resolve_addresses("cdn.local", 80, allow_private=True, getaddrinfo=loopback) == ["127.0.0.1"]


def test_an_unresolvable_host_is_a_network_error() -> None:
    def fail(*_: Any, **__: Any) -> Any:
        raise socket.gaierror("Name or service not known")

    with pytest.raises(ProviderError) as caught:
        resolve_addresses("m.media-amazon.com", 443, allow_private=False, getaddrinfo=fail)
    assert caught.value.error_type is ErrorType.NETWORK


def test_every_amazon_image_host_is_allowed_over_https_only() -> None:
    for host in ("m.media-amazon.com", "images-na.ssl-images-amazon.com", "images-eu.ssl-images-amazon.com",
                 "images-fe.ssl-images-amazon.com", "M.Media-Amazon.COM"):
        target = check_url(f"https://{host}/images/I/81abc.jpg")
        assert (target.host, target.port, target.trusted) == (host.lower(), 443, False)


# --- pinning over real TLS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only ``images.test``; records each SNI."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "images.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )
    snis: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    context.sni_callback = lambda _sock, server_name, _ctx: snis.append(str(server_name)) and None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(JPEG)))
            self.end_headers()
            self.wfile.write(JPEG)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield int(httpd.server_address[1]), folder / "cert.pem", snis
    httpd.shutdown()
    httpd.server_close()


def _tls_fetch(cafile: Path, host: str, url: str) -> bytes:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cafile)), trust_env=False) as client:
        return ImageFetcher([host], client=client, getaddrinfo=answers("127.0.0.1")).fetch(url).content


def test_https_to_the_pinned_ip_sends_the_name_as_sni_and_verifies_the_certificate_against_it(
    tls_server: tuple[int, Path, list[str]],
) -> None:
    port, cafile, snis = tls_server
    snis.clear()
    assert _tls_fetch(cafile, "images.test", f"https://images.test:{port}/images/I/x.jpg") == JPEG
    assert snis == ["images.test"]


def test_a_certificate_for_another_name_fails_even_though_the_pinned_ip_is_the_same(
    tls_server: tuple[int, Path, list[str]],
) -> None:
    port, cafile, _ = tls_server
    with pytest.raises(ProviderError) as caught:
        _tls_fetch(cafile, "other.test", f"https://other.test:{port}/images/I/x.jpg")
    assert caught.value.error_type is ErrorType.NETWORK
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(caught.value).lower()
