"""Stored product images, proxied for storage that has no browser URL of its own (the local folder).

S3 storage gives presigned URLs instead; this route serves both, so a result's image link always works.
Keys are server-generated (``products/{id[0:2]}/{product_id}/{sha256}.{ext}``); anything else is 404,
and so is a product of a supplier the caller may not see.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Response

from code2asin.api.deps import CurrentPrincipal, SessionDep, StateDep, authorize
from code2asin.api.errors import ERROR_RESPONSES
from code2asin.errors import NotFoundError
from code2asin.products.models import Product, ProductImage

router = APIRouter(prefix="/code2asin", dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)

_KEY = re.compile(r"^products/[0-9a-f]{2}/([0-9a-f-]{36})/[0-9a-f]{64}\.(jpg|png|webp)$")


def media_url(key: str) -> str:
    return f"/code2asin/media/{key}"


@router.get("/media/{key:path}", summary="A stored product image", response_class=Response)
def get_media(key: str, session: SessionDep, state: StateDep, principal: CurrentPrincipal) -> Response:
    match = _KEY.match(key)
    product = session.get(Product, match[1]) if match else None
    if product is None or not principal.can_see(product.supplier_code):
        raise NotFoundError("No such image.")
    image = session.query(ProductImage).filter_by(product_id=product.id, key=key).one_or_none()
    if image is None:
        raise NotFoundError("No such image.")
    try:
        content = state.storage.get(key)
    except FileNotFoundError as exc:
        raise NotFoundError("No such image.") from exc
    return Response(
        content, media_type=image.content_type, headers={"Cache-Control": "private, max-age=86400"}
    )
