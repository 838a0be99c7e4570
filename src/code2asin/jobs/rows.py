"""One row's result from its lookup: the retry schedule, the match, the fields and who supplied them.

* ``row_result``: the item's new values and its conversion-log line from a lookup outcome and the match
  decision. A transient failure keeps the row pending on the 1, 5, 15, 60, 240 minute schedule (5 attempts,
  ``Retry-After`` honoured); ``invalid_data`` fails at once; a call our own pacing did not send spends no
  attempt and comes back at its ``retry_after``.
* ``merge_candidates``: a candidate with the gaps filled by a later enrich stage, recording which provider
  supplied each field (``result_field_sources`` turns that into the result's ``field_sources``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from code2asin import barcodes, matching
from code2asin.errors import RETRY_BACKOFF_MINUTES, ErrorType
from code2asin.jobs.models import ItemStatus, JobItem
from code2asin.providers.base import Candidate, LookupOutcome

MAX_ATTEMPTS = len(RETRY_BACKOFF_MINUTES)
#: a call not sent for want of quota comes back no sooner than this
MIN_DEFERRAL_SECONDS = 5.0


def row_result(
    item: JobItem,
    outcome: LookupOutcome,
    candidates: list[Candidate],
    decision: matching.MatchDecision | None,
    now: datetime,
    actor: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    values: dict[str, Any] = {
        "id": item.id,
        "attempts": item.attempts + 1,
        "next_attempt_at": None,
        "error_type": None,
        "error_message": None,
        "review_flags": None,
    }
    log: dict[str, Any] = {
        "job_id": item.job_id,
        "row_no": item.row_no,
        "marketplace": item.marketplace,
        "input_code": item.input_code,
        "code_type": item.code_type,
        "previous_asin": item.asin,
        "processing_time_ms": outcome.elapsed_ms,
        "api_response": outcome.api_response,
        "timestamp": now,
        "level": "info",
        # every log row carries every key: they are inserted in one executemany
        "new_asin": None,
        "change_reason": None,
        "confidence_score": None,
        "error_type": None,
        "message": None,
        "actor": actor,
    }
    if outcome.error is not None:
        error = outcome.error
        # a call our own pacing did not send (the quota would not cover it yet) spends no attempt
        deferred = not error.sent and error.error_type is not ErrorType.INVALID_DATA
        retryable = error.error_type is not ErrorType.INVALID_DATA and (
            deferred or item.attempts + 1 < MAX_ATTEMPTS
        )
        values["error_type"] = error.error_type.value
        if deferred:
            delay = timedelta(seconds=max(error.retry_after or 0.0, MIN_DEFERRAL_SECONDS))
            values["attempts"] = item.attempts
            values["status"] = ItemStatus.PENDING
            values["next_attempt_at"] = now + delay
            when = (now + delay).strftime("%H:%M")
            values["error_message"] = f"{error} (not sent yet, no attempt spent; next try at {when} UTC)"
        elif retryable:
            delay = timedelta(minutes=RETRY_BACKOFF_MINUTES[item.attempts])
            if error.retry_after:
                delay = max(delay, timedelta(seconds=error.retry_after))
            values["status"] = ItemStatus.PENDING
            values["next_attempt_at"] = now + delay
            values["error_message"] = (
                f"{error} (attempt {item.attempts + 1} of {MAX_ATTEMPTS}; next try at "
                f"{(now + delay).strftime('%H:%M')} UTC)"
            )
        else:
            values["status"] = ItemStatus.FAILED
            values["error_message"] = (
                str(error)
                if error.error_type is ErrorType.INVALID_DATA
                else (f"{error} (gave up after {item.attempts + 1} attempts)")
            )
        values["error_message"] = _with_duplicate_note(item, values["error_message"])
        log.update(
            level="error" if not retryable else "warning",
            change_reason="error",
            error_type=error.error_type.value,
            message=values["error_message"],
        )
        return values, log
    assert decision is not None
    values["candidates"] = [
        {
            "asin": c.asin,
            "score": c.score,
            "match_type": c.match_type.value if c.match_type else None,
            "reasons": list(c.reasons),
        }
        for c in decision.candidates
    ]
    chosen = next((c for c in candidates if c.asin == decision.asin), None)
    if decision.accepted and decision.asin and chosen is not None:
        data = chosen
        values.update(
            status=ItemStatus.MATCHED,
            asin=decision.asin,
            match_type=decision.match_type.value if decision.match_type else None,
            match_confidence=decision.confidence,
            amazon_title=data.title,
            amazon_brand=data.brand,
            amazon_price=data.price,
            amazon_currency=data.currency,
            amazon_rating=data.rating,
            amazon_review_count=data.review_count,
            amazon_sales_rank=data.sales_rank,
            amazon_images=data.images or None,
            detail_page_url=data.detail_page_url,
            field_sources=result_field_sources(data),
            error_message=note_for(item, decision.reason),
            review_flags=",".join(decision.review) or None,
        )
        log.update(
            new_asin=decision.asin,
            change_reason="initial" if not item.asin else "rematch",
            confidence_score=decision.confidence,
            message=decision.reason,
        )
    else:
        values.update(
            status=ItemStatus.NOT_FOUND,
            asin=None,
            match_type=None,
            match_confidence=decision.confidence or None,
            error_message=_with_duplicate_note(item, decision.reason),
        )
        log.update(
            change_reason="not_found",
            confidence_score=decision.confidence or None,
            message=decision.reason,
        )
    return values, log


def merge_candidates(base: Candidate | None, extra: Candidate | None) -> Candidate:
    """``base`` with the fields it lacks taken from ``extra`` (the later enrich stage fills gaps)."""
    if base is None:
        assert extra is not None
        return extra
    if extra is None:
        return base
    merged = Candidate(**{f: getattr(base, f) for f in base.__dataclass_fields__})
    merged.field_sources = dict(base.field_sources)
    if extra.detail_page_url and extra.source == "creators":
        # the Creators API's link carries the partner tag: Amazon asks to keep it unchanged for attribution
        merged.detail_page_url = extra.detail_page_url
        merged.field_sources["detail_page_url"] = "creators"
    elif merged.detail_page_url is None and extra.detail_page_url is not None:
        merged.detail_page_url = extra.detail_page_url
        merged.field_sources["detail_page_url"] = extra.source
    for name in (
        "title",
        "brand",
        "price",
        "currency",
        "buy_box",
        "availability",
        "sales_rank",
        "rating",
        "review_count",
        "package_quantity",
        "parent_asin",
    ):
        if getattr(merged, name) is None and getattr(extra, name) is not None:
            setattr(merged, name, getattr(extra, name))
            merged.field_sources[name] = extra.field_sources.get(name, extra.source)
    if not merged.images and extra.images:
        merged.images = list(extra.images)
        merged.field_sources["images"] = extra.field_sources.get("images", extra.source)
    return merged


#: a result column -> the Candidate field it comes from
RESULT_FIELDS = {
    "asin": "asin",
    "amazon_title": "title",
    "amazon_brand": "brand",
    "amazon_price": "price",
    "amazon_currency": "currency",
    "amazon_rating": "rating",
    "amazon_review_count": "review_count",
    "amazon_sales_rank": "sales_rank",
    "amazon_images": "images",
    "detail_page_url": "detail_page_url",
}


def result_field_sources(candidate: Candidate) -> dict[str, str] | None:
    """Which provider supplied each filled result column of ``candidate`` (``{"amazon_title": "creators"}``).

    A field the identify stage returned is credited to it, a gap filled by an enrich stage to that stage
    (see ``merge_candidates``); the ASIN comes from the stage that identified the code.
    """
    sources: dict[str, str] = {}
    for column, name in RESULT_FIELDS.items():
        value = getattr(candidate, name)
        if value is None or value in ([], ""):
            continue
        source = candidate.field_sources.get(name) or candidate.source
        if source:
            sources[column] = source
    return sources or None


def note_for(item: JobItem, reason: str) -> str | None:
    # a matched row keeps the barcode note (e.g. leading zeros restored) next to the match reason
    parsed_note = barcodes.parse_code(item.input_code).message
    return _with_duplicate_note(item, " ".join(p for p in (parsed_note, reason) if p)) or None


def duplicate_note(first_row: int) -> str:
    return f"Same code as row {first_row} (looked up once)."


def _with_duplicate_note(item: JobItem, message: str) -> str:
    """``message`` preceded by which row this one repeats, for a code already seen in the file."""
    if item.duplicate_of is None:
        return message
    return " ".join(p for p in (duplicate_note(item.duplicate_of), message) if p)
