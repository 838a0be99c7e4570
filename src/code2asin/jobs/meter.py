"""What one chunk run has done and spent between its commits: the live progress and the caps.

Before each provider call the runner asks ``ChunkRunner._keep_going(cost)``. That one transaction renews
the chunk's lease, writes the chunk's live counters (rows looked up, rows enriched) and adds the call's
cost to the job's ``provider_calls`` / ``keepa_tokens``, in one conditional UPDATE that also enforces the
job's caps (``max_calls``, ``max_keepa_tokens``), so concurrent chunks can never spend past a cap.

* A row is *looked up* once its code has an identify answer (from the cache or a call), and *enriched* once
  every candidate ASIN of it has been through the last enrich stage (a code with no candidate has nothing
  to enrich; a plan without enrich stages enriches nothing).
* The counters are the run's own: leasing a chunk resets them, committing it moves its rows to the job's
  ``processed_codes``, so a released or taken-over chunk is never counted twice.
* A Keepa call is charged one token per code or ASIN sent before it leaves (what the caps check), then
  set right to the tokens Keepa says it consumed (one per product returned: a code not found costs
  nothing) with the next call or the commit. A quick in-run retry of a failed call counts as one more
  call, and its tokens as consumed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Cost:
    calls: int = 1
    keepa_tokens: int = 0


NO_COST = Cost(0)


@dataclass
class ChunkMeter:
    #: gtin -> rows of the chunk with that code
    rows_per_gtin: Counter[str] = field(default_factory=Counter)
    looked_up: set[str] = field(default_factory=set)
    #: gtin -> candidate ASINs still to be enriched (set once the code is looked up)
    waiting: dict[str, set[str]] = field(default_factory=dict)
    enriched: set[str] = field(default_factory=set)
    #: calls made beyond those announced (in-run retries), charged with the next announced call
    unbilled_calls: int = 0
    #: Keepa tokens consumed less those charged up front (negative: a refund), set right the same way
    unbilled_tokens: int = 0

    def codes_looked_up(self, answers: dict[str, Iterable[str]]) -> None:
        """``answers``: gtin -> its candidate ASINs."""
        for gtin, asins in answers.items():
            self.looked_up.add(gtin)
            self.waiting[gtin] = set(asins)

    def asins_enriched(self, asins: Iterable[str]) -> None:
        done = set(asins)
        for gtin in [g for g, left in self.waiting.items() if not left - done]:
            del self.waiting[gtin]
            self.enriched.add(gtin)
        for left in self.waiting.values():
            left.difference_update(done)

    @property
    def looked_up_rows(self) -> int:
        return sum(self.rows_per_gtin[g] for g in self.looked_up)

    @property
    def enriched_rows(self) -> int:
        return sum(self.rows_per_gtin[g] for g in self.enriched)


class Spent(Protocol):
    provider_calls: int
    keepa_tokens: int


def cap_reason(job: Spent, max_calls: int | None, max_tokens: int | None, cost: Cost, calls: int) -> str:
    """Why a job pauses before a call of ``cost`` (``calls`` with the retries not billed yet)."""
    if max_calls and job.provider_calls + calls > max_calls:
        return (
            f"Paused: the job reached its cap of {max_calls} provider calls (max_calls); resume it "
            "with a higher cap to go on."
        )
    return (
        f"Paused: the next Keepa call needs {cost.keepa_tokens} tokens and the job has spent "
        f"{job.keepa_tokens} of its {max_tokens} (max_keepa_tokens); resume it with a higher cap "
        "to go on."
    )
