"""Keepa product search of the sandbox: ``GET /search?key=&domain=&type=product&term=&page=``.

The request is ``Request.getProductSearchRequest`` of https://github.com/keepacom/api_backend (path
``search``; ``domain``, ``type=product``, ``term``, and the ``stats``, ``update`` and ``history``
parameters of ``/product``; answers are full ``Product`` objects). ``page`` (0-9, up to 10 products a
page) and the cost of ``SEARCH_PAGE_TOKENS`` tokens a result page are the model this sandbox takes from
Keepa's token table, not read from that source (its older javadoc speaks of at most 50 results per term).
The term is searched over the title catalogue (``sandbox.titles``; Keepa has no brand filter, so the
brand belongs in the term), charged from the same bucket and refused with the same 429
``NOT_ENOUGH_TOKEN`` as ``/product``.
"""

from __future__ import annotations

import time

from code2asin.sandbox import titles
from code2asin.sandbox.common import Reply, Request
from code2asin.sandbox.items import SandboxItem
from code2asin.sandbox.keepa import (
    DOMAINS,
    KeepaKeys,
    KeepaTokens,
    ProductQuery,
    TokenStatus,
    _flag,
    _one,
    _valid_stats,
    authenticate,
    envelope,
    keepa_error,
    not_enough_tokens,
    render_product,
)
from code2asin.sandbox.marketplaces import BY_COUNTRY

#: tokens one result page costs (the cost modelled after Keepa's token table for product searches)
SEARCH_PAGE_TOKENS = 10
PAGE_SIZE = 10
MAX_PAGE = 9


def _query(request: Request, tokens: TokenStatus) -> tuple[ProductQuery, str, int]:
    domain = _one(request, "domain") or ""
    if not domain.isdigit() or int(domain) not in DOMAINS:
        raise keepa_error(
            400, "invalidParameter", f"'domain' must be one of {', '.join(map(str, DOMAINS))}.", tokens
        )
    request.log_marketplace = DOMAINS[int(domain)]
    if (_one(request, "type") or "") != "product":
        raise keepa_error(400, "invalidParameter", "'type' must be product.", tokens)
    term = _one(request, "term") or ""
    if not term:
        raise keepa_error(400, "invalidParameter", "'term' is required.", tokens)
    request.log_codes = (term,)
    raw_page = _one(request, "page") or "0"
    if not raw_page.isdigit() or int(raw_page) > MAX_PAGE:
        raise keepa_error(400, "invalidParameter", f"'page' must be between 0 and {MAX_PAGE}.", tokens)
    raw_stats = _one(request, "stats")
    if raw_stats is not None and not _valid_stats(raw_stats):
        raise keepa_error(
            400, "invalidParameter", "'stats' must be a number of days or a 'start,end' range.", tokens
        )
    query = ProductQuery(
        marketplace=BY_COUNTRY[DOMAINS[int(domain)]],
        domain_id=int(domain),
        codes=(),
        asins=(),
        code_limit=None,
        stats=bool(raw_stats),
        history=_flag(request, "history", tokens),
        rating=_flag(request, "rating", tokens),
    )
    return query, term, int(raw_page)


def search(request: Request, tokens: KeepaTokens, keys: KeepaKeys) -> Reply:
    """``GET /search``: one result page of products, ``SEARCH_PAGE_TOKENS`` tokens."""
    started = time.perf_counter()
    key = authenticate(request, keys)
    query, term, page = _query(request, tokens.status(key))
    items: list[SandboxItem] = []

    def cost() -> int:
        found = titles.search_titles(term, None, query.marketplace.country)
        items.extend(found[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
        return SEARCH_PAGE_TOKENS

    served, consumed, status = tokens.spend(key, cost)
    if not served:
        raise not_enough_tokens(status)
    request.log_asins = tuple(item.asin for item in items)
    request.log_tokens = consumed
    body = envelope(status, consumed, started)
    body["products"] = [render_product(item, query) for item in items]
    return Reply(200, body)
