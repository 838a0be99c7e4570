"""Products catalogue service: find or create a product, record, list and delete its stored images.

An image belongs to a product and is stored once per product whatever its URL: rows are unique on
``(product_id, sha256)`` and the object key is ``products/{id[0:2]}/{id}/{sha256}.{ext}``.
Functions take the caller's session and never commit (the unit of work does). Deleting image rows
returns the object keys so the caller removes the objects only after its commit succeeded.
Errors: none of their own; SQLAlchemy errors propagate.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from code2asin.products.models import Product, ProductImage
from code2asin.storage import Storage

#: the seed's layout ends in ``.jpg``: JPEG keeps it; the rare PNG/WebP gets its own extension (see key)
IMAGE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class ImageMode(StrEnum):
    """What a new copy does to a product's earlier images (the seed's ``image_mode``)."""

    REPLACE = "replace"  # previous images removed, once the new ones are stored
    APPEND = "append"  # new ones added, duplicates skipped
    SKIP = "skip"  # nothing when the product already has images


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image whose object is already in storage, ready to be recorded for a product."""

    sha256: str
    key: str
    source_url: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ImageChange:
    """The product's image keys after a change (by position), and the keys whose objects must go."""

    keys: list[str]
    removed_keys: list[str]


def image_key(product_id: str, sha256: str, content_type: str) -> str:
    """``products/{id[0:2]}/{id}/{sha256}.jpg`` (``.png``/``.webp`` for those types)."""
    extension = IMAGE_EXTENSIONS.get(content_type, "jpg")
    return f"products/{product_id[0:2]}/{product_id}/{sha256}.{extension}"


def get_product(session: Session, supplier_code: str, gtin: str, marketplace: str) -> Product | None:
    return session.scalars(
        select(Product).where(
            Product.supplier_code == supplier_code, Product.gtin == gtin, Product.marketplace == marketplace
        )
    ).one_or_none()


def find_or_create_product(
    session: Session,
    *,
    supplier_code: str,
    gtin: str,
    marketplace: str,
    asin: str | None = None,
    title: str | None = None,
    brand: str | None = None,
) -> Product:
    """The product of ``(supplier_code, gtin, marketplace)``, created when missing; non-empty
    ``asin``/``title``/``brand`` overwrite the stored ones. Safe against a concurrent creator."""
    product = get_product(session, supplier_code, gtin, marketplace)
    if product is None:
        candidate = Product(supplier_code=supplier_code, gtin=gtin, marketplace=marketplace)
        try:
            with session.begin_nested():
                session.add(candidate)
        except IntegrityError:  # another worker created it between our SELECT and INSERT
            product = get_product(session, supplier_code, gtin, marketplace)
            if product is None:
                raise
        else:
            product = candidate
    for name, value in (("asin", asin), ("title", title), ("brand", brand)):
        if value and getattr(product, name) != value:
            setattr(product, name, value)
    session.flush()
    return product


def list_images(session: Session, product_id: str) -> list[ProductImage]:
    """The product's images, primary first."""
    return list(
        session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id == product_id)
            .order_by(ProductImage.position, ProductImage.id)
        )
    )


def _add_image(session: Session, product_id: str, image: StoredImage, position: int) -> None:
    row = ProductImage(
        product_id=product_id, position=position, sha256=image.sha256, key=image.key,
        source_url=image.source_url, content_type=image.content_type, size_bytes=image.size_bytes,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        pass  # the same content was recorded meanwhile by a concurrent copy: it is stored, nothing to do


def record_images(
    session: Session, product_id: str, images: Sequence[StoredImage], mode: ImageMode
) -> ImageChange:
    """Record ``images`` (stored objects, in Amazon's order) for the product according to ``mode``.

    ``replace`` puts them at positions 0.. and deletes the rows of every other image, but only when at
    least one new image is given (a failed fetch never empties a product); ``append`` adds the ones whose
    content the product lacks after its current last position; ``skip`` changes nothing when the product
    has images. Returns the keys by position and the removed keys (objects to delete after the commit).
    """
    current = {row.sha256: row for row in list_images(session, product_id)}
    removed: list[str] = []
    if mode is ImageMode.REPLACE and images:
        for position, image in enumerate(_unique(images)):
            if image.sha256 in current:
                current[image.sha256].position = position
            else:
                _add_image(session, product_id, image, position)
        removed = delete_images(session, product_id, keep={image.sha256 for image in images})
    elif not (mode is ImageMode.SKIP and current):
        # append, or a first copy in any mode: add what the product lacks after its last position
        position = max((row.position + 1 for row in current.values()), default=0)
        for image in _unique(images):
            if image.sha256 not in current:
                _add_image(session, product_id, image, position)
                position += 1
    session.flush()
    return ImageChange(keys=[row.key for row in list_images(session, product_id)], removed_keys=removed)


def delete_images(session: Session, product_id: str, keep: Collection[str] = ()) -> list[str]:
    """Delete the product's image rows except those whose sha256 is in ``keep``; return their keys."""
    condition = ProductImage.product_id == product_id
    if keep:
        condition = condition & ProductImage.sha256.not_in(list(keep))
    keys = list(session.scalars(select(ProductImage.key).where(condition)))
    if keys:
        session.execute(delete(ProductImage).where(condition).execution_options(synchronize_session="fetch"))
    return keys


def image_urls(storage: Storage, keys: Sequence[str], expires_in: int = 3600) -> list[str | None]:
    """A browser-fetchable URL per key (presigned on S3; None on a local folder, which the API proxies)."""
    return [storage.url(key, expires_in) for key in keys]


def _unique(images: Sequence[StoredImage]) -> list[StoredImage]:
    seen: set[str] = set()
    out = []
    for image in images:
        if image.sha256 not in seen:
            seen.add(image.sha256)
            out.append(image)
    return out
