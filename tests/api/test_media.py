"""Stored images are served to callers who may see the product, and to nobody else."""

from __future__ import annotations

import hashlib

from tests.api.conftest import Api

from code2asin.products.models import Product, ProductImage
from code2asin.storage import open_storage

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


def _stored_image(api: Api, supplier: str) -> str:
    digest = hashlib.sha256(JPEG).hexdigest()
    with api.db.unit_of_work() as session:
        product = Product(supplier_code=supplier, gtin="03017620422003", marketplace="FR", asin="B00KWB94LS")
        session.add(product)
        session.flush()
        key = f"products/{product.id[:2]}/{product.id}/{digest}.jpg"
        session.add(
            ProductImage(
                product_id=product.id,
                position=0,
                sha256=digest,
                key=key,
                source_url="https://x",
                content_type="image/jpeg",
                size_bytes=len(JPEG),
            )
        )
    open_storage(api.settings).put(key, JPEG, "image/jpeg")
    return key


def test_a_stored_image_is_served_with_its_type_to_a_reader_of_its_supplier(api: Api) -> None:
    key = _stored_image(api, "SUP001")
    answer = api.client.get(f"/code2asin/media/{key}", headers=api.headers(api.token(["READ_CODE2ASIN"])))
    assert answer.status_code == 200
    assert answer.content == JPEG and answer.headers["content-type"] == "image/jpeg"


def test_images_need_a_token_and_stay_hidden_from_other_suppliers(api: Api) -> None:
    key = _stored_image(api, "SUP001")
    assert api.client.get(f"/code2asin/media/{key}").status_code == 401
    other = api.token(["READ_CODE2ASIN"], suppliers=["SUP999"])
    assert api.client.get(f"/code2asin/media/{key}", headers=api.headers(other)).status_code == 404


def test_keys_outside_the_product_layout_answer_404(api: Api) -> None:
    token = api.headers(api.token(["READ_CODE2ASIN"]))
    for key in ("uploads/x/supplier.csv", "products/../../etc/passwd", "code2asin.db"):
        assert api.client.get(f"/code2asin/media/{key}", headers=token).status_code == 404
