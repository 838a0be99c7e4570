"""The object storage interface every backend implements (``storage.LocalStorage``,
``storage_s3.S3Storage``), and the key check they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` atomically (a reader never sees a partial object)."""
        ...

    def put_file(self, key: str, source: BinaryIO, content_type: str) -> None:
        """Store the content of an open binary file under ``key``, atomically."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; ``FileNotFoundError`` when there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with ``prefix``, in lexical order."""
        ...

    def url(self, key: str, expires_in: int = 3600) -> str | None:
        """A URL a browser can fetch directly (presigned for S3), or None when there is none."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise ``ValueError``."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(c in key for c in "\\\x00") or any(
        p in ("", ".", "..") for p in parts
    ):
        raise ValueError(f"Invalid storage key {key!r}.")
    return key
