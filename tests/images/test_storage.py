"""Object storage: the local folder and S3 (a real S3 server, moto on loopback) behave the same."""

from __future__ import annotations

import io
from pathlib import Path

import boto3
import httpx
import pytest

from code2asin.config import Settings
from code2asin.storage import LocalStorage, Storage, open_storage
from code2asin.storage_s3 import S3Storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "objects")
    s3: S3Storage = request.getfixturevalue("s3_storage")
    return s3


def test_put_get_exists_delete_round_trip_on_every_backend(storage: Storage) -> None:
    storage.put("products/ab/abc/1.jpg", b"\xff\xd8\xffjpeg", "image/jpeg")
    storage.put_file("uploads/job/source.csv", io.BytesIO(b"ean\n123\n"), "text/csv")

    assert storage.get("products/ab/abc/1.jpg") == b"\xff\xd8\xffjpeg"
    assert storage.get("uploads/job/source.csv") == b"ean\n123\n"
    assert storage.exists("products/ab/abc/1.jpg")
    assert list(storage.keys("products/")) == ["products/ab/abc/1.jpg"]
    assert list(storage.keys()) == ["products/ab/abc/1.jpg", "uploads/job/source.csv"]
    storage.delete("products/ab/abc/1.jpg")
    storage.delete("products/ab/abc/1.jpg")  # deleting twice is not an error
    assert not storage.exists("products/ab/abc/1.jpg")
    assert list(storage.keys("products/")) == []


def test_get_of_a_missing_key_raises_file_not_found_on_every_backend(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.get("products/none.jpg")


@pytest.mark.parametrize(
    "key", ["", "/abs.jpg", "a/../b.jpg", "a//b.jpg", "./a.jpg", "a\\b.jpg", "a\x00.jpg"]
)
def test_unsafe_keys_are_refused_on_every_backend(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="Invalid storage key"):
        storage.put(key, b"x", "text/plain")


def test_local_delete_prunes_the_empty_product_folders(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects")
    storage.put("products/ab/abc/1.jpg", b"x", "image/jpeg")
    storage.delete("products/ab/abc/1.jpg")
    assert (tmp_path / "objects").is_dir()
    assert not (tmp_path / "objects" / "products").exists()


def test_s3_objects_live_under_the_prefix_with_their_content_type(
    s3_storage: S3Storage, s3_settings: Settings
) -> None:
    s3_storage.put("products/ab/abc/1.jpg", b"\xff\xd8\xff", "image/jpeg")
    raw = boto3.client(
        "s3", endpoint_url=s3_settings.s3.endpoint_url, region_name="eu-west-3",
        aws_access_key_id="k", aws_secret_access_key="s",
    )
    head = raw.head_object(Bucket=s3_storage.bucket, Key="media/products/ab/abc/1.jpg")
    assert head["ContentType"] == "image/jpeg"


def test_s3_presigned_url_is_fetchable_over_http_and_an_unsigned_one_is_not(s3_storage: S3Storage) -> None:
    s3_storage.put("products/ab/abc/1.jpg", b"\xff\xd8\xffpixels", "image/jpeg")
    url = s3_storage.url("products/ab/abc/1.jpg", expires_in=60)
    assert url is not None and "X-Amz-Signature=" in url

    signed = httpx.get(url, timeout=10)
    unsigned = httpx.get(url.split("?", 1)[0], timeout=10)

    assert signed.status_code == 200
    assert signed.content == b"\xff\xd8\xffpixels"
    assert signed.headers["content-type"] == "image/jpeg"
    assert unsigned.status_code == 403


def test_local_storage_has_no_direct_url() -> None:
    assert LocalStorage(Path("/nonexistent")).url("a.jpg") is None


def test_open_storage_builds_s3_from_the_s3_settings(s3_settings: Settings) -> None:
    storage = open_storage(s3_settings)
    assert isinstance(storage, S3Storage)
    assert storage.prefix == "media"
    storage.put("k.txt", b"v", "text/plain")
    assert storage.get("k.txt") == b"v"


def test_open_storage_defaults_to_a_folder_under_the_data_dir(tmp_path: Path) -> None:
    storage = open_storage(Settings(data_dir=tmp_path / "d"))
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "d" / "storage").resolve()


def test_a_storage_url_of_an_unknown_scheme_or_without_bucket_is_refused_when_settings_load() -> None:
    from code2asin.config import SettingsError, load_settings

    with pytest.raises(SettingsError, match="STORAGE_URL='ftp://host/x' is neither a file:// nor an s3://"):
        load_settings(storage_url="ftp://host/x")
    with pytest.raises(SettingsError, match="STORAGE_URL='s3:///prefix' names no bucket"):
        load_settings(storage_url="s3:///prefix")
