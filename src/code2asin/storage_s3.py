"""S3-compatible object storage (AWS S3, MinIO, any endpoint speaking the S3 API) through boto3.

Connection settings come from ``CODE2ASIN_S3_ENDPOINT_URL``, ``_REGION``, ``_ACCESS_KEY_ID`` and
``_SECRET_ACCESS_KEY``; whatever is unset is left to boto3's own chain (``AWS_ACCESS_KEY_ID``,
``AWS_REGION``, ``AWS_ENDPOINT_URL``, profiles, instance roles). A custom endpoint gets path-style
addressing, which MinIO and other self-hosted servers need without wildcard DNS.

A single PUT is atomic in S3 (an object is visible whole or not at all), and so is a multipart upload,
which becomes visible only on completion: ``put`` and ``put_file`` never expose a partial object.
Errors: a missing key raises ``FileNotFoundError`` from ``get``; other failures propagate as botocore's
``ClientError`` / ``BotoCoreError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from code2asin.config import Settings
from code2asin.storage_protocol import check_key

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Objects in ``bucket`` under ``prefix/``; ``client`` is a boto3 S3 client (thread-safe)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    def from_settings(cls, settings: Settings, bucket: str, prefix: str = "") -> S3Storage:
        """A storage for ``s3://bucket/prefix`` with the connection settings of ``settings.s3``."""
        s3 = settings.s3
        options: dict[str, Any] = {}
        if s3.endpoint_url:
            options["endpoint_url"] = s3.endpoint_url
        if s3.region:
            options["region_name"] = s3.region
        if s3.access_key_id and s3.secret_access_key:
            options["aws_access_key_id"] = s3.access_key_id
            options["aws_secret_access_key"] = s3.secret_access_key.get_secret_value()
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if s3.endpoint_url else "auto"},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 4, "mode": "standard"},
            # image copies run 8 at a time by default, exports and uploads alongside
            max_pool_connections=32,
        )
        client = boto3.session.Session().client("s3", config=config, **options)
        return cls(client, bucket, prefix)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    def put_file(self, key: str, source: BinaryIO, content_type: str) -> None:
        self.client.upload_fileobj(
            source, self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}
        )

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _error_code(error) in _MISSING:
                raise FileNotFoundError(key) from error
            raise
        body = response["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _error_code(error) in _MISSING:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            for entry in page.get("Contents", ()):
                yield str(entry["Key"])[strip:]

    def url(self, key: str, expires_in: int = 3600) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_in
        )
        return url


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
