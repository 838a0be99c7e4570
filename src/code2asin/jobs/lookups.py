"""A chunk's provider calls: identify its codes, enrich the candidate ASINs stage by stage, retry a
batch-wide blip quickly; answers go through the lookup cache both ways. ``ChunkRunner`` runs them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from code2asin import observability
from code2asin.errors import ConfigurationError, ErrorType, ProviderError
from code2asin.jobs.cache import LookupCacheStore, candidate_from_dict, candidate_to_dict
from code2asin.jobs.meter import ChunkMeter, Cost
from code2asin.jobs.rows import merge_candidates
from code2asin.providers.base import Candidate, EnrichProvider, LookupCode, LookupOutcome
from code2asin.providers.client_support import counting_calls
from code2asin.providers.stages import Plan

#: quick retries inside one run before a row waits for the schedule (a blip should not cost 1 minute)
IN_RUN_RETRIES = 2
MAX_IN_RUN_WAIT_SECONDS = 30.0

KeepGoing = Callable[[Cost], bool]


def _cost(provider: object, items: int) -> Cost:
    """One call; a Keepa call costs a token per code or ASIN sent."""
    return Cost(1, items if getattr(provider, "name", "") == "keepa" else 0)


class ChunkLookups:
    """The provider calls of one chunk run (a base of ``ChunkRunner``, which sets ``cache`` and ``sleep``)."""

    cache: LookupCacheStore | None
    sleep: Callable[[float], None]

    def _lookups(
        self,
        plan: Plan,
        keep_going: KeepGoing,
        codes: list[LookupCode],
        marketplace: str,
        meter: ChunkMeter | None = None,
        known_asins: Iterable[str] = (),
    ) -> tuple[dict[str, LookupOutcome], Enricher, bool]:
        """Identify ``codes`` and enrich their candidates, every stage fed as soon as its inputs exist.

        Each enrich stage gets the candidate ASINs of each identify answer at once, and calls with a full
        batch (Creators 10, SP-API pricing 20, Keepa 100) as soon as one is waiting, the rest once
        identification is done: a chunk keeps the identify quota and the enrich quotas busy at the same
        time instead of one after the other, for the same calls. ``known_asins`` (rows whose ASIN is
        already decided) are enriched with them. Returns the identify outcomes, the enricher (its
        ``results`` are the merged enrichment and the passing failures; it can take more ASINs, such as a
        title search's), and whether it stopped.
        """
        enricher = Enricher(self, plan, keep_going, marketplace, meter)
        stopped = enricher.feed(list(known_asins))
        outcomes: dict[str, LookupOutcome] = {}
        if not stopped:
            listener = enricher.feed if enricher.queues else None
            outcomes, stopped = self._identify(plan, keep_going, codes, marketplace, meter, listener)
        if not stopped:
            stopped = enricher.drain(full_only=False)
        if not enricher.queues and meter is not None:  # nothing to enrich: a code looked up is done
            meter.asins_enriched(_asins(outcomes.values()))
        return outcomes, enricher, stopped

    def _identify(
        self,
        plan: Plan,
        keep_going: KeepGoing,
        codes: list[LookupCode],
        marketplace: str,
        meter: ChunkMeter | None = None,
        on_answers: Callable[[list[str]], bool] | None = None,
    ) -> tuple[dict[str, LookupOutcome], bool]:
        """Identify ``codes`` (the cache first, then batches); ``on_answers`` hears the candidate ASINs of
        each batch of answers and returns True to stop."""
        provider = plan.identify
        outcomes: dict[str, LookupOutcome] = {}
        if self.cache is not None:
            keys = (f"gtin:{c.gtin}" for c in codes)
            cached = self.cache.get(plan.cache_name(provider.name), marketplace, keys)
            for key, payload in cached.items():
                outcomes[key[5:]] = LookupOutcome(
                    candidates=[candidate_from_dict(c) for c in payload.get("candidates", [])],
                    api_response={**(payload.get("api_response") or {}), "cached": True},
                )
        if meter is not None:
            meter.codes_looked_up({g: (c.asin for c in o.candidates) for g, o in outcomes.items()})
        if on_answers is not None and outcomes and on_answers(_asins(outcomes.values())):
            return outcomes, True
        missing = [c for c in codes if c.gtin not in outcomes]
        for batch in _batches(provider, missing):
            if not keep_going(_cost(provider, len(batch))):
                return outcomes, True
            gtins = [c.gtin for c in batch]
            charged = _cost(provider, len(batch)).keepa_tokens
            answer = self.with_retries(partial(provider.identify, batch), gtins, _outcome_of, meter, charged)
            fresh = {}
            for code in batch:
                outcome = answer.get(code.gtin) or LookupOutcome(
                    error=ProviderError("The provider gave no answer for this code.", ErrorType.UNKNOWN)
                )
                outcomes[code.gtin] = outcome
                if outcome.error is None:
                    fresh[f"gtin:{code.gtin}"] = {
                        "candidates": [candidate_to_dict(c) for c in outcome.candidates],
                        "api_response": outcome.api_response,
                    }
            if self.cache is not None:
                self.cache.put(plan.cache_name(provider.name), marketplace, fresh, prices=False)
            if meter is not None:
                meter.codes_looked_up({g: (c.asin for c in outcomes[g].candidates) for g in gtins})
            if on_answers is not None and on_answers(_asins(outcomes[g] for g in gtins)):
                return outcomes, True
        return outcomes, False

    def with_retries(
        self,
        call: Callable[[], dict[str, Any]],
        keys: list[str],
        wrap: Callable[[ProviderError], Any],
        meter: ChunkMeter | None = None,
        charged_tokens: int = 0,
    ) -> dict[str, Any]:
        """Call a provider; a batch-wide transient failure is retried quickly a couple of times.

        ``wrap`` turns an exception raised for the whole batch into each key's answer. The API requests the
        call really sent (an SP-API batch is one request per identifier type and page; a retry repeats them)
        are billed to ``meter`` beyond the one call ``keep_going`` charged, and the Keepa tokens the answers
        consumed replace the ``charged_tokens`` it charged up front.
        """
        for attempt in range(IN_RUN_RETRIES + 1):
            try:
                with counting_calls() as sent:
                    try:
                        answer = observability.observed_call(call)
                    finally:
                        if meter is not None:  # the call was announced as one; bill what it really sent
                            meter.unbilled_calls += sent[0] - (0 if attempt else 1)
                            meter.unbilled_tokens += sent[1] - (0 if attempt else charged_tokens)
            except ConfigurationError:
                raise
            except ProviderError as exc:
                # a call our own pacing declined comes back at its retry time, not in this run
                if exc.error_type is ErrorType.INVALID_DATA or not exc.sent or attempt == IN_RUN_RETRIES:
                    return {k: wrap(exc) for k in keys}
                self.sleep(min(exc.retry_after or float(2**attempt), MAX_IN_RUN_WAIT_SECONDS))
                continue
            errors = [v.error if isinstance(v, LookupOutcome) else v for v in answer.values()]
            transient = [
                e
                for e in errors
                if isinstance(e, ProviderError) and e.error_type is not ErrorType.INVALID_DATA
            ]
            if transient and len(transient) == len(keys) and attempt < IN_RUN_RETRIES:
                self.sleep(min(transient[0].retry_after or float(2**attempt), MAX_IN_RUN_WAIT_SECONDS))
                continue
            return answer
        return {}


class Enricher:
    """The enrich stages of one chunk run: fed ASINs, each stage calls with full batches, answers through
    the cache; an ASIN goes through each stage once however often it is fed."""

    def __init__(
        self,
        lookups: ChunkLookups,
        plan: Plan,
        keep_going: KeepGoing,
        marketplace: str,
        meter: ChunkMeter | None,
    ) -> None:
        self.lookups, self.keep_going, self.marketplace, self.meter = lookups, keep_going, marketplace, meter
        self.queues = [_StageQueue(stage, plan.cache_name(stage.name)) for stage in plan.enrich]
        self.stages_done: Counter[str] = Counter()

    def _done(self, asins: list[str]) -> None:
        if self.meter is None:
            return
        finished = []
        for asin in asins:
            self.stages_done[asin] += 1
            if self.stages_done[asin] == len(self.queues):
                finished.append(asin)
        self.meter.asins_enriched(finished)

    def drain(self, full_only: bool) -> bool:
        """Call each stage with its waiting ASINs (only full batches when ``full_only``); True: stopped."""
        cache = self.lookups.cache
        for queue in self.queues:
            size = max(1, queue.stage.enrich_batch_size)
            while queue.waiting and (len(queue.waiting) >= size or not full_only):
                batch, queue.waiting = queue.waiting[:size], queue.waiting[size:]
                cost = _cost(queue.stage, len(batch))
                if not self.keep_going(cost):
                    return True
                call = partial(queue.stage.enrich, batch)
                answer = self.lookups.with_retries(call, batch, _error_of, self.meter, cost.keepa_tokens)
                fresh = queue.take(answer, batch)
                if cache is not None:
                    cache.put(queue.cache_name, self.marketplace, fresh, prices=True)
                self._done(batch)
        return False

    def feed(self, asins: list[str]) -> bool:
        """Queue ``asins`` for each stage (cached answers taken at once) and call full batches."""
        cache = self.lookups.cache
        for queue in self.queues:
            new = [a for a in dict.fromkeys(asins) if a not in queue.seen]
            queue.seen.update(new)
            if cache is not None and new:
                keys = (f"asin:{a}" for a in new)
                for key, payload in cache.get(queue.cache_name, self.marketplace, keys).items():
                    queue.found[key[5:]] = candidate_from_dict(payload)
                self._done([a for a in new if a in queue.found])
            queue.waiting += [a for a in new if a not in queue.found]
        if self.meter is not None:
            self.meter.asins_enriched(())  # codes without a candidate have nothing to enrich
        return self.drain(full_only=True)

    def results(self) -> tuple[dict[str, Candidate], dict[str, ProviderError]]:
        """The merged enrichment (stage order kept) and the passing enrich failures."""
        merged: dict[str, Candidate] = {}
        failures: dict[str, ProviderError] = {}
        for queue in self.queues:
            for asin, candidate in queue.found.items():
                merged[asin] = merge_candidates(merged.get(asin), candidate)
            for asin, error in queue.failures.items():
                failures.setdefault(asin, error)
        return merged, failures


class _StageQueue:
    """One enrich stage of a chunk run: the ASINs it has seen, those waiting for a call, its answers."""

    def __init__(self, stage: EnrichProvider, cache_name: str) -> None:
        self.stage = stage
        self.cache_name = cache_name
        self.seen: set[str] = set()
        self.waiting: list[str] = []
        self.found: dict[str, Candidate] = {}
        self.failures: dict[str, ProviderError] = {}

    def take(self, answer: dict[str, Any], batch: list[str]) -> dict[str, dict[str, Any]]:
        """Keep a call's answers; returns the fresh ones for the lookup cache."""
        fresh = {}
        for asin in batch:
            value = answer.get(asin)
            if isinstance(value, Candidate):
                self.found[asin] = value
                fresh[f"asin:{asin}"] = candidate_to_dict(value)
            elif isinstance(value, ProviderError) and value.error_type is not ErrorType.INVALID_DATA:
                self.failures.setdefault(asin, value)
        return fresh


def _asins(outcomes: Iterable[LookupOutcome]) -> list[str]:
    """The candidate ASINs of the answers that carry no error (those are enriched)."""
    return [c.asin for o in outcomes if o.error is None for c in o.candidates]


def _batches(provider: object, codes: list[LookupCode]) -> list[list[LookupCode]]:
    """``codes`` in batches of the provider's size; a provider with a ``batch_key`` (SP-API's identifier
    type: one request each) gets batches of one key, so a mixed EAN/UPC chunk costs no extra request."""
    size = max(1, int(getattr(provider, "identify_batch_size", 1)))
    key = getattr(provider, "batch_key", None)
    groups: dict[str, list[LookupCode]] = {}
    for code in codes:
        groups.setdefault(key(code) if key is not None else "", []).append(code)
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def _outcome_of(error: ProviderError) -> LookupOutcome:
    return LookupOutcome(error=error)


def _error_of(error: ProviderError) -> ProviderError:
    return error
