"""The mix benchmark's plans and counted operations, and what one plan's run measured (``PlanResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

PLANS = ("creators", "spapi", "keepa", "spapi+creators", "creators+keepa", "spapi+creators+keepa")
BASELINE = "creators"
MARKETPLACE = "FR"
OK_STATUSES = frozenset({200, 404})
IDENTIFY_OPS = frozenset({"searchItems", "searchCatalogItems", "keepaProduct(code)"})
ENRICH_OPS = frozenset({"getItems", "getCompetitivePricing", "keepaProduct(asin)"})
COUNTED_OPS = ("token", "keepaToken")
DRAIN_CLOCK_AHEAD = timedelta(days=1)
#: tokens the Keepa client wants before a full call (one per code or ASIN sent, 100 per call)
KEEPA_CALL_TOKENS = 100
QUOTA_LABELS = {
    "creators": "Creators {rate:g}/s",
    "catalog": "SP-API catalog {rate:g}/s",
    "pricing": "SP-API pricing {rate:g}/s",
    "keepa": "Keepa {per_minute:g} tok/min",
}


@dataclass
class OpStats:
    """One sandbox operation over the window: answered calls, what they carried, throttled calls."""

    calls: int = 0  # answered (HTTP 200, or 404 for an unknown code)
    items: int = 0  # codes or ASINs sent in answered calls
    distinct: int = 0  # distinct codes or ASINs among them
    throttled: int = 0  # HTTP 429
    other: int = 0  # any other status
    times: list[float] = field(
        default_factory=list
    )  # when answered calls reached the sandbox (s after start)


@dataclass
class PlanResult:
    plan: str
    window: float = 0.0
    total_rows: int = 0
    committed: int = 0  # rows the live job had committed at the deadline
    done: int = 0  # rows ended after the drain (committed included)
    statuses: dict[str, int] = field(default_factory=dict)
    identified: int = 0  # codes with an identify answer in the lookup cache
    asins_per_code: float = 0.0  # a
    ops: dict[str, OpStats] = field(default_factory=dict)
    keepa_left: int | None = None  # Keepa balance at the deadline
    job_status: str = ""
    job_error: str | None = None
    warnings: dict[str, int] = field(default_factory=dict)
    failure: str | None = None

    @property
    def codes_per_hour(self) -> float:
        return self.done / self.window * 3600 if self.window else 0.0


