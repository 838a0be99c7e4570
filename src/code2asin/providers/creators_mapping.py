"""Mapping a Creators API ``Item`` to a ``Candidate`` (``to_candidate``) and to its conversion-log summary."""

from __future__ import annotations

from typing import Any

from code2asin.providers.base import Candidate
from code2asin.providers.client_support import (
    decimal_or_none,
    dict_at,
    dicts,
    float_or_none,
    int_or_none,
    mark_sources,
)

NAME = "creators"
_EXTERNAL_IDS = {"eans": "EAN", "upcs": "UPC", "isbns": "ISBN"}
_IMAGE_SIZES = ("hiRes", "large", "medium", "small")


def _display(node: Any) -> Any:
    return node.get("displayValue") if isinstance(node, dict) else None


def _pick_listing(item: dict[str, Any]) -> dict[str, Any] | None:
    offers = item.get("offersV2")
    listings = dicts(offers.get("listings") if isinstance(offers, dict) else None)
    return next((x for x in listings if x.get("isBuyBoxWinner") is True), listings[0] if listings else None)


def _largest(sizes: Any) -> str | None:
    if not isinstance(sizes, dict):
        return None
    for size in _IMAGE_SIZES:
        node = sizes.get(size)
        if isinstance(node, dict) and node.get("url"):
            return str(node["url"])
    return None


def to_candidate(item: dict[str, Any]) -> Candidate:
    """Map one Creators ``Item`` to a ``Candidate`` (unknown fields stay empty)."""
    info = dict_at(item, "itemInfo")
    candidate = Candidate(asin=str(item["asin"]), source=NAME)
    ext = dict_at(info, "externalIds")
    for key, id_type in _EXTERNAL_IDS.items():
        values = dict_at(ext, key).get("displayValues")
        if isinstance(values, list) and values:
            candidate.identifiers[id_type] = [str(v) for v in values]
    title, brand = _display(info.get("title")), _display(dict_at(info, "byLineInfo").get("brand"))
    candidate.title = str(title) if title else None
    candidate.brand = str(brand) if brand else None
    listing = _pick_listing(item)
    if listing is not None:
        money = dict_at(dict_at(listing, "price"), "money")
        candidate.price = decimal_or_none(money.get("amount"))
        candidate.currency = str(money["currency"]) if money.get("currency") else None
        candidate.buy_box = bool(listing.get("isBuyBoxWinner"))
        availability = dict_at(listing, "availability").get("type")
        candidate.availability = str(availability) if availability else None
    images = dict_at(item, "images")
    urls = [_largest(images.get("primary")), *(_largest(v) for v in dicts(images.get("variants")))]
    candidate.images = list(dict.fromkeys(u for u in urls if u))
    rank = dict_at(dict_at(item, "browseNodeInfo"), "websiteSalesRank").get("salesRank")
    candidate.sales_rank = int_or_none(rank)
    candidate.detail_page_url = str(item["detailPageURL"]) if item.get("detailPageURL") else None
    candidate.parent_asin = str(item["parentASIN"]) if item.get("parentASIN") else None
    candidate.package_quantity = int_or_none(_display(dict_at(info, "productInfo").get("unitCount")))
    reviews = dict_at(item, "customerReviews")
    candidate.rating = float_or_none(dict_at(reviews, "starRating").get("value"))
    candidate.review_count = int_or_none(reviews.get("count"))
    mark_sources(candidate, NAME)
    return candidate


def trim_item(item: dict[str, Any]) -> dict[str, object]:
    """The few fields of an item worth keeping in the conversion log."""
    candidate = to_candidate(item) if item.get("asin") else None
    if candidate is None:
        return {}
    return {
        "asin": candidate.asin,
        "title": candidate.title,
        "externalIds": candidate.identifiers,
        "price": f"{candidate.price} {candidate.currency}" if candidate.price is not None else None,
    }
