"""The title search fallback of a chunk run: rows whose code found nothing are searched by title and brand.

A row qualifies when the job asked for it (``title_search``), the row has a supplier title, its code's
lookup succeeded and gave no accepted match, and the plan has a stage that can search by title (Creators
``searchItems``, SP-API ``searchCatalogItems`` with keywords, Keepa product search). One search per
distinct (title, brand) of the chunk, paced and charged like any call (a Keepa search costs 10 tokens,
``providers.keepa.SEARCH_PAGE_TOKENS``), answers kept in the lookup cache for 7 days. The candidates a first
scoring leaves in reach of the threshold (at most ``ENRICH_AT_MOST``) go through the plan's enrich stages, so
the price and the full data of the winner are known; then ``title_match.decide_by_title`` chooses. The row's
decision is always ``fuzzy`` and carries the code's reason, then the title search's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from code2asin import matching, title_match
from code2asin.errors import ErrorType, ProviderError
from code2asin.jobs.cache import candidate_from_dict, candidate_to_dict
from code2asin.jobs.lookups import ChunkLookups, Enricher, KeepGoing
from code2asin.jobs.meter import ChunkMeter, Cost
from code2asin.jobs.models import ItemStatus, JobItem, MatchDecisionRecord
from code2asin.jobs.rows import merge_candidates, row_result
from code2asin.providers.base import Candidate, LookupOutcome, TitleQuery, TitleSearchProvider
from code2asin.providers.keepa import SEARCH_PAGE_TOKENS
from code2asin.providers.stages import Plan

ENRICH_AT_MOST = 3
#: how far under the threshold a first score may be and still be enriched: the most an agreeing price adds
_PRICE_REACH = title_match.MAX_SCORE * title_match.WEIGHTS["price"] * (1 - title_match.UNKNOWN)


@dataclass(frozen=True, slots=True)
class TitleRow:
    """A row to search by title: its words, its price, the code's decision, the ASINs a person rejected."""

    row_no: int
    title: str
    brand: str | None
    price: Decimal | None
    code_decision: matching.MatchDecision | None
    rejected: Collection[str] = ()

    @property
    def query(self) -> TitleQuery:
        return TitleQuery(" ".join(self.title.split()), " ".join(self.brand.split()) if self.brand else None)


def query_key(query: TitleQuery) -> str:
    """The lookup cache key of a title search (case and spacing do not matter)."""
    text = f"{query.title.casefold()}|{(query.brand or '').casefold()}"
    return "title:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def search_cost(searcher: TitleSearchProvider) -> Cost:
    return Cost(1, SEARCH_PAGE_TOKENS if searcher.name == "keepa" else 0)


class TitleStage(ChunkLookups):
    """The title search fallback (a base of ``ChunkRunner``)."""

    def _title_searches(
        self,
        plan: Plan,
        keep_going: KeepGoing,
        queries: Sequence[TitleQuery],
        marketplace: str,
        meter: ChunkMeter | None,
    ) -> tuple[dict[str, list[Candidate] | ProviderError], bool]:
        """Each query's candidates (or its error), from the cache or one search each; True: stopped."""
        searcher = plan.title_search
        assert searcher is not None
        cache_name = plan.cache_name(searcher.name) + "/title"
        wanted = {query_key(q): q for q in queries}
        answers: dict[str, list[Candidate] | ProviderError] = {}
        if self.cache is not None:
            for key, payload in self.cache.get(cache_name, marketplace, list(wanted)).items():
                answers[key] = [candidate_from_dict(c) for c in payload.get("candidates", [])]
        fresh: dict[str, dict[str, object]] = {}
        stopped = False
        for key, query in wanted.items():
            if key in answers:
                continue
            cost = search_cost(searcher)
            if not keep_going(cost):
                stopped = True
                break

            def call(q: TitleQuery = query, k: str = key) -> dict[str, list[Candidate]]:
                return {k: searcher.search_title(q)}

            answer = self.with_retries(call, [key], _as_error, meter, cost.keepa_tokens)
            value = answer.get(key, ProviderError("The title search gave no answer.", ErrorType.UNKNOWN))
            answers[key] = value
            if isinstance(value, list):
                fresh[key] = {"candidates": [candidate_to_dict(c) for c in value]}
        if self.cache is not None and fresh:  # one write for the chunk's searches, stopped or not
            self.cache.put(cache_name, marketplace, fresh, prices=False)
        return answers, stopped

    def _title_fallback(
        self,
        plan: Plan,
        keep_going: KeepGoing,
        rows: Sequence[TitleRow],
        enricher: Enricher,
        marketplace: str,
        meter: ChunkMeter | None,
        threshold: float,
    ) -> tuple[dict[int, tuple[matching.MatchDecision, list[Candidate]] | ProviderError], bool]:
        """Search ``rows`` by title, enrich the candidates in reach, decide; row_no -> (decision, the
        candidates it chose among) or the error that keeps the row on the retry schedule."""
        answers, stopped = self._title_searches(plan, keep_going, [r.query for r in rows], marketplace, meter)
        if stopped:
            return {}, True
        to_enrich: list[str] = []
        for row in rows:
            found = answers[query_key(row.query)]
            if isinstance(found, list):
                first = _decide(row, found, threshold)
                reach = [
                    s.asin
                    for s in first.candidates
                    if not s.ruled_out and s.score >= threshold - _PRICE_REACH
                ]
                to_enrich += reach[:ENRICH_AT_MOST]
        if enricher.feed(to_enrich) or enricher.drain(full_only=False):
            return {}, True
        enriched, failures = enricher.results()
        results: dict[int, tuple[matching.MatchDecision, list[Candidate]] | ProviderError] = {}
        for row in rows:
            found = answers[query_key(row.query)]
            if isinstance(found, ProviderError):
                results[row.row_no] = found
                continue
            merged = [merge_candidates(c, enriched.get(c.asin)) for c in found]
            decision = _decide(row, merged, threshold)
            failed = failures.get(decision.asin or "")
            if decision.accepted and failed is not None:
                results[row.row_no] = failed  # the winner's data could not be fetched: retry, not guess
                continue
            results[row.row_no] = (as_match_decision(row.code_decision, decision), merged)
        return results, False


def _decide(row: TitleRow, candidates: Sequence[Candidate], threshold: float) -> title_match.TitleDecision:
    return title_match.decide_by_title(
        candidates,
        supplier_title=row.title,
        supplier_brand=row.brand,
        supplier_price=row.price,
        threshold=threshold,
        rejected=row.rejected,
    )


def as_match_decision(
    code: matching.MatchDecision | None, title: title_match.TitleDecision
) -> matching.MatchDecision:
    """The row's decision: the title search's choice (always ``fuzzy``), after the code's reason."""
    scored = tuple(
        matching.ScoredCandidate(
            s.asin, s.score, None if s.ruled_out else matching.MatchType.FUZZY, s.reasons, False, None
        )
        for s in title.candidates
    )
    reason = " ".join(r for r in ((code.reason if code else ""), title.reason) if r)
    previous = code.candidates if code else ()
    if title.asin is None and code is not None and code.asin is not None:
        # nothing by title: the code's own below-threshold candidate stays the one reported
        return matching.MatchDecision(
            code.asin, code.match_type, code.confidence, False, previous + scored, reason, code.review
        )
    return matching.MatchDecision(
        title.asin,
        matching.MatchType.FUZZY if title.asin else None,
        title.confidence,
        title.accepted,
        previous + scored,
        reason,
        (title_match.REVIEW_FUZZY,) if title.accepted else (),
    )


def invalid_code_result(
    item: JobItem,
    outcome: LookupOutcome,
    candidates: list[Candidate],
    decision: matching.MatchDecision | None,
    now: datetime,
    actor: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The result of a row whose code is invalid, searched by title only: matched (fuzzy) when the title
    search found it, else ``invalid`` with the code's reason and the search's; a failed search retries."""
    if decision is None:  # the plan cannot search by title
        reason = "No stage of this plan searches by title."
        decision = matching.MatchDecision(None, None, 0.0, False, (), reason)
    values, log = row_result(item, outcome, candidates, decision, now, actor)
    if values["status"] == ItemStatus.MATCHED:
        values["error_message"] = " ".join(p for p in (item.error_message, values["error_message"]) if p)
    elif values["status"] == ItemStatus.NOT_FOUND:
        values.update(
            status=ItemStatus.INVALID,
            error_type=ErrorType.INVALID_DATA.value,
            error_message=" ".join(p for p in (item.error_message, decision.reason) if p),
        )
        log.update(change_reason="invalid", error_type=ErrorType.INVALID_DATA.value, level="warning")
    return values, log


def remembered_result(
    item: JobItem,
    record: MatchDecisionRecord,
    data: Candidate,
    supplier_code: str,
    now: datetime,
    actor: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The result of a row whose code a person decided for this supplier in an earlier job: ``manual``
    with the remembered ASIN (enriched, not looked up), logged as a manual change."""
    who = record.actor or "an unknown actor"
    when = record.decided_at.strftime("%Y-%m-%d") if record.decided_at else "an earlier day"
    reason = (
        f"Remembered decision: {who} accepted {record.asin} for this code of supplier {supplier_code} "
        f"on {when}."
    )
    decision = matching.MatchDecision(record.asin, matching.MatchType.MANUAL, 1.0, True, (), reason)
    values, log = row_result(item, LookupOutcome(), [data], decision, now, actor)
    by_whom = f"manual:{record.actor or 'unknown'}"
    values["field_sources"] = {**(values.get("field_sources") or {}), "asin": by_whom}
    log.update(change_reason="manual", actor=record.actor or actor)
    return values, log


def _as_error(error: ProviderError) -> ProviderError:
    return error
