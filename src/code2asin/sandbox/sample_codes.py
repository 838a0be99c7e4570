"""Valid barcodes to feed the sandbox: ``generate_codes`` and stable example codes by category and by
how marketplaces list them (``example_codes``, ``marketplace_example_codes``, ``multi_marketplace_codes``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from code2asin.sandbox.catalogue import listing_kind, marketplace_asin
from code2asin.sandbox.categories import CATEGORY_RATES, _has_multipack, _pack_gtin14, code_category
from code2asin.sandbox.encoding import gs1_check_digit, stable_hash, to_gtin14
from code2asin.sandbox.listings import (
    LOCAL_ASIN,
    NOT_SOLD,
    REFERENCE_MARKETPLACE,
    SAME_ASIN,
    _is_ordinary,
    marketplace_code,
)

_h = stable_hash


_DEMO_PREFIXES = ("30", "31", "32", "33", "34", "35", "36", "37", "40", "41", "42", "43", "50", "80",
                  "84", "87", "54", "76", "00", "01", "03", "06", "07", "08", "09", "978", "979")


def generate_codes(count: int, *, seed: int = 0) -> Iterator[str]:
    """Yield ``count`` distinct-looking valid EAN-13 codes (UPC-A 12-digit for 0-prefixed ones, ~1 in 5)."""
    for i in range(count):
        prefix = _DEMO_PREFIXES[_h("gp", seed, i) % len(_DEMO_PREFIXES)]
        body = f"{_h('gb', seed, i) % 10**12:012d}"
        data = (prefix + body)[:12]
        ean = data + gs1_check_digit(data)
        yield ean[1:] if ean.startswith("0") else ean


@lru_cache(maxsize=1)
def _examples() -> dict[str, tuple[str, ...]]:
    wanted = (*CATEGORY_RATES, "upc_spelling", "book")
    found: dict[str, list[str]] = {name: [] for name in wanted}
    for code in generate_codes(200_000, seed=20_260_601):
        category = code_category(code)
        if category in found and len(found[category]) < 5:
            found[category].append(code)
        if all(len(v) >= 5 for v in found.values()):
            break
    multipacks = [c for c in found["multipack"] if _has_multipack(to_gtin14(c) or "")]
    found["pack_gtin14"] = [_pack_gtin14(to_gtin14(c) or "") for c in multipacks[:3]]
    return {name: tuple(codes) for name, codes in found.items()}


def example_codes() -> dict[str, list[str]]:
    """Category -> a few valid barcodes of that category (stable across processes and versions of this file
    as long as the salt and the rates do not change). ``pack_gtin14`` are GTIN-14 case codes of multipacks."""
    return {name: list(codes) for name, codes in _examples().items()}


# --- per-marketplace examples ---------------------------------------------------------------------------

_MARKET_SEED = 20_260_602
_SEARCH_LIMIT = 400_000


@dataclass(frozen=True, slots=True)
class ListingExample:
    """An ordinary code and how one marketplace lists it (``kind`` is a ``listing_kind`` value)."""

    code: str
    marketplace: str
    kind: str
    reference_asin: str  # its ASIN on FR
    asin: str | None  # its ASIN on ``marketplace``; None when not sold there

    @property
    def local_asin(self) -> str | None:
        """The local ASIN when ``kind`` is ``local_asin``, else None."""
        return self.asin if self.kind == LOCAL_ASIN else None


@dataclass(frozen=True, slots=True)
class MultiMarketplaceCode:
    """An ordinary code with its ASIN on each of several marketplaces (None: not sold there)."""

    code: str
    asins: tuple[tuple[str, str | None], ...]  # (marketplace, ASIN) in the order asked for

    def asin(self, marketplace: str) -> str | None:
        return dict(self.asins)[marketplace_code(marketplace)]

    def kind(self, marketplace: str) -> str:
        return listing_kind(self.code, marketplace)

    @property
    def sold_everywhere(self) -> bool:
        return all(asin is not None for _, asin in self.asins)


def _ordinary_codes() -> Iterator[str]:
    """Ordinary codes (their product sold with a price on FR), in a fixed order."""
    for code in generate_codes(_SEARCH_LIMIT, seed=_MARKET_SEED):
        gtin = to_gtin14(code)
        if gtin is not None and _is_ordinary(gtin):
            yield code


@lru_cache(maxsize=64)
def _listing_examples(country: str, count: int) -> dict[str, tuple[ListingExample, ...]]:
    kinds = (SAME_ASIN,) if country == REFERENCE_MARKETPLACE else (SAME_ASIN, LOCAL_ASIN, NOT_SOLD)
    found: dict[str, list[ListingExample]] = {kind: [] for kind in (SAME_ASIN, LOCAL_ASIN, NOT_SOLD)}
    for code in _ordinary_codes():
        kind = listing_kind(code, country)
        if len(found[kind]) < count:
            reference = marketplace_asin(code, REFERENCE_MARKETPLACE) or ""
            asin = marketplace_asin(code, country)
            found[kind].append(ListingExample(code, country, kind, reference, asin))
        if all(len(found[k]) >= count for k in kinds):
            break
    return {kind: tuple(examples) for kind, examples in found.items()}


def marketplace_example_codes(marketplace: str, count: int = 5) -> dict[str, list[ListingExample]]:
    """Kind (``same_asin``, ``local_asin``, ``not_sold``) -> ``count`` ordinary codes listed that way on
    ``marketplace`` (stable across processes). On FR only ``same_asin`` has codes."""
    examples = _listing_examples(marketplace_code(marketplace), count)
    return {kind: list(codes) for kind, codes in examples.items()}


@lru_cache(maxsize=64)
def _multi_marketplace_codes(
    countries: tuple[str, ...], count: int, not_sold: int
) -> tuple[MultiMarketplaceCode, ...]:
    locals_wanted = count // 3 if any(c != REFERENCE_MARKETPLACE for c in countries) else 0
    same: list[MultiMarketplaceCode] = []
    local: list[MultiMarketplaceCode] = []
    missing: list[MultiMarketplaceCode] = []
    for code in _ordinary_codes():
        entry = MultiMarketplaceCode(code, tuple((c, marketplace_asin(code, c)) for c in countries))
        kinds = {listing_kind(code, c) for c in countries}
        if entry.sold_everywhere:
            bucket = local if LOCAL_ASIN in kinds else same
            wanted = locals_wanted if LOCAL_ASIN in kinds else count - locals_wanted
            if len(bucket) < wanted:
                bucket.append(entry)
        elif len(missing) < not_sold and any(asin for _, asin in entry.asins):
            missing.append(entry)
        if len(same) + len(local) == count and len(missing) == not_sold:
            break
    else:  # pragma: no cover - the code space is far larger than any test needs
        raise ValueError(f"Not enough example codes for {count} + {not_sold} codes on {countries}.")
    mixed = [*same]
    for n, entry in enumerate(local):  # spread the local-ASIN codes among the others
        mixed.insert(min(len(mixed), 1 + 3 * n), entry)
    return (*mixed, *missing)


def multi_marketplace_codes(
    count: int, marketplaces: Sequence[str] = ("FR", "DE", "IT"), *, not_sold: int = 0
) -> list[MultiMarketplaceCode]:
    """``count`` ordinary codes sold with a price on every one of ``marketplaces`` (``count // 3`` of them,
    spread among the others, under a local ASIN on at least one), then ``not_sold`` codes sold on some of
    them but not on at least one (FR, the reference, sells every one). Stable across processes.

    Raises ``ValueError`` when ``not_sold`` codes are asked for but every marketplace is FR.
    """
    countries = tuple(dict.fromkeys(marketplace_code(m) for m in marketplaces))
    if not_sold and all(c == REFERENCE_MARKETPLACE for c in countries):
        raise ValueError("FR sells every ordinary code: ask for another marketplace to get unsold codes.")
    return list(_multi_marketplace_codes(countries, count, not_sold))
