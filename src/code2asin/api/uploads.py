"""Upload limits: the request body is counted while it streams, and the file is copied under a limit.

``UploadLimitMiddleware`` answers 413 as soon as the body of ``POST /code2asin/import`` passes the limit
(or at once when ``Content-Length`` says so), before the multipart parser spools the rest to disk.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import BinaryIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from code2asin.api.errors import UploadTooLargeError

#: room for the multipart boundaries and the small form fields around the file
MULTIPART_OVERHEAD = 1024 * 1024
_COPY_CHUNK = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def too_large_message(limit: int) -> str:
    return f"The upload is larger than the {limit / 2**20:.0f} MB limit (CODE2ASIN_MAX_UPLOAD_BYTES)."


def sanitise_filename(name: str | None) -> str:
    """A safe object-key segment from a client file name (never a path; at most 100 characters)."""
    base = Path((name or "").replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip("._")[:100]
    return cleaned or "upload"


def copy_limited(source: BinaryIO, target: Path, limit: int) -> int:
    """Copy ``source`` to ``target``; raises ``UploadTooLargeError`` past ``limit`` bytes."""
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(_COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                raise UploadTooLargeError(too_large_message(limit))
            out.write(chunk)
    return size


class UploadLimitMiddleware:
    def __init__(self, app: ASGIApp, *, path: str, limit: int) -> None:
        self.app = app
        self.path = path
        self.limit = limit
        self.max_body = limit + MULTIPART_OVERHEAD

    async def _reject(self, send: Send) -> None:
        body = json.dumps(
            {"error": {"code": "payload_too_large", "message": too_large_message(self.limit)}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            await self._reject(send)
            return
        received = 0
        rejected = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    rejected = True
                    if not started:
                        await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 answer is already out; drop what the app says about the cut body
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise
