"""SP-API operations of the sandbox: Catalog Items 2022-04-01 ``searchCatalogItems`` and Pricing v0
``getCompetitivePricing``."""

from __future__ import annotations

import base64
import time
from collections import Counter

from code2asin.sandbox import catalogue, titles
from code2asin.sandbox.auth import Token, TokenStore
from code2asin.sandbox.common import JSON, ApiError, Request, spapi_error
from code2asin.sandbox.creators import IMAGE_SIZES, image_url
from code2asin.sandbox.encoding import stable_hash, to_gtin14
from code2asin.sandbox.items import SandboxItem
from code2asin.sandbox.marketplaces import BY_ID, Marketplace

IDENTIFIER_TYPES = frozenset({"ASIN", "EAN", "GTIN", "ISBN", "JAN", "MINSAN", "SKU", "UPC"})
INCLUDED_DATA = frozenset({"attributes", "classifications", "dimensions", "identifiers", "images",
                           "productTypes", "relationships", "salesRanks", "summaries", "vendorDetails"})
MAX_IDENTIFIERS = 20
MAX_KEYWORDS = 20


def authenticate(request: Request, store: TokenStore) -> Token:
    value = request.header("x-amz-access-token")
    token = store.get(value) if value else None
    if token is None or token.family != "spapi":
        raise spapi_error(403, "Unauthorized", "Access to requested resource is denied.",
                          "The access token you provided is revoked, malformed or invalid.")
    request.log_credential = token.credential
    if token.expires_at <= time.time():
        raise spapi_error(403, "Unauthorized", "Access to requested resource is denied.",
                          "The access token you provided has expired.")
    return token


def _one(request: Request, name: str, *, required: bool = True) -> str | None:
    values = request.query.get(name)
    if not values:
        if required:
            raise spapi_error(400, "InvalidInput", f"Missing required parameter '{name}'.")
        return None
    return values[0]


def _csv(request: Request, name: str) -> list[str]:
    return [v.strip() for raw in request.query.get(name, []) for v in raw.split(",") if v.strip()]


def _marketplace(request: Request, name: str) -> Marketplace:
    ids = _csv(request, name)
    if not ids:
        raise spapi_error(400, "InvalidInput", f"Missing required parameter '{name}'.")
    if len(ids) > 1:
        raise spapi_error(400, "InvalidInput", f"'{name}' accepts exactly one marketplace.")
    marketplace = BY_ID.get(ids[0])
    if marketplace is None:
        raise spapi_error(400, "InvalidInput", f"Invalid marketplace identifier: {ids[0]}.")
    request.log_marketplace = marketplace.marketplace_id
    return marketplace


def quota_region(request: Request) -> str:
    """The SP-API region whose usage plans a call counts against (``""`` when its marketplace is
    missing or unknown: the handler then answers 400). Each region is separate infrastructure."""
    ids = _csv(request, "marketplaceIds") or _csv(request, "MarketplaceId")
    marketplace = BY_ID.get(ids[0]) if ids else None
    return marketplace.region if marketplace else ""


def _lookup(value: str, identifier_type: str, marketplace: Marketplace) -> list[SandboxItem]:
    if identifier_type == "ASIN":
        item = catalogue.sandbox_item(value, marketplace.country)
        return [item] if item else []
    if identifier_type in {"SKU", "MINSAN"}:
        return []
    digits = value.replace("-", "")
    if identifier_type == "ISBN" and len(digits) not in (10, 13):
        return []
    if identifier_type == "UPC" and len(digits) != 12:
        return []
    gtin = to_gtin14(digits)  # GTIN-based index: a UPC sent as EAN (or zero-padded) still matches
    return list(catalogue.products_for_gtin(gtin, marketplace.country)) if gtin else []


def _identifiers(item: SandboxItem, marketplace_id: str) -> JSON:
    values = [{"identifierType": "EAN", "identifier": v} for v in item.eans]
    values += [{"identifierType": "UPC", "identifier": v} for v in item.upcs]
    values += [{"identifierType": "ISBN", "identifier": v} for v in item.isbns]
    values += [{"identifierType": "GTIN", "identifier": v} for v in item.gtins]
    return {"marketplaceId": marketplace_id, "identifiers": values}


def render_catalog_item(
    item: SandboxItem, included: set[str], marketplace: Marketplace, base_url: str
) -> JSON:
    """An item in the Catalog Items 2022-04-01 shape, with only the requested ``includedData``."""
    mid = marketplace.marketplace_id
    dep = item.department
    out: JSON = {"asin": item.asin}
    if "identifiers" in included:
        out["identifiers"] = [_identifiers(item, mid)]
    if "summaries" in included:
        summary: JSON = {
            "marketplaceId": mid, "adultProduct": False, "brand": item.brand,
            "browseClassification": {"displayName": dep.display_name, "classificationId": dep.browse_node_id},
            "itemClassification": item.item_classification, "itemName": item.title,
            "manufacturer": item.brand, "packageQuantity": item.package_quantity,
            "websiteDisplayGroup": dep.display_group, "websiteDisplayGroupName": dep.display_name,
        }
        if item.colour:
            summary["color"] = item.colour
        out["summaries"] = [summary]
    if "images" in included:
        variants = ["MAIN", *(f"PT{i:02d}" for i in range(1, 9))]
        side = IMAGE_SIZES["highRes"][1]
        out["images"] = [{"marketplaceId": mid, "images": [
            {"variant": variants[i], "link": image_url(base_url, image_id, ""), "height": side, "width": side}
            for i, image_id in enumerate(item.image_ids[:9])
        ]}]
    if "salesRanks" in included:
        ranks: JSON = {"marketplaceId": mid, "classificationRanks": [], "displayGroupRanks": []}
        if item.sales_rank:
            link = f"https://{marketplace.host}/gp/bestsellers/{dep.key}"
            title = dep.display_name
            ranks["displayGroupRanks"] = [{"websiteDisplayGroup": dep.display_group, "title": title,
                                           "link": link, "rank": item.sales_rank}]
            ranks["classificationRanks"] = [{"classificationId": dep.browse_node_id, "title": title,
                                             "link": f"{link}/{dep.browse_node_id}",
                                             "rank": max(1, item.sales_rank // 7)}]
        out["salesRanks"] = [ranks]
    if "relationships" in included:
        rel: JSON = {"marketplaceId": mid, "relationships": []}
        if item.parent_asin:
            rel["relationships"] = [{"type": "VARIATION", "parentAsins": [item.parent_asin]}]
        out["relationships"] = [rel]
    if "productTypes" in included:
        out["productTypes"] = [{"marketplaceId": mid, "productType": dep.product_group.upper()}]
    return out


def search_catalog_items(request: Request, base_url: str) -> JSON:
    marketplace = _marketplace(request, "marketplaceIds")
    identifiers = _csv(request, "identifiers")
    keywords = _csv(request, "keywords")
    request.log_codes = tuple(identifiers or keywords)
    if keywords and identifiers:
        raise spapi_error(400, "InvalidInput", "'keywords' cannot be used with 'identifiers'.")
    if not identifiers and not keywords:
        raise spapi_error(400, "InvalidInput", "Either 'identifiers' or 'keywords' is required.")
    if len(identifiers) > MAX_IDENTIFIERS or len(keywords) > MAX_KEYWORDS:
        name, most = ("keywords", MAX_KEYWORDS) if keywords else ("identifiers", MAX_IDENTIFIERS)
        raise spapi_error(400, "InvalidInput", f"'{name}' accepts at most {most} values.")
    included = set(_csv(request, "includedData")) or {"summaries"}
    if included - INCLUDED_DATA:
        bad = ",".join(sorted(included - INCLUDED_DATA))
        raise spapi_error(400, "InvalidInput", f"Invalid 'includedData': {bad}.")
    page_size = _one(request, "pageSize", required=False) or "10"
    if not page_size.isdigit() or not 1 <= int(page_size) <= 20:
        raise spapi_error(400, "InvalidInput", "'pageSize' must be between 1 and 20.")
    ordered = _keyword_search(request, keywords, marketplace) if keywords else _identifier_search(
        request, identifiers, marketplace)
    offset = _page_offset(_one(request, "pageToken", required=False))
    window = ordered[offset : offset + int(page_size)]
    pagination: JSON = {}
    if offset + int(page_size) < len(ordered):
        pagination["nextToken"] = _token(offset + int(page_size))
    if offset > 0:
        pagination["previousToken"] = _token(max(0, offset - int(page_size)))
    brands = Counter(i.brand for i in ordered) if keywords else Counter()
    refinements = {"brands": [{"numberOfResults": n, "brandName": b} for b, n in brands.most_common()],
                   "classifications": []}
    return {"numberOfResults": len(ordered), "pagination": pagination, "refinements": refinements,
            "items": [render_catalog_item(i, included, marketplace, base_url) for i in window]}


def _identifier_search(
    request: Request, identifiers: list[str], marketplace: Marketplace
) -> list[SandboxItem]:
    identifier_type = _one(request, "identifiersType")
    if identifier_type not in IDENTIFIER_TYPES:
        raise spapi_error(400, "InvalidInput", f"Invalid 'identifiersType': {identifier_type}.")
    if identifier_type == "SKU" and not request.query.get("sellerId"):
        raise spapi_error(400, "InvalidInput", "'sellerId' is required when 'identifiersType' is SKU.")
    found: dict[str, SandboxItem] = {}
    for value in identifiers:
        for item in _lookup(value, identifier_type, marketplace):
            found.setdefault(item.asin, item)
    # Amazon neither keeps the input order nor says which identifier matched
    return sorted(found.values(), key=lambda i: stable_hash("order", i.asin))


def _keyword_search(request: Request, keywords: list[str], marketplace: Marketplace) -> list[SandboxItem]:
    """Title search (``sandbox.titles``), best match first; ``brandNames`` keeps the items of those brands.

    Barcodes as keywords are refused, as before title search existed: identifiers are what finds codes.
    """
    words = " ".join(keywords)
    if not titles.is_title_query(words):
        raise spapi_error(400, "InvalidInput", "The sandbox searches barcodes through 'identifiers' only.")
    brands = _csv(request, "brandNames")
    if len(brands) == 1:
        return list(titles.search_titles(words, brands[0], marketplace.country))
    found = titles.search_titles(words, None, marketplace.country, limit=len(titles.title_items()))
    wanted = {" ".join(titles.normalise(b)) for b in brands}
    kept = [i for i in found if not wanted or " ".join(titles.normalise(i.brand)) in wanted]
    return kept[: titles.MAX_RESULTS]


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox:{offset}".encode()).decode()


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        prefix, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "sandbox" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise spapi_error(400, "InvalidInput", "Invalid 'pageToken'.")


def _money(amount: float, currency: str) -> JSON:
    return {"CurrencyCode": currency, "Amount": amount}


def competitive_pricing(request: Request) -> JSON:
    """``getCompetitivePricing`` (productPricingV0.json ``GetPricingResponse``)."""
    marketplace = _marketplace(request, "MarketplaceId")
    item_type = _one(request, "ItemType")
    if item_type not in {"Asin", "Sku"}:
        raise spapi_error(400, "InvalidInput", "'ItemType' must be Asin or Sku.")
    if item_type == "Sku":
        raise spapi_error(400, "InvalidInput", "The sandbox has no seller SKUs; use ItemType=Asin.")
    asins = _csv(request, "Asins")
    request.log_asins = tuple(asins)
    if not asins:
        raise spapi_error(400, "InvalidInput", "'Asins' is required when 'ItemType' is Asin.")
    if len(asins) > MAX_IDENTIFIERS:
        raise spapi_error(400, "InvalidInput", f"'Asins' accepts at most {MAX_IDENTIFIERS} values.")
    mid = marketplace.marketplace_id
    payload: list[JSON] = []
    for asin in asins:
        item = catalogue.sandbox_item(asin, marketplace.country)
        identifiers = {"MarketplaceASIN": {"MarketplaceId": mid, "ASIN": asin}}
        if item is None:
            payload.append({"status": "ClientError", "ASIN": asin, "Product": {"Identifiers": identifiers}})
            continue
        prices: list[JSON] = []
        listings: list[JSON] = []
        price = item.price(marketplace)
        if price is not None and item.buy_box:
            amount, currency = price
            prices.append({"CompetitivePriceId": "1", "condition": "New", "subcondition": "New",
                           "offerType": "B2C", "belongsToRequester": False,
                           "Price": {"LandedPrice": _money(amount, currency),
                                     "ListingPrice": _money(amount, currency),
                                     "Shipping": _money(0.0, currency)}})
        if price is not None:
            listings.append({"condition": "New", "Count": 1 + stable_hash("offers", asin) % 12})
        pricing = {"CompetitivePrices": prices, "NumberOfOfferListings": listings}
        product: JSON = {"Identifiers": identifiers, "CompetitivePricing": pricing}
        if item.sales_rank:
            product["SalesRankings"] = [{"ProductCategoryId": item.department.display_group,
                                         "Rank": item.sales_rank}]
        payload.append({"status": "Success", "ASIN": asin, "Product": product})
    return {"payload": payload}


def throttled() -> ApiError:
    return spapi_error(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
