"""Creators API operations of the sandbox: ``POST /catalog/v1/searchItems`` and ``/catalog/v1/getItems``."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from code2asin.sandbox import catalogue, titles
from code2asin.sandbox.auth import Token, TokenStore
from code2asin.sandbox.common import JSON, ApiError, Request, creators_error, validation_error
from code2asin.sandbox.items import SandboxItem
from code2asin.sandbox.marketplaces import BY_HOST, VERSION_REGIONS, Marketplace, display_amount

RESOURCES = frozenset({
    "browseNodeInfo.browseNodes", "browseNodeInfo.browseNodes.ancestor",
    "browseNodeInfo.browseNodes.salesRank",
    "browseNodeInfo.websiteSalesRank", "customerReviews.count", "customerReviews.starRating",
    "images.primary.small", "images.primary.medium", "images.primary.large", "images.primary.highRes",
    "images.variants.small", "images.variants.medium", "images.variants.large", "images.variants.highRes",
    "itemInfo.byLineInfo", "itemInfo.classifications", "itemInfo.contentInfo", "itemInfo.contentRating",
    "itemInfo.externalIds", "itemInfo.features", "itemInfo.manufactureInfo", "itemInfo.productInfo",
    "itemInfo.technicalInfo", "itemInfo.title", "itemInfo.tradeInInfo", "offersV2.listings.availability",
    "offersV2.listings.condition", "offersV2.listings.dealDetails", "offersV2.listings.isBuyBoxWinner",
    "offersV2.listings.loyaltyPoints", "offersV2.listings.merchantInfo", "offersV2.listings.price",
    "offersV2.listings.type", "parentASIN",
})
SEARCH_FIELDS = frozenset({
    "actor", "artist", "author", "availability", "brand", "browseNodeId", "condition", "currencyOfPreference",
    "deliveryFlags", "itemCount", "itemPage", "keywords", "languagesOfPreference", "maxPrice", "minPrice",
    "minReviewsRating", "minSavingPercent", "partnerTag", "properties", "resources", "searchIndex", "sortBy",
    "title", "marketplace",
})
GET_FIELDS = frozenset({
    "partnerTag", "itemIds", "itemIdType", "condition", "currencyOfPreference", "languagesOfPreference",
    "properties", "resources", "marketplace",
})
SEARCH_CRITERIA = ("keywords", "actor", "artist", "author", "brand", "title", "browseNodeId", "searchIndex")
IMAGE_SIZES = {"small": ("_SL75_", 75), "medium": ("_SL160_", 160), "large": ("_SL500_", 500),
               "highRes": ("", 1000)}
_ASIN_RE = re.compile(r"^[A-Z0-9]{10}$")


@dataclass(frozen=True, slots=True)
class CreatorsConfig:
    partner_tags: frozenset[str]
    ineligible: frozenset[str]
    base_url: str
    get_items_result_key: str = "itemsResult"
    #: marketplace country -> the only tags its store accepts (an Associates store per marketplace);
    #: a marketplace not listed accepts ``partner_tags``
    store_tags: tuple[tuple[str, frozenset[str]], ...] = ()

    def tags_for(self, marketplace: Marketplace) -> frozenset[str]:
        return dict(self.store_tags).get(marketplace.country, self.partner_tags)


def authenticate(request: Request, store: TokenStore) -> tuple[Token, Marketplace]:
    """Check ``Authorization`` (Bearer + Version for Cognito tokens) and ``x-marketplace``."""
    header = request.header("Authorization")
    if not header:
        raise creators_error(401, "UnauthorizedException", "Missing Authorization header",
                             reason="MissingCredential")
    match = re.fullmatch(r"Bearer ([^,\s]+)(?:,\s*Version (\S+))?", header.strip())
    if not match:
        raise creators_error(401, "UnauthorizedException", "Malformed Authorization header",
                             reason="InvalidToken")
    token = store.get(match.group(1))
    version = match.group(2)
    if token is None or token.family == "spapi":
        raise creators_error(401, "UnauthorizedException", "The access token is invalid",
                             reason="InvalidToken")
    request.log_credential = token.credential
    if token.expires_at <= time.time():
        raise creators_error(401, "UnauthorizedException", "The access token has expired",
                             reason="TokenExpired")
    expected = "2" if token.family == "cognito" else "3"
    wrong_version = version is not None and not version.startswith(expected + ".")
    if (version is None and expected == "2") or wrong_version:
        raise creators_error(
            401, "UnauthorizedException",
            "Ensure the credential version in your request header matches the region where the token was "
            "generated", reason="InvalidIssuer")
    host = request.header("x-marketplace")
    if not host:
        raise validation_error("The x-marketplace header is required", fields=["x-marketplace"])
    marketplace = BY_HOST.get(host.strip().lower())
    if marketplace is None:
        raise validation_error(f"Unknown marketplace {host}", fields=["x-marketplace"])
    request.log_marketplace = marketplace.host
    if version is not None and VERSION_REGIONS.get(version.partition(".")[2]) != marketplace.region:
        raise creators_error(
            401, "UnauthorizedException",
            f"Credential version {version} cannot be used for {marketplace.host}", reason="InvalidIssuer")
    return token, marketplace


def parse_body(
    request: Request, allowed: frozenset[str], config: CreatorsConfig, marketplace: Marketplace
) -> JSON:
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise validation_error("Content-Type must be application/json", reason="CannotParse")
    try:
        body = request.json_body()
    except (ValueError, UnicodeDecodeError):
        raise validation_error("Could not parse the request body", reason="CannotParse") from None
    if not isinstance(body, dict):
        raise validation_error("The request body must be a JSON object", reason="CannotParse")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise validation_error(f"Unknown field(s): {', '.join(unknown)}", fields=unknown)
    tag = body.get("partnerTag")
    if not isinstance(tag, str) or not tag:
        raise validation_error("partnerTag is required", fields=["partnerTag"])
    if tag not in config.tags_for(marketplace):
        raise validation_error(f"The partner tag {tag} is invalid", reason="InvalidPartnerTag",
                               fields=["partnerTag"])
    resources = body.get("resources", ["itemInfo.title"])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise validation_error("resources must be a list of strings", fields=["resources"])
    bad = sorted(set(resources) - RESOURCES - ({"searchRefinements"} if "keywords" in allowed else set()))
    if bad:
        raise validation_error(f"Invalid resource(s): {', '.join(bad)}", fields=["resources"])
    return body


def _int_field(body: JSON, name: str, low: int, high: int, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise validation_error(f"{name} must be an integer between {low} and {high}", fields=[name])
    return value


def search_items(request: Request, config: CreatorsConfig, marketplace: Marketplace) -> JSON:
    body = parse_body(request, SEARCH_FIELDS, config, marketplace)
    if not any(body.get(name) for name in SEARCH_CRITERIA):
        raise validation_error("At least one search criterion is required", fields=list(SEARCH_CRITERIA[:6]))
    for name in ("keywords", "title", "brand"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise validation_error(f"{name} must be a string", fields=[name])
    keywords, title, brand = body.get("keywords"), body.get("title"), body.get("brand")
    request.log_codes = (keywords,) if keywords else ()
    count = _int_field(body, "itemCount", 1, 10, 10)
    page = _int_field(body, "itemPage", 1, 10, 1)
    items = _found(keywords, title, brand, marketplace)
    index = body.get("searchIndex", "All")
    if index == "Books":
        items = [i for i in items if i.department.key == "books"]
    elif index != "All":
        items = [i for i in items if i.department.key != "books"]
    window = items[(page - 1) * count : page * count]
    if not window:
        raise creators_error(404, "ResourceNotFoundException", "No results found for your search request",
                             resourceType="SearchResult", resourceId=keywords or title or brand or "")
    resources = set(body.get("resources", ["itemInfo.title"]))
    rendered = [render_item(i, resources, marketplace, body["partnerTag"], config.base_url) for i in window]
    return {"searchResult": {
        "items": rendered, "totalResultCount": len(items),
        "searchURL": f"https://{marketplace.host}/s?k={quote_plus(keywords or title or brand or '')}"
                     f"&tag={body['partnerTag']}&linkCode=osi",
    }}


def _found(
    keywords: str | None, title: str | None, brand: str | None, marketplace: Marketplace
) -> list[SandboxItem]:
    """A barcode in ``keywords`` searches identifiers (and brings its keyword noise); words search titles,
    with ``title`` as more words and ``brand`` as a filter."""
    if keywords and not titles.is_title_query(keywords) and not (title or brand):
        return list(catalogue.search_keywords(keywords, marketplace.country))
    words = " ".join(w for w in (keywords, title) if w) or brand or ""
    return list(titles.search_titles(words, brand or None, marketplace.country)) if words else []


def get_items(request: Request, config: CreatorsConfig, marketplace: Marketplace) -> JSON:
    body = parse_body(request, GET_FIELDS, config, marketplace)
    ids = body.get("itemIds")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 10 or not all(isinstance(i, str) for i in ids):
        raise validation_error("itemIds must be a list of 1 to 10 ASINs", fields=["itemIds"])
    if body.get("itemIdType", "ASIN") != "ASIN":
        raise validation_error("itemIdType must be ASIN", fields=["itemIdType"])
    request.log_asins = tuple(ids)
    resources = set(body.get("resources", ["itemInfo.title"]))
    items: list[JSON] = []
    errors: list[JSON] = []
    for asin in dict.fromkeys(ids):
        item = catalogue.sandbox_item(asin, marketplace.country) if _ASIN_RE.match(asin) else None
        if item is None:
            errors.append({"code": "InvalidParameterValue",
                           "message": f"The ItemIds {asin} provided in the request is invalid."})
        else:
            items.append(render_item(item, resources, marketplace, body["partnerTag"], config.base_url))
    if not items:
        raise creators_error(404, "ResourceNotFoundException", "No items found for the requested ItemIds",
                             resourceType="Item", resourceId=",".join(ids))
    out: JSON = {config.get_items_result_key: {"items": items}}
    if errors:
        out["errors"] = errors
    return out


def _attr(value: Any, label: str, locale: str) -> JSON:
    return {"displayValue": value, "label": label, "locale": locale}


def image_url(base_url: str, image_id: str, suffix: str) -> str:
    return f"{base_url}/images/I/{image_id}{'.' + suffix if suffix else ''}.jpg"


def _images(item: SandboxItem, resources: set[str], base_url: str) -> JSON:
    def sizes(image_id: str, group: str) -> JSON:
        out: JSON = {}
        for size, (suffix, side) in IMAGE_SIZES.items():
            if f"images.{group}.{size}" in resources:
                out[size] = {"url": image_url(base_url, image_id, suffix), "height": side, "width": side}
        return out

    images: JSON = {}
    if item.image_ids and any(r.startswith("images.primary.") for r in resources):
        images["primary"] = sizes(item.image_ids[0], "primary")
    if len(item.image_ids) > 1 and any(r.startswith("images.variants.") for r in resources):
        images["variants"] = [sizes(i, "variants") for i in item.image_ids[1:]]
    return images


def _item_info(item: SandboxItem, resources: set[str], locale: str) -> JSON:
    info: JSON = {}
    if "itemInfo.title" in resources:
        info["title"] = _attr(item.title, "Title", locale)
    if "itemInfo.byLineInfo" in resources:
        by_line: JSON = {"brand": _attr(item.brand, "Brand", locale),
                         "manufacturer": _attr(item.brand, "Manufacturer", locale)}
        if item.contributor:
            by_line["contributors"] = [{"name": item.contributor, "role": "Auteur", "roleType": "author",
                                        "locale": locale}]
        info["byLineInfo"] = by_line
    if "itemInfo.externalIds" in resources:
        ext: JSON = {}
        for key, label, values in (("eans", "EAN", item.eans), ("isbns", "ISBN", item.isbns),
                                   ("upcs", "UPC", item.upcs)):
            if values:
                ext[key] = {"displayValues": list(values), "label": label, "locale": locale}
        if ext:
            info["externalIds"] = ext
    if "itemInfo.classifications" in resources:
        info["classifications"] = {"binding": _attr(item.department.binding, "Binding", locale),
                                   "productGroup": _attr(item.department.product_group, "ProductGroup",
                                                         locale)}
    if "itemInfo.productInfo" in resources:
        product: JSON = {"unitCount": _attr(item.package_quantity, "NumberOfItems", locale)}
        if item.colour:
            product["color"] = _attr(item.colour, "Color", locale)
        info["productInfo"] = product
    if "itemInfo.features" in resources and item.role != "parent":
        info["features"] = {"displayValues": [f"Marque : {item.brand}", item.title], "label": "Features",
                            "locale": locale}
    if "itemInfo.manufactureInfo" in resources:
        info["manufactureInfo"] = {"model": _attr(item.asin[-6:], "Model", locale)}
    return info


def _offers(item: SandboxItem, resources: set[str], marketplace: Marketplace) -> JSON | None:
    price = item.price(marketplace)
    if price is None or not any(r.startswith("offersV2.") for r in resources):
        return None
    amount, currency = price
    listing: JSON = {}
    if "offersV2.listings.availability" in resources:
        message = {"IN_STOCK": "En stock", "IN_STOCK_SCARCE": "Plus que 3 ex. en stock",
                   "LEADTIME": "Habituellement expédié sous 1 à 2 mois"}.get(item.availability, "")
        listing["availability"] = {"type": item.availability, "message": message, "minOrderQuantity": 1,
                                   "maxOrderQuantity": 30}
    if "offersV2.listings.condition" in resources:
        listing["condition"] = {"value": "New", "subCondition": "Unknown", "conditionNote": ""}
    if "offersV2.listings.isBuyBoxWinner" in resources:
        listing["isBuyBoxWinner"] = item.buy_box
    if "offersV2.listings.merchantInfo" in resources:
        amazon = item.buy_box and item.role != "duplicate"
        amazon_name = f"Amazon.{marketplace.host[11:]}"
        listing["merchantInfo"] = ({"id": marketplace.marketplace_id, "name": amazon_name}
                                   if amazon else {"id": "A1SANDBOXSELLER", "name": "Sandbox Marchand"})
    if "offersV2.listings.price" in resources:
        listing["price"] = {"money": {"amount": amount, "currency": currency,
                                      "displayAmount": display_amount(amount, currency)}}
    listing["violatesMAP"] = False
    return {"listings": [listing]}


def render_item(
    item: SandboxItem, resources: set[str], marketplace: Marketplace, tag: str, base_url: str
) -> JSON:
    """An item in the Creators API shape, with only the requested resources."""
    out: JSON = {"asin": item.asin,
                 "detailPageURL": f"https://{marketplace.host}/dp/{item.asin}?tag={tag}&linkCode=ogi&th=1&psc=1"}
    if "parentASIN" in resources and item.parent_asin:
        out["parentASIN"] = item.parent_asin
    info = _item_info(item, resources, marketplace.locale)
    if info:
        out["itemInfo"] = info
    images = _images(item, resources, base_url)
    if images:
        out["images"] = images
    offers = _offers(item, resources, marketplace)
    if offers:
        out["offersV2"] = offers
    node: JSON = {}
    dep = item.department
    if "browseNodeInfo.websiteSalesRank" in resources and item.sales_rank:
        node["websiteSalesRank"] = {"contextFreeName": dep.display_name, "displayName": dep.display_name,
                                    "salesRank": item.sales_rank}
    if "browseNodeInfo.browseNodes" in resources:
        browse: JSON = {"id": dep.browse_node_id, "displayName": dep.display_name,
                        "contextFreeName": dep.display_name, "isRoot": True}
        if "browseNodeInfo.browseNodes.salesRank" in resources and item.sales_rank:
            browse["salesRank"] = max(1, item.sales_rank // 7)
        node["browseNodes"] = [browse]
    if node:
        out["browseNodeInfo"] = node
    return out


def check_eligible(token: Token, config: CreatorsConfig) -> None:
    if token.credential in config.ineligible:
        raise creators_error(
            403, "AccessDeniedException",
            "The Associate is not eligible: the account must have made 10 qualified sales in the trailing "
            "30 days", reason="AssociateNotEligible")


def throttled() -> ApiError:
    return creators_error(429, "ThrottleException", "Rate exceeded: too many requests for this credential",
                          retryAfterSeconds=1)
