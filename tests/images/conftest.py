"""Fixtures for the image tests: a real S3 server (moto's server mode on loopback), the sandbox image CDN,
and small scripted HTTP servers that count every request they receive."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from code2asin.config import S3Settings, Settings
from code2asin.images import ImageFetcher
from code2asin.sandbox.encoding import image_id_for
from code2asin.sandbox.server import SandboxServer
from code2asin.storage_s3 import S3Storage

S3_KEY_ID = "moto-test-key"
S3_SECRET = "moto-test-secret"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str) -> Settings:
    """Settings naming a fresh bucket (with a prefix) on the moto server."""
    bucket = f"c2a-{uuid.uuid4().hex[:12]}"
    settings = Settings(
        storage_url=f"s3://{bucket}/media",
        s3=S3Settings(
            endpoint_url=s3_endpoint, region="eu-west-3", access_key_id=S3_KEY_ID,
            secret_access_key=S3_SECRET,
        ),
    )
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="eu-west-3", aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    ).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    return settings


@pytest.fixture
def s3_storage(s3_settings: Settings) -> S3Storage:
    bucket, prefix = s3_settings.effective_storage_url.removeprefix("s3://").split("/", 1)
    return S3Storage.from_settings(s3_settings, bucket=bucket, prefix=prefix)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def fetcher(sandbox: SandboxServer) -> Iterator[ImageFetcher]:
    """A fetcher trusting the sandbox's exact host:port (and nothing else local)."""
    instance = ImageFetcher([f"127.0.0.1:{sandbox.port}"])
    yield instance
    instance.close()


def sandbox_image_urls(sandbox: SandboxServer, asin: str, count: int) -> list[str]:
    """``count`` distinct sandbox CDN URLs at the largest size (Amazon's ``_SL1500_`` form)."""
    return [f"{sandbox.base_url}/images/I/{image_id_for(asin, k)}._SL1500_.jpg" for k in range(count)]


Responder = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class ScriptedServer:
    """A loopback HTTP server answering each path with a scripted responder; records every request."""

    routes: dict[str, Responder] = field(default_factory=dict)
    hits: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with server.lock:
                server.hits.append((self.path, dict(self.headers.items())))
            responder = server.routes.get(self.path)
            if responder is None:
                send(self, 404, b"not found", "text/plain")
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (cap)
                responder(self)

    return Handler


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
         headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def scripted_server() -> Iterator[Callable[[], ScriptedServer]]:
    """A factory of scripted servers, all stopped at the end of the test."""
    started: list[ScriptedServer] = []

    def start() -> ScriptedServer:
        server = ScriptedServer()
        server.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
        server.httpd.daemon_threads = True
        serve = threading.Thread(
            target=server.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        serve.start()
        started.append(server)
        return server

    yield start
    for server in started:
        assert server.httpd is not None
        server.httpd.shutdown()
        server.httpd.server_close()
