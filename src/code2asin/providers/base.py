"""The provider protocol.

A provider has up to two stages:

* **identify**: barcodes -> candidate Amazon items, each with the identifiers Amazon returned for it;
* **enrich**: ASINs -> the same ``Candidate`` shape filled with title, brand, offer, images, rank.

A provider may also search by words (``TitleSearchProvider``): the fallback for a code Amazon does not
find by barcode, with the supplier's title and brand.

Each provider declares its batch sizes. A job's plan composes stages (for example identify with SP-API,
enrich with Creators ``getItems``). Errors are ``code2asin.errors.ProviderError`` (classified) or
``ConfigurationError`` (stop the job).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable

from code2asin.errors import ProviderError


@dataclass(frozen=True, slots=True)
class LookupCode:
    """One valid barcode to look up. ``gtin`` is the 14-digit key; ``code`` the code as written."""

    gtin: str
    code: str
    code_type: str  # barcodes.CodeType value: EAN, EAN8, UPC, UPC_E, GTIN14, ISBN10, ISBN13


@dataclass(frozen=True, slots=True)
class TitleQuery:
    """A supplier's words for a product its barcode did not find: the title, and the brand when known."""

    title: str
    brand: str | None = None


@dataclass(slots=True)
class Candidate:
    """An Amazon item as a provider saw it. Fields a provider does not serve stay ``None``/empty."""

    asin: str
    source: str
    #: identifier type (``EAN``, ``UPC``, ``ISBN``, ``GTIN``, ``JAN``) -> values as Amazon returned them
    identifiers: dict[str, list[str]] = field(default_factory=dict)
    title: str | None = None
    brand: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    buy_box: bool | None = None
    availability: str | None = None
    images: list[str] = field(default_factory=list)
    sales_rank: int | None = None
    detail_page_url: str | None = None
    package_quantity: int | None = None
    parent_asin: str | None = None
    #: SP-API itemClassification (BASE_PRODUCT, VARIATION_PARENT, PRODUCT_BUNDLE, OTHER) when known
    item_classification: str | None = None
    rating: float | None = None
    review_count: int | None = None
    #: which provider supplied each enriched field (field name -> provider name)
    field_sources: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class LookupOutcome:
    """The result of identifying one code: candidates (possibly none = not found) or an error."""

    candidates: list[Candidate] = field(default_factory=list)
    error: ProviderError | None = None
    #: a trimmed copy of the provider's answer for the conversion log (never a secret)
    api_response: dict[str, object] | None = None
    #: how long the call took, in milliseconds, shared by the codes of one batch
    elapsed_ms: int = 0


@runtime_checkable
class IdentifyProvider(Protocol):
    name: str
    identify_batch_size: int

    def identify(self, codes: Sequence[LookupCode]) -> dict[str, LookupOutcome]:
        """Look up ``codes``; the answer is keyed by ``LookupCode.gtin`` and has one entry per code."""
        ...


@runtime_checkable
class EnrichProvider(Protocol):
    name: str
    enrich_batch_size: int

    def enrich(self, asins: Sequence[str]) -> dict[str, Candidate | ProviderError]:
        """Fetch item data for ``asins``; one entry per ASIN (a missing item is a ``ProviderError``)."""
        ...


@runtime_checkable
class TitleSearchProvider(Protocol):
    name: str

    def search_title(self, query: TitleQuery) -> list[Candidate]:
        """One search request (first result page only): candidates in the provider's order, [] when none.
        Raises ``ProviderError`` (classified like identify's whole-batch failures) or
        ``ConfigurationError``."""
        ...
