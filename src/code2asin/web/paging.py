"""Pagination and sort links that keep the page's other query parameters (filters, tab)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request


@dataclass(frozen=True, slots=True)
class Pager:
    page: int
    pages: int
    total: int
    previous_url: str | None
    next_url: str | None


def page_number(raw: str | None) -> int:
    """A page number from the query string (anything unusable is page 1)."""
    try:
        return min(max(int(raw or 1), 1), 1_000_000)
    except ValueError:
        return 1


def with_query(request: Request, **changes: str | int | None) -> str:
    """The current path with some query parameters replaced (None removes one)."""
    params = dict(request.query_params)
    for name, value in changes.items():
        if value is None or value == "":
            params.pop(name, None)
        else:
            params[name] = str(value)
    query = urlencode(params)
    return str(request.scope.get("root_path", "")) + request.url.path + (f"?{query}" if query else "")


def pager(request: Request, *, total: int, page: int, per_page: int, param: str = "page") -> Pager:
    pages = max(1, -(-total // per_page))
    return Pager(
        page=page,
        pages=pages,
        total=total,
        previous_url=with_query(request, **{param: page - 1}) if page > 1 else None,
        next_url=with_query(request, **{param: page + 1}) if page < pages else None,
    )


@dataclass(frozen=True, slots=True)
class Sort:
    """The list's order from ``?sort=name`` (ascending) or ``?sort=-name`` (descending), and for each
    sortable column the link that sorts by it (the current column's link flips the direction)."""

    key: str
    descending: bool
    links: dict[str, str]

    def aria(self, key: str) -> str:
        """``aria-sort`` for column ``key``."""
        if key != self.key:
            return "none"
        return "descending" if self.descending else "ascending"


def sort_order(request: Request, keys: tuple[str, ...], default: str) -> Sort:
    """The order the query string asks among ``keys``; anything else is ``default`` (e.g. ``-created``)."""
    raw = (request.query_params.get("sort") or "").strip()
    name = raw.removeprefix("-")
    if name not in keys:
        raw, name = default, default.removeprefix("-")
    descending = raw.startswith("-")
    links = {}
    for key in keys:
        flip = "" if key == name and descending else "-" if key == name else ""
        links[key] = with_query(request, sort=f"{flip}{key}", page=None)
    return Sort(name, descending, links)
