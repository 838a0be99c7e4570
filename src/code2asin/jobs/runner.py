"""The chunk runner: lease a chunk of up to 100 rows, look its codes up, match, enrich, commit once.

The same code runs in the embedded pool and in Celery workers; only the dispatcher differs.

* A chunk is leased with a conditional UPDATE (pending, or running with an expired lease), so two workers
  never run it at once and a crashed worker's chunk is taken over after one lease.
* Rows are upserted by primary key in one transaction per chunk: running a chunk twice does no harm.
* Duplicated codes are looked up once (per chunk, and across chunks and jobs through the lookup cache).
* Pause and cancel are database state, read between provider calls: the chunk stops and gives its
  unfinished rows back. A worker asked to shut down (SIGTERM) stops at the same point.
* A transient failure (network, rate limit, unknown) keeps the row pending with ``next_attempt_at`` on the
  1, 5, 15, 60, 240 minute schedule; after 5 attempts it ends ``failed``. ``invalid_data`` fails at once.
* A ``ConfigurationError`` (bad credentials, partner tag, eligibility) fails the whole job with its sentence.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from code2asin import barcodes, matching, observability, title_match
from code2asin.db import Database, rowcount
from code2asin.errors import ConfigurationError, ProviderError
from code2asin.image_tasks import enqueue_image_tasks
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.decisions import Remembered, code_key, decisions_for
from code2asin.jobs.job_end import complete_if_finished, fail_job
from code2asin.jobs.lifecycle import JobAction
from code2asin.jobs.lookups import Enricher
from code2asin.jobs.meter import NO_COST, ChunkMeter, Cost, cap_reason
from code2asin.jobs.models import (
    ChunkStatus,
    ConversionLog,
    ItemStatus,
    Job,
    JobChunk,
    JobItem,
    JobStatus,
    utcnow,
)
from code2asin.jobs.rows import merge_candidates, row_result
from code2asin.jobs.title_stage import TitleRow, TitleStage, invalid_code_result, remembered_result
from code2asin.providers.base import Candidate, LookupCode, LookupOutcome
from code2asin.providers.stages import Plan

log = logging.getLogger(__name__)


class ChunkOutcome(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"  # not leasable (done, leased by someone else, not due)
    RELEASED = "released"  # job paused/cancelled/not processing: unfinished rows given back
    WAITING = "waiting"  # some rows wait for a scheduled retry
    JOB_FAILED = "job_failed"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a chunk run reads from its job's options."""

    threshold: float = 0.5
    title_search: bool = False
    title_search_invalid: bool = False
    title_threshold: float = title_match.DEFAULT_THRESHOLD
    supplier_code: str = ""
    #: the supplier's remembered decisions for the chunk's codes (``jobs.decisions``), by code key
    remembered: dict[str, Remembered] = field(default_factory=dict)

    def decided(self, item: JobItem) -> Remembered | None:
        return self.remembered.get(code_key(item.gtin, item.input_code))


def _code_decisions(
    items: list[JobItem], codes: dict[str, LookupCode], merged: dict[str, list[Candidate]], run: RunOptions
) -> dict[int, matching.MatchDecision]:
    """Each looked-up row's choice among its code's candidates (``matching.decide``)."""
    decisions: dict[int, matching.MatchDecision] = {}
    for item in items:
        candidates = merged.get(item.gtin or "")
        decided = run.decided(item)
        if candidates is not None and decided is not None and decided.rejected:
            left_out = sorted({c.asin for c in candidates} & decided.rejected)
            candidates = [c for c in candidates if c.asin not in decided.rejected]
        else:
            left_out = []
        if candidates is not None:
            decisions[item.row_no] = matching.decide(
                codes[item.gtin or ""],
                candidates,
                supplier_title=item.supplier_title,
                threshold=run.threshold,
                supplier_price=item.supplier_price,
                supplier_asin=item.input_asin,
            )
            if left_out:
                decision = decisions[item.row_no]
                note = f" Left out {', '.join(left_out)}: rejected by a person for this supplier's code."
                decisions[item.row_no] = replace(decision, reason=decision.reason + note)
    return decisions


def _with_title(
    found: tuple[matching.MatchDecision, list[Candidate]] | ProviderError,
    outcome: LookupOutcome,
    candidates: list[Candidate],
) -> tuple[LookupOutcome, list[Candidate], matching.MatchDecision | None]:
    """A row's lookup, candidates and decision once its title search answered (or failed: retry)."""
    if isinstance(found, ProviderError):
        return LookupOutcome(error=found, api_response=outcome.api_response), candidates, None
    decision, title_candidates = found
    return outcome, candidates + title_candidates, decision


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=utcnow().tzinfo)
    return value


class ChunkRunner(TitleStage):
    def __init__(
        self,
        db: Database,
        plan: Plan,
        cache: LookupCacheStore | None,
        *,
        worker_id: str = "embedded",
        lease_seconds: int = 300,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
        plan_for: Callable[[str], Plan] | None = None,
        stop_requested: Callable[[], bool] | None = None,
    ) -> None:
        self.db = db
        #: the plan of the job's (first) marketplace; ``plan_for(marketplace)`` gives the others
        self.plan = plan
        self.plan_for = plan_for
        self.cache = cache
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.sleep = sleep
        self.clock = clock
        #: asked before each provider call: the process is shutting down, hand the chunk back now
        self.stop_requested = stop_requested

    # -- leasing ---------------------------------------------------------------------------------
    def _take_lease(self, job_id: str, chunk_no: int) -> tuple[str, bool] | None:
        """Lease the chunk; returns the lease token (unique per run) and whether this run takes it over
        from a lost run (its lease expired), or None when the chunk is not leasable."""
        now = self.clock()
        token = f"{self.worker_id}:{uuid.uuid4().hex[:12]}"
        leasable = {
            False: and_(
                JobChunk.status == ChunkStatus.PENDING,
                or_(JobChunk.next_attempt_at.is_(None), JobChunk.next_attempt_at <= now),
            ),
            True: and_(JobChunk.status == ChunkStatus.RUNNING, JobChunk.lease_expires_at < now),
        }
        with self.db.unit_of_work() as session:
            for takeover, condition in leasable.items():
                result = session.execute(
                    update(JobChunk)
                    .where(JobChunk.job_id == job_id, JobChunk.chunk_no == chunk_no, condition)
                    .values(
                        status=ChunkStatus.RUNNING,
                        lease_owner=token,
                        lease_expires_at=now + self.lease,
                        attempts=JobChunk.attempts + 1,
                        looked_up_rows=0,
                        enriched_rows=0,
                    )
                    .execution_options(synchronize_session=False)
                )
                if rowcount(result):
                    return token, takeover
        return None

    def _keep_going(
        self, job_id: str, chunk_no: int, token: str, meter: ChunkMeter | None, cost: Cost = NO_COST
    ) -> bool:
        """Before each provider call: is the job still processing, is the lease still ours, and does the
        call fit the job's caps?

        It renews the lease (so a chunk slowed by a shared quota is not taken over while alive), writes the
        chunk's live progress, and charges ``cost`` to the job; a call past a cap pauses the job with its
        reason instead (see ``jobs.meter``). A shutting-down process stops here too: the rows done so far
        are committed, the rest given back.
        """
        if self.stop_requested is not None and self.stop_requested():
            return False
        now = self.clock()
        calls = cost.calls + (meter.unbilled_calls if meter is not None else 0)
        tokens = cost.keepa_tokens + (meter.unbilled_tokens if meter is not None else 0)
        progress = (
            {"looked_up_rows": meter.looked_up_rows, "enriched_rows": meter.enriched_rows}
            if meter is not None
            else {}
        )
        with self.db.unit_of_work() as session:
            renewed = session.execute(
                update(JobChunk)
                .where(
                    JobChunk.job_id == job_id,
                    JobChunk.chunk_no == chunk_no,
                    JobChunk.lease_owner == token,
                    JobChunk.status == ChunkStatus.RUNNING,
                )
                .values(lease_expires_at=now + self.lease, **progress)
                .execution_options(synchronize_session=False)
            )
            if not rowcount(renewed):
                return False
            job = session.get(Job, job_id)
            if job is None or job.status != JobStatus.PROCESSING:
                return False
            if not calls and not tokens:
                return True
            options = job.options or {}
            max_calls, max_tokens = options.get("max_calls"), options.get("max_keepa_tokens")
            within = [Job.id == job_id, Job.status == JobStatus.PROCESSING]
            if max_calls:
                within.append(Job.provider_calls + calls <= int(max_calls))
            if max_tokens and cost.keepa_tokens:
                within.append(Job.keepa_tokens + tokens <= int(max_tokens))
            charged = session.execute(
                update(Job)
                .where(*within)
                .values(
                    provider_calls=Job.provider_calls + calls,
                    keepa_tokens=Job.keepa_tokens + tokens,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(charged):
                if meter is not None:
                    meter.unbilled_calls = meter.unbilled_tokens = 0
                return True
            session.refresh(job, with_for_update=True)  # one of the chunks that hit the cap pauses the job
            if job.status == JobStatus.PROCESSING:
                self._pause_for_cap(session, job, cost, calls)
            return False

    def _pause_for_cap(self, session: Any, job: Job, cost: Cost, calls: int) -> None:
        options = job.options or {}
        reason = cap_reason(job, options.get("max_calls"), options.get("max_keepa_tokens"), cost, calls)
        from code2asin.jobs import service

        service.transition(session, job, JobAction.PAUSE, actor=self.worker_id, detail={"reason": reason})
        job.error_message = reason
        log.info("job.paused.cap", extra={"job_id": job.id, "reason": reason})

    # -- the chunk -------------------------------------------------------------------------------
    @observability.observed_chunk
    def run_chunk(self, job_id: str, chunk_no: int) -> ChunkOutcome:
        """Run one chunk of one job; safe to call twice and from several workers."""
        lease = self._take_lease(job_id, chunk_no)
        if lease is None:
            return ChunkOutcome.SKIPPED
        token, takeover = lease
        if not takeover:
            return self._run_leased(job_id, chunk_no, token)
        # a lost run's chunk: its committed-nothing rows are redone, and the calls it had in flight with
        # them (the rest are in the lookup cache); the calls of this run are counted as redone
        observability.CHUNK_TAKEOVERS.inc()
        log.info("job.chunk.taken_over", extra={"job_id": job_id, "chunk": chunk_no})
        with observability.bind(redo=True):
            return self._run_leased(job_id, chunk_no, token)

    def _run_leased(self, job_id: str, chunk_no: int, token: str) -> ChunkOutcome:
        with self.db.unit_of_work() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != JobStatus.PROCESSING:
                self._release(job_id, chunk_no, token)
                return ChunkOutcome.RELEASED
            options = job.options or {}
            run = RunOptions(
                threshold=float(options.get("confidence_threshold", 0.5)),
                title_search=bool(options.get("title_search")),
                title_search_invalid=bool(options.get("title_search_invalid")),
                title_threshold=float(options.get("title_threshold", title_match.DEFAULT_THRESHOLD)),
            )
            download_images = bool(options.get("download_images"))
            mode = job.mode
            marketplace = session.scalar(
                select(JobChunk.marketplace).where(JobChunk.job_id == job_id, JobChunk.chunk_no == chunk_no)
            ) or job.marketplace
            now = self.clock()
            items = list(
                session.scalars(
                    select(JobItem)
                    .where(
                        JobItem.job_id == job_id,
                        JobItem.chunk_no == chunk_no,
                        JobItem.status == ItemStatus.PENDING,
                        or_(JobItem.next_attempt_at.is_(None), JobItem.next_attempt_at <= now),
                    )
                    .order_by(JobItem.row_no)
                )
            )
            if mode != "reprice" and items:  # one query for the chunk's codes
                keys = {code_key(item.gtin, item.input_code) for item in items}
                found = decisions_for(session, job.supplier_code, keys)
                run = replace(run, supplier_code=job.supplier_code, remembered=found)
        try:
            plan = self.plan_for(marketplace) if self.plan_for is not None else self.plan
            meter = ChunkMeter(Counter(item.gtin for item in items if item.gtin))
            keep_going = partial(self._keep_going, job_id, chunk_no, token, meter)
            if mode == "reprice":  # price tracking: ASINs are known, only the price stage runs
                from code2asin.pricing.reprice import reprice_chunk

                updates, logs, stopped = reprice_chunk(self, plan, keep_going, items, job_id)
            else:
                updates, logs, stopped = self._process(plan, keep_going, items, marketplace, run, meter)
        except ConfigurationError as exc:
            self._fail_job(job_id, str(exc))
            self._release(job_id, chunk_no, token)
            return ChunkOutcome.JOB_FAILED
        except Exception:
            self._release_after_crash(job_id, chunk_no, token)
            raise
        try:
            return self._commit(job_id, chunk_no, token, updates, logs, stopped, download_images, meter)
        except Exception:
            self._release_after_crash(job_id, chunk_no, token)
            raise

    def _release_after_crash(self, job_id: str, chunk_no: int, token: str) -> None:
        """A run that raised (Redis or the database gone for a moment, a bug) ends its lease now, so the
        next sweep takes the chunk over at once (on beat's takeover threads first, see
        ``tasks.TakeoverPool``) instead of waiting for the lease to run out; when the database is the one
        that is down, the lease runs out as before."""
        try:
            self._set_lease(job_id, chunk_no, token, ChunkStatus.RUNNING, lease_expires_at=self.clock())
        except Exception:
            log.warning("job.chunk.lease_not_ended", extra={"job_id": job_id, "chunk": chunk_no})

    def _process(
        self,
        plan: Plan,
        keep_going: Callable[[Cost], bool],
        items: list[JobItem],
        marketplace: str,
        run: RunOptions,
        meter: ChunkMeter,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        codes: dict[str, LookupCode] = {}
        # a code a person decided for this supplier is not looked up: its ASIN is only enriched
        chosen = {item.row_no: d.accepted for item in items if (d := run.decided(item)) and d.accepted}
        decided: dict[str, Iterable[str]] = {
            i.gtin: [chosen[i.row_no].asin] for i in items if i.gtin and i.row_no in chosen
        }
        meter.codes_looked_up(decided)
        for item in items:
            if item.gtin and item.gtin not in codes and item.row_no not in chosen:
                parsed = barcodes.parse_code(item.input_code)
                codes[item.gtin] = LookupCode(item.gtin, parsed.code or item.gtin, item.code_type or "EAN")
        # Enrich every candidate before choosing: the choice between several ASINs depends on the offer
        # and the sales rank, which an identify stage such as SP-API's catalog does not return.
        known = [record.asin for record in chosen.values()]
        lookups = self._lookups(plan, keep_going, list(codes.values()), marketplace, meter, known)
        outcomes, enricher, stopped = lookups
        if stopped:
            # Paused or cancelled between two provider calls: write nothing, give the chunk back. What was
            # already fetched sits in the lookup cache, so resuming repeats no call.
            return [], [], True
        enriched, failures = enricher.results()
        for gtin, outcome in list(outcomes.items()):
            # a candidate whose enrichment failed for a passing reason makes the choice unsafe:
            # the row follows the retry schedule instead of being decided on partial data
            failed = next((failures[c.asin] for c in outcome.candidates if c.asin in failures), None)
            if outcome.error is None and failed is not None:
                outcomes[gtin] = LookupOutcome(error=failed, api_response=outcome.api_response)
        merged: dict[str, list[Candidate]] = {}
        for gtin, outcome in outcomes.items():
            if outcome.error is None:
                merged[gtin] = [merge_candidates(c, enriched.get(c.asin)) for c in outcome.candidates]
        decisions = _code_decisions(items, codes, merged, run)
        rest = [item for item in items if item.row_no not in chosen]
        by_title, stopped = self._by_title(
            plan, keep_going, rest, outcomes, decisions, enricher, marketplace, run, meter
        )
        if stopped:
            return [], [], True
        updates, logs = self._row_results(rest, outcomes, merged, decisions, by_title)
        now = self.clock()
        for item in (item for item in items if item.row_no in chosen):
            record = chosen[item.row_no]
            data = enriched.get(record.asin) or Candidate(asin=record.asin, source="manual")
            values, line = remembered_result(item, record, data, run.supplier_code, now, self.worker_id)
            updates.append(values)
            logs.append(line)
        return updates, logs, stopped

    def _row_results(
        self,
        items: list[JobItem],
        outcomes: dict[str, LookupOutcome],
        merged: dict[str, list[Candidate]],
        decisions: dict[int, matching.MatchDecision],
        by_title: dict[int, tuple[matching.MatchDecision, list[Candidate]] | ProviderError],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each looked-up row's new values and log line (``row_result``)."""
        updates: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        now = self.clock()
        for item in items:
            # a row without a valid code is pending only for the title search (``title_search_invalid``)
            looked_up = outcomes.get(item.gtin) if item.gtin else LookupOutcome()
            if looked_up is None:
                continue  # not looked up (job paused or cancelled): stays pending
            candidates = merged.get(item.gtin or "", looked_up.candidates)
            decision = decisions.get(item.row_no)
            if item.row_no in by_title:
                looked_up, candidates, decision = _with_title(by_title[item.row_no], looked_up, candidates)
            if item.gtin is None:
                values, log = invalid_code_result(item, looked_up, candidates, decision, now, self.worker_id)
            else:
                values, log = row_result(item, looked_up, candidates, decision, now, self.worker_id)
            updates.append(values)
            logs.append(log)
        return updates, logs

    def _by_title(
        self,
        plan: Plan,
        keep_going: Callable[[Cost], bool],
        items: list[JobItem],
        outcomes: dict[str, LookupOutcome],
        decisions: dict[int, matching.MatchDecision],
        enricher: Enricher,
        marketplace: str,
        run: RunOptions,
        meter: ChunkMeter,
    ) -> tuple[dict[int, tuple[matching.MatchDecision, list[Candidate]] | ProviderError], bool]:
        """The title search fallback for the rows whose code found no accepted match (``title_stage``)."""
        if plan.title_search is None:
            return {}, False
        rows = []
        for item in items:
            outcome = outcomes.get(item.gtin) if item.gtin else None
            decision = decisions.get(item.row_no)
            found_by_code = decision is not None and decision.accepted
            if item.gtin is None:
                wanted = run.title_search_invalid
            else:
                looked_up = outcome is not None and outcome.error is None
                wanted = run.title_search and looked_up and not found_by_code
            if wanted and item.supplier_title:
                title, brand = item.supplier_title, item.supplier_brand
                decided = run.decided(item)
                rejected = decided.rejected if decided is not None else frozenset()
                rows.append(TitleRow(item.row_no, title, brand, item.supplier_price, decision, rejected))
        if not rows:
            return {}, False
        return self._title_fallback(plan, keep_going, rows, enricher, marketplace, meter, run.title_threshold)

    def _commit(
        self,
        job_id: str,
        chunk_no: int,
        token: str,
        updates: list[dict[str, Any]],
        logs: list[dict[str, Any]],
        stopped: bool,
        download_images: bool = False,
        meter: ChunkMeter | None = None,
    ) -> ChunkOutcome:
        now = self.clock()
        with self.db.unit_of_work() as session:
            # Still ours? A worker that outlived its lease must not write over the one that took over.
            # On PostgreSQL this row lock also holds off a takeover until this transaction ends.
            mine = session.execute(
                update(JobChunk)
                .where(
                    JobChunk.job_id == job_id,
                    JobChunk.chunk_no == chunk_no,
                    JobChunk.lease_owner == token,
                    JobChunk.status == ChunkStatus.RUNNING,
                )
                .values(lease_expires_at=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            if not rowcount(mine):
                return ChunkOutcome.SKIPPED
            if meter is not None and (meter.unbilled_calls or meter.unbilled_tokens):
                session.execute(  # what the last calls really sent, and the tokens they consumed
                    update(Job)
                    .where(Job.id == job_id)
                    .values(
                        provider_calls=Job.provider_calls + meter.unbilled_calls,
                        keepa_tokens=Job.keepa_tokens + meter.unbilled_tokens,
                    )
                    .execution_options(synchronize_session=False)
                )
            if updates:
                session.execute(update(JobItem), updates)
            if logs:
                session.execute(ConversionLog.table().insert(), logs)
            if download_images:
                # image copies are owed in the same transaction, and run by their own workers
                matched_ids = [
                    u["id"] for u in updates if u["status"] == ItemStatus.MATCHED and u.get("amazon_images")
                ]
                enqueue_image_tasks(session, job_id, matched_ids)
            waiting = session.scalar(
                select(func.min(func.coalesce(JobItem.next_attempt_at, now))).where(
                    JobItem.job_id == job_id,
                    JobItem.chunk_no == chunk_no,
                    JobItem.status == ItemStatus.PENDING,
                )
            )
            done = waiting is None
            session.execute(
                update(JobChunk)
                .where(
                    JobChunk.job_id == job_id,
                    JobChunk.chunk_no == chunk_no,
                    JobChunk.lease_owner == token,
                )
                .values(
                    status=ChunkStatus.DONE if done else ChunkStatus.PENDING,
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=None if done else _aware(waiting),
                    looked_up_rows=0,
                    enriched_rows=0,
                )
                .execution_options(synchronize_session=False)
            )
            # counters move by this chunk's rows only (a full recount per chunk grows with the job)
            ended = [u for u in updates if u["status"] != ItemStatus.PENDING]
            matched = sum(1 for u in ended if u["status"] == ItemStatus.MATCHED)
            if ended:
                session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(
                        processed_codes=Job.processed_codes + len(ended),
                        successful_conversions=Job.successful_conversions + matched,
                        failed_conversions=Job.failed_conversions + len(ended) - matched,
                    )
                    .execution_options(synchronize_session=False)
                )
        observability.count_rows(updates)
        if done:
            self.complete_if_finished(job_id)
            return ChunkOutcome.DONE
        return ChunkOutcome.RELEASED if stopped else ChunkOutcome.WAITING

    def _release(self, job_id: str, chunk_no: int, token: str) -> None:
        self._set_lease(
            job_id,
            chunk_no,
            token,
            None,
            status=ChunkStatus.PENDING,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=None,
            looked_up_rows=0,
            enriched_rows=0,
        )

    def _set_lease(self, job_id: str, chunk_no: int, token: str, only: str | None, **values: Any) -> None:
        """Write ``values`` to the chunk while ``token`` holds its lease (and its status is ``only``, if
        given)."""
        where = [JobChunk.job_id == job_id, JobChunk.chunk_no == chunk_no, JobChunk.lease_owner == token]
        if only is not None:
            where.append(JobChunk.status == only)
        with self.db.unit_of_work() as session:
            session.execute(
                update(JobChunk).where(*where).values(**values).execution_options(synchronize_session=False)
            )

    def _fail_job(self, job_id: str, message: str) -> None:
        fail_job(self.db, job_id, message, actor=self.worker_id, now=self.clock())

    def complete_if_finished(self, job_id: str) -> bool:
        """Mark the job completed when no chunk is left (see ``complete_if_finished``)."""
        return complete_if_finished(self.db, job_id, actor=self.worker_id, now=self.clock())
