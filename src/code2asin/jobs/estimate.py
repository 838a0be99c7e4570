"""How long a job will take and what it will spend: from its plan, the quotas and the lookup cache.

The model follows what the runner does. Rows run in chunks of 100; each chunk sends its codes that the
lookup cache does not hold to the identify stage in batches (SP-API 20 codes a call, Creators 1, Keepa 100),
then the candidate ASINs to each enrich stage (Creators ``getItems`` 10, SP-API pricing 20, Keepa 100).
Every stage waits on one quota bucket: SP-API catalogue, SP-API pricing, the Creators credential (shared by
``searchItems`` and ``getItems``) or the Keepa token balance. Each enrich stage is called as soon as a full
batch of candidates is waiting and chunks run side by side, so the stages overlap and the job lasts about
as long as its busiest bucket needs, plus the identify calls its first batch waits for.

* calls of a stage = the sum over chunks of ``ceil(items in the chunk / items per call)``;
* a bucket's time = its calls, less those our limiter lets through at once, at its pace (1 % under the
  quota, plus 10 ms for a bucket without burst: ``ratelimit.paced_seconds``);
* Keepa: one token per product it returns: ``asins_per_code`` per code sent (a code it does not know
  costs nothing, a shared code costs one per listing) and one per ASIN sent. Keepa serves calls
  while the balance is positive, so the balance covers that many, and beyond it tokens come at the
  refill rate (per minute). An unknown balance is said so and the time assumes it covers the job;
* enrich stages see ``asins_per_code`` ASINs per code that is looked up (``ASINS_PER_CODE``, 0.92: about
  one code in six is not found, and a code found has 1.1 listings on average). That is the one guess;
  the estimate says so, and a running job's remaining time uses the rate measured so
  far once there is one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from code2asin.config import Settings
from code2asin.db import Database
from code2asin.errors import ConfigurationError
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.creation import CHUNK_SIZE
from code2asin.jobs.models import ItemStatus, Job, JobItem, JobMode
from code2asin.jobs.progress import LiveProgress
from code2asin.providers.keepa import SEARCH_PAGE_TOKENS
from code2asin.providers.ratelimit import paced_interval, paced_seconds
from code2asin.providers.stages import parse_plan

#: per (provider, stage): the operation, its quota bucket and the items one call carries
OPERATIONS: dict[tuple[str, str], tuple[str, str, int]] = {
    ("spapi", "identify"): ("searchCatalogItems", "SP-API catalogue", 20),
    ("spapi", "enrich"): ("getCompetitivePricing", "SP-API pricing", 20),
    ("creators", "identify"): ("searchItems", "Creators", 1),
    ("creators", "enrich"): ("getItems", "Creators", 10),
    ("keepa", "identify"): ("product by code", "Keepa", 100),
    ("keepa", "enrich"): ("product by ASIN", "Keepa", 100),
}
#: the title search fallback's operation per identify provider (one search per row; Keepa: 10 tokens)
TITLE_OPERATIONS: dict[str, tuple[str, str]] = {
    "spapi": ("searchCatalogItems by keywords", "SP-API catalogue"),
    "creators": ("searchItems by title", "Creators"),
    "keepa": ("product search", "Keepa"),
}
#: the share of codes a real catalogue does not find by barcode (about one in six), for the title search
NOT_FOUND_SHARE = 0.16
#: products a code found returns on average (a barcode shared by several listings returns each of them)
PRODUCTS_PER_FOUND_CODE = 1.1
#: ASINs a code looked up yields on average (the enrich stages' items; Keepa's tokens by code)
ASINS_PER_CODE = round((1.0 - NOT_FOUND_SHARE) * PRODUCTS_PER_FOUND_CODE, 2)
#: Keepa's own request pacing (``providers.keepa.LIMITER_RATE``): calls per second while tokens last
KEEPA_CALLS_PER_SECOND = 10.0


@dataclass(frozen=True, slots=True)
class Quotas:
    """Requests per second of each bucket, and what is known of the Keepa balance."""

    creators_rate: float = 1.0
    spapi_catalog_rate: float = 2.0
    spapi_catalog_burst: int = 2
    spapi_pricing_rate: float = 0.5
    #: tokens the Keepa key holds now, and tokens per minute it refills (None: unknown)
    keepa_tokens_left: float | None = None
    keepa_refill_per_minute: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, plan: str = "") -> Quotas:
        """The configured rates; the ``sandbox`` plan's own Keepa has no token limit."""
        sandbox = plan.strip().lower() == "sandbox"
        return cls(
            creators_rate=settings.creators.requests_per_second,
            spapi_catalog_rate=settings.spapi.catalog_requests_per_second,
            spapi_catalog_burst=settings.spapi.catalog_burst,
            spapi_pricing_rate=settings.spapi.pricing_requests_per_second,
            keepa_tokens_left=math.inf if sandbox else None,
            keepa_refill_per_minute=math.inf if sandbox else None,
        )

    def rate(self, bucket: str) -> tuple[float, int]:
        return {
            "SP-API catalogue": (self.spapi_catalog_rate, self.spapi_catalog_burst),
            "SP-API pricing": (self.spapi_pricing_rate, 1),
            "Creators": (self.creators_rate, 1),
            "Keepa": (KEEPA_CALLS_PER_SECOND, 10),
        }[bucket]


@dataclass(frozen=True, slots=True)
class StageCost:
    provider: str
    stage: str  # identify | enrich
    operation: str
    bucket: str
    items: int  # codes or ASINs sent (what the cache does not hold)
    calls: int
    keepa_tokens: int


@dataclass(slots=True)
class Estimate:
    codes: int  # distinct codes to look up (valid ones), per marketplace summed
    cached_codes: int
    stages: list[StageCost]
    calls: int
    keepa_tokens: int
    seconds: float
    bottleneck: str
    #: bucket -> seconds it is busy
    buckets: dict[str, float] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 1)
        data["buckets"] = {k: round(v, 1) for k, v in self.buckets.items()}
        return data


def _stages(plan: str) -> list[tuple[str, str]]:
    try:
        names = parse_plan(plan)
    except ConfigurationError:
        return []  # a direct import calls no provider
    stages = [(names[0], "identify")] + [(n, "enrich") for n in names[1:]]
    if names == ["spapi"]:
        stages.append(("spapi", "enrich"))
    return stages


def _calls(items: int, per_call: int, chunk_items: float) -> int:
    """Calls for ``items`` sent chunk by chunk, ``chunk_items`` of them in a full chunk."""
    if items <= 0:
        return 0
    per_chunk = max(chunk_items, 1.0)
    full, rest = divmod(items, per_chunk)
    return int(full) * math.ceil(per_chunk / per_call) + math.ceil(rest / per_call)


def estimate(
    plan: str,
    quotas: Quotas,
    *,
    codes: int,
    cached_codes: int = 0,
    asins_per_code: float = ASINS_PER_CODE,
    chunk_size: int = CHUNK_SIZE,
    titled_codes: int | None = None,
    titled_invalid: int = 0,
) -> Estimate:
    """The calls, Keepa tokens and seconds ``codes`` distinct codes cost on ``plan`` (``cached_codes`` of
    them answered by the lookup cache: they cost no identify call, and their ASINs no enrich call).

    ``titled_codes`` (None: the job does not search by title) are the codes with a supplier title: the
    title search is expected for ``NOT_FOUND_SHARE`` of the fresh ones, each search then enriching one ASIN;
    ``titled_invalid`` rows (an invalid code, a title, ``title_search_invalid``) are all searched.
    """
    stages = _stages(plan)
    fresh = max(codes - cached_codes, 0)
    share = fresh / codes if codes else 0.0
    titled = round(min(titled_codes, codes) * share) if titled_codes else 0
    searches = round(titled * NOT_FOUND_SHARE) + titled_invalid
    costs: list[StageCost] = []
    busy: dict[str, float] = {}
    #: bucket -> seconds of identify calls before its first call can leave (its first batch's answers)
    wait_first: dict[str, float] = {}
    identify_pace = (1, 0.0)  # (codes per identify call, seconds between identify calls)
    assumptions: list[str] = []
    for provider, stage in stages:
        operation, bucket, per_call = OPERATIONS[(provider, stage)]
        ratio = 1.0 if stage == "identify" else asins_per_code
        items = round(fresh * ratio) + (searches if stage == "enrich" else 0)
        chunk_items = chunk_size * share * ratio
        calls = _calls(items, per_call, chunk_items)
        per_item = asins_per_code if stage == "identify" else 1.0  # a token per product returned
        tokens = round(items * per_item) if provider == "keepa" else 0
        costs.append(StageCost(provider, stage, operation, bucket, items, calls, tokens))
        rate, burst = quotas.rate(bucket)
        interval = paced_interval(rate, burst)
        busy[bucket] = busy.get(bucket, 0.0) + paced_seconds(calls, rate, burst)
        if stage == "identify":
            identify_pace = (per_call, interval)
        else:  # a stage is fed as identify answers come: its first full batch needs that many of them
            first_batch = min(per_call, chunk_items) / max(ratio, 1e-9)
            waited = math.ceil(first_batch / identify_pace[0]) * identify_pace[1]
            wait_first[bucket] = min(wait_first.get(bucket, waited), waited)
    if searches and stages:
        provider = stages[0][0]
        operation, bucket = TITLE_OPERATIONS[provider]
        title_tokens = searches * SEARCH_PAGE_TOKENS if provider == "keepa" else 0
        costs.append(StageCost(provider, "title search", operation, bucket, searches, searches, title_tokens))
        busy[bucket] = busy.get(bucket, 0.0) + searches * paced_interval(*quotas.rate(bucket))
    if titled_codes is not None and stages:
        assumptions.append(
            f"The title search is counted for {NOT_FOUND_SHARE:.0%} of the {titled} codes with a title "
            f"(about one code in six is not found by barcode): {searches} searches expected, at most "
            f"{titled}."
        )
    tokens = sum(c.keepa_tokens for c in costs)
    if any(provider == "keepa" for provider, _ in stages):
        by_code = asins_per_code if stages[0][0] == "keepa" else None
        assumptions += _keepa_time(tokens, quotas, busy, by_code)
    if any(stage == "enrich" for _, stage in stages):
        assumptions.append(
            f"Enrichment counts {asins_per_code:g} ASIN per code looked up; codes with several candidates "
            "cost more, codes not found cost nothing."
        )
    if not busy:
        return Estimate(codes, cached_codes, costs, 0, 0, 0.0, "", {}, assumptions)
    bottleneck = max(busy, key=lambda b: busy[b])
    # the bottleneck is busy from its first call on, which waits for the identify answers of its first batch
    fill = wait_first.get(bottleneck, 0.0)
    seconds = busy[bottleneck] + fill if fresh else 0.0
    calls = sum(c.calls for c in costs)
    return Estimate(codes, cached_codes, costs, calls, tokens, seconds, bottleneck, busy, assumptions)


def _keepa_time(tokens: int, quotas: Quotas, busy: dict[str, float], by_code: float | None) -> list[str]:
    """Add the refills ``tokens`` wait for beyond the balance to Keepa's busy time; the assumptions made
    (``by_code``: the tokens a code sent costs, when Keepa identifies the codes)."""
    said = []
    if by_code is not None:
        said.append(
            f"Keepa charges a token per product it returns: the tokens count {by_code:.2f} per "
            f"code sent (about one code in six is not found, and a code found returns "
            f"{PRODUCTS_PER_FOUND_CODE:g} products on average)."
        )
    left, refill = quotas.keepa_tokens_left, quotas.keepa_refill_per_minute
    if not tokens or "Keepa" not in busy:
        return said
    if left is None or refill is None:
        said.append(f"The Keepa balance is not known yet: the time assumes it covers the {tokens} tokens.")
    elif tokens > left:
        busy["Keepa"] = max(busy["Keepa"], (tokens - left) / max(refill, 1e-9) * 60.0)
    return said


def remaining_seconds(
    estimated: float | None, *, done: int, total: int, elapsed: float | None
) -> float | None:
    """Seconds left for a running job: the measured pace once a tenth of it is done (or 30 s have passed),
    else the estimate's share of what is left."""
    if total <= 0 or done >= total:
        return 0.0
    if elapsed is not None and done > 0 and (done >= total / 10 or elapsed >= 30):
        return elapsed / done * (total - done)
    if estimated is None:
        return None
    return estimated * (total - done) / total


def estimate_job(
    session: Session,
    job: Job,
    quotas: Quotas,
    cache: LookupCacheStore | None = None,
    cache_name: Callable[[str], str] = str,
) -> Estimate:
    """The estimate for what is left of ``job``: its distinct valid codes still pending, per marketplace,
    less those the lookup cache answers (``cache_name(provider)`` names the cache of the identify stage)."""
    pending: dict[str, set[str]] = {}
    titled: set[tuple[str, str]] = set()
    invalid = session.scalar(
        select(func.count()).where(
            JobItem.job_id == job.id,
            JobItem.status == ItemStatus.PENDING,
            JobItem.gtin.is_(None),
            JobItem.supplier_title.is_not(None),
        )
    )
    for marketplace, gtin, has_title in session.execute(
        select(JobItem.marketplace, JobItem.gtin, JobItem.supplier_title.is_not(None))
        .where(JobItem.job_id == job.id, JobItem.status == ItemStatus.PENDING, JobItem.gtin.is_not(None))
        .distinct()
    ):
        pending.setdefault(marketplace, set()).add(str(gtin))
        if has_title:
            titled.add((marketplace, str(gtin)))
    codes = sum(len(g) for g in pending.values())
    cached = 0
    stages = _stages(job.provider_plan)
    if cache is not None and stages:
        for marketplace, gtins in pending.items():
            cached += len(cache.get(cache_name(stages[0][0]), marketplace, (f"gtin:{g}" for g in gtins)))
    search = bool((job.options or {}).get("title_search"))
    return estimate(job.provider_plan, quotas, codes=codes, cached_codes=cached,
                    titled_codes=len(titled) if search else None, titled_invalid=int(invalid or 0))


def cache_namer(settings: Settings, plan: str) -> Callable[[str], str]:
    """The lookup cache's name of each provider for jobs run with ``settings`` (see ``Plan.cache_name``);
    the ``sandbox`` plan's answers are kept per run, so none is cached for it."""
    if plan.strip().lower() == "sandbox":
        return lambda provider: f"{provider}@sandbox-run"
    from code2asin.providers.plan import Endpoints, cache_scopes

    scopes = cache_scopes(Endpoints.from_settings(settings))
    return lambda provider: f"{provider}@{scopes[provider]}" if provider in scopes else provider


def quotas_for(settings: Settings, plan: str, marketplace: str) -> Quotas:
    """The configured rates, and the Keepa key's balance when the plan has Keepa (asked of Keepa)."""
    quotas = Quotas.from_settings(settings, plan=plan)
    if any(provider == "keepa" for provider, _ in _stages(plan)) and quotas.keepa_tokens_left is None:
        balance = keepa_balance(settings, marketplace)
        if balance is not None:
            quotas = replace(quotas, keepa_tokens_left=balance[0], keepa_refill_per_minute=balance[1])
    return quotas


def keepa_balance(settings: Settings, marketplace: str) -> tuple[float, float] | None:
    """The Keepa key's tokens left and refill per minute (``GET /token``, free), None when not known."""
    if settings.keepa.api_key is None:
        return None
    import httpx

    from code2asin.errors import Code2AsinError
    from code2asin.providers.keepa import KeepaClient

    try:
        with httpx.Client(timeout=5.0) as http:
            client = KeepaClient.from_settings(settings.keepa, marketplace=marketplace, http=http)
            state = client.refresh_balance()
    except (Code2AsinError, httpx.HTTPError, ValueError):
        return None
    return (float(state.tokens_left), float(state.refill_rate)) if state is not None else None


def record_estimate(
    db: Database, job_id: str, settings: Settings, cache_name: Callable[[str], str] | None = None
) -> Estimate | None:
    """Estimate the job ``job_id`` and keep the estimate on it (``jobs.estimate``); None for a direct
    import, which calls no provider."""
    cache = LookupCacheStore(db, settings.cache_ttl_seconds, settings.price_cache_ttl_seconds)
    with db.unit_of_work() as session:
        job = session.get(Job, job_id)
        if job is None or job.mode != JobMode.AMAZON:
            return None
        quotas = quotas_for(settings, job.provider_plan, job.marketplace)
        names = cache_name or cache_namer(settings, job.provider_plan)
        found = estimate_job(session, job, quotas, cache, names)
        # rows already final when estimated (invalid codes): the remaining time counts the others
        job.estimate = {**found.as_dict(), "rows_done": job.processed_codes}
        return found


def estimate_now(job: Job, live: LiveProgress, elapsed: float | None) -> dict[str, Any] | None:
    """The job's stored estimate with the time left now (``remaining_seconds``): progress counts a row half
    done once looked up and done once enriched."""
    if not job.estimate:
        return None
    start = int(job.estimate.get("rows_done") or 0)
    work = max(live.total - start, 0)
    done = max((live.looked_up + live.enriched) / 2 - start, 0)
    if job.status not in ("pending", "processing", "paused"):
        left: float | None = 0.0
    else:
        left = remaining_seconds(job.estimate.get("seconds"), done=round(done), total=work, elapsed=elapsed)
    return {**job.estimate, "remaining_seconds": None if left is None else round(left, 1)}


def format_duration(seconds: float) -> str:
    """``95`` -> ``1 min 35 s``; ``7300`` -> ``2 h 2 min``; ``0.3`` -> ``under 1 s`` (calls remain)."""
    if 0 < seconds < 0.5:
        return "under 1 s"
    seconds = max(round(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def describe_estimate(found: Estimate) -> str:
    """The estimate in one or two sentences (the CLI's line; the UI writes its own per language)."""
    if not found.codes:
        return "Estimate: no code to look up."
    cached = f", {found.cached_codes:,} of them from the lookup cache" if found.cached_codes else ""
    spent = f"{found.calls:,} provider calls"
    if found.keepa_tokens:
        spent += f" and {found.keepa_tokens:,} Keepa tokens"
    text = (
        f"Estimate: about {format_duration(found.seconds)} for {found.codes:,} codes{cached}: {spent}; "
        f"the slowest quota is {found.bottleneck}."
    )
    return " ".join([text, *found.assumptions])
