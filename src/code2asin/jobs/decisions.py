"""Remembered match decisions: a person's accept or reject of an ASIN, per supplier and code (issue #15).

A decision is kept per ``(supplier_code, code_key, asin)`` in ``match_decisions``: ``code_key`` is the
row's GTIN-14, or ``raw:<code>`` for a row without a valid code. A code designates one product, so at most
one ASIN is ``accepted`` per (supplier, code): accepting one turns the others into ``rejected``. Later jobs
of the supplier read them with ``decisions_for`` (the chunk runner applies an accepted ASIN and never
proposes a rejected one).

Services take the caller's ``Session`` and never commit. Errors: ``NotFoundError`` (an unknown decision,
or one of a supplier the caller cannot see), ``InvalidValueError`` (a decision other than ``accepted`` or
``rejected``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from code2asin import barcodes
from code2asin.errors import InvalidValueError, NotFoundError
from code2asin.jobs.models import MatchDecisionRecord, utcnow

ACCEPTED = "accepted"
REJECTED = "rejected"
DECISIONS = (ACCEPTED, REJECTED)
RAW_PREFIX = "raw:"
#: the length of ``match_decisions.code_key``
CODE_KEY_CHARS = 40
#: keys per ``IN (...)`` list: well under every driver's bound-parameter limit
KEYS_PER_QUERY = 500


def code_key(gtin: str | None, input_code: str) -> str:
    """The key a decision is remembered under: the GTIN-14 when the row has one, else ``raw:`` and the
    code as written without its spaces (cut to 40 characters)."""
    if gtin:
        return gtin
    return (RAW_PREFIX + "".join(input_code.split()))[:CODE_KEY_CHARS]


@dataclass(frozen=True)
class Remembered:
    """What a supplier decided for one code: the accepted ASIN's record (if any), the rejected ASINs."""

    accepted: MatchDecisionRecord | None
    rejected: frozenset[str]


def decisions_for(session: Session, supplier_code: str, code_keys: Iterable[str]) -> dict[str, Remembered]:
    """The supplier's decisions for ``code_keys``, by key; a key without any decision is absent.

    One query per 500 distinct keys (one query for a chunk of rows).
    """
    wanted = sorted(set(code_keys))
    found: dict[str, list[MatchDecisionRecord]] = {}
    for start in range(0, len(wanted), KEYS_PER_QUERY):
        batch = wanted[start : start + KEYS_PER_QUERY]
        records = session.scalars(
            select(MatchDecisionRecord)
            .where(
                MatchDecisionRecord.supplier_code == supplier_code, MatchDecisionRecord.code_key.in_(batch)
            )
            .order_by(MatchDecisionRecord.decided_at.desc(), MatchDecisionRecord.id.desc())
        )
        for record in records:
            found.setdefault(record.code_key, []).append(record)
    remembered: dict[str, Remembered] = {}
    for key, kept in found.items():
        accepted = next((r for r in kept if r.decision == ACCEPTED), None)  # newest first
        rejected = frozenset(r.asin for r in kept if r.decision == REJECTED)
        remembered[key] = Remembered(accepted=accepted, rejected=rejected)
    return remembered


def check_decision(decision: str) -> str:
    """``decision`` when it is ``accepted`` or ``rejected``; else ``InvalidValueError``."""
    if decision not in DECISIONS:
        raise InvalidValueError(f"Decision {decision!r} is not valid: say accepted or rejected.")
    return decision


def remember(
    session: Session,
    *,
    supplier_code: str,
    code_key: str,
    asin: str,
    decision: str,
    actor: str | None,
    job_id: str | None = None,
    row_no: int | None = None,
    input_code: str | None = None,
    supplier_title: str | None = None,
    amazon_title: str | None = None,
) -> MatchDecisionRecord:
    """Record ``decision`` on ``asin`` for the supplier's code, replacing an earlier one on the same ASIN.

    Accepting an ASIN turns any other accepted ASIN of that (supplier, code) into rejected. The context
    (job, row, code, titles) is updated only where a value is given. Raises ``InvalidValueError`` on a bad
    ``decision``.
    """
    check_decision(decision)
    now = utcnow()
    values: dict[str, Any] = {
        "supplier_code": supplier_code,
        "code_key": code_key,
        "asin": asin,
        "decision": decision,
        "actor": actor,
        "decided_at": now,
        "job_id": job_id,
        "row_no": row_no,
        "input_code": input_code,
        "supplier_title": supplier_title,
        "amazon_title": amazon_title,
    }
    changes = {"decision": decision, "actor": actor, "decided_at": now}
    changes |= {name: values[name] for name in _CONTEXT if values[name] is not None}
    # an upsert, so two people deciding the same row at once do not trip the unique constraint
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(MatchDecisionRecord).values(**values)
    session.execute(
        statement.on_conflict_do_update(index_elements=list(_UNIQUE), set_=changes),
        execution_options={"synchronize_session": False},
    )
    same_code = (MatchDecisionRecord.supplier_code == supplier_code) & (
        MatchDecisionRecord.code_key == code_key
    )
    if decision == ACCEPTED:
        _reject_others(session, same_code, asin, actor, now)
    record = session.scalars(
        select(MatchDecisionRecord)
        .where(same_code, MatchDecisionRecord.asin == asin)
        .execution_options(populate_existing=True)
    ).one()
    return record


_UNIQUE = ("supplier_code", "code_key", "asin")
_CONTEXT = ("job_id", "row_no", "input_code", "supplier_title", "amazon_title")


def _reject_others(
    session: Session, same_code: ColumnElement[bool], asin: str, actor: str | None, now: Any
) -> None:
    session.execute(
        update(MatchDecisionRecord)
        .where(same_code, MatchDecisionRecord.asin != asin, MatchDecisionRecord.decision == ACCEPTED)
        .values(decision=REJECTED, actor=actor, decided_at=now)
        .execution_options(synchronize_session="fetch")
    )


def _visible(session: Session, decision_id: int, suppliers: frozenset[str] | None) -> MatchDecisionRecord:
    record = session.get(MatchDecisionRecord, decision_id)
    if record is None or (suppliers is not None and record.supplier_code not in suppliers):
        raise NotFoundError(f"Decision {decision_id} does not exist.")
    return record


def _code_filter(code: str) -> ColumnElement[bool]:
    """A code as a person types it: the stored key, the key of its GTIN, or the code as written."""
    text = code.strip()
    parsed = barcodes.parse_code(text)
    keys = {text, code_key(None, text)}
    if parsed.gtin:
        keys.add(parsed.gtin)
    return or_(MatchDecisionRecord.code_key.in_(sorted(keys)), MatchDecisionRecord.input_code == text)


def decision_row(record: MatchDecisionRecord) -> dict[str, Any]:
    """A decision as the API and the UI show it."""
    return {
        "id": record.id,
        "supplier_code": record.supplier_code,
        "code_key": record.code_key,
        "asin": record.asin,
        "decision": record.decision,
        "actor": record.actor,
        "decided_at": record.decided_at,
        "job_id": record.job_id,
        "row_no": record.row_no,
        "input_code": record.input_code,
        "supplier_title": record.supplier_title,
        "amazon_title": record.amazon_title,
    }


def list_decisions(
    session: Session,
    *,
    suppliers: frozenset[str] | None,
    supplier: str | None = None,
    code: str | None = None,
    decision: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """The decisions the caller may see (``suppliers``: its supplier scope, None for all), newest first.

    Filters: ``supplier`` (exact code), ``code`` (the code key or the code as written), ``decision``.
    Returns ``items``, ``total``, ``page``, ``per_page`` and ``pages``. Raises ``InvalidValueError`` on a
    bad ``decision``.
    """
    where: list[ColumnElement[bool]] = []
    if suppliers is not None:
        where.append(MatchDecisionRecord.supplier_code.in_(sorted(suppliers)))
    if supplier:
        where.append(MatchDecisionRecord.supplier_code == supplier)
    if code and code.strip():
        where.append(_code_filter(code))
    if decision:
        where.append(MatchDecisionRecord.decision == check_decision(decision))
    total = session.scalar(select(func.count(MatchDecisionRecord.id)).where(*where)) or 0
    records = session.scalars(
        select(MatchDecisionRecord)
        .where(*where)
        .order_by(MatchDecisionRecord.decided_at.desc(), MatchDecisionRecord.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return {
        "items": [decision_row(r) for r in records],
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-total // per_page)),
    }


def update_decision(
    session: Session, decision_id: int, decision: str, actor: str | None, suppliers: frozenset[str] | None
) -> MatchDecisionRecord:
    """Switch a decision to ``decision`` (accepting it rejects the code's other accepted ASIN).

    Raises ``NotFoundError`` for an unknown or foreign decision, ``InvalidValueError`` for a bad value.
    """
    check_decision(decision)
    record = _visible(session, decision_id, suppliers)
    return remember(
        session,
        supplier_code=record.supplier_code,
        code_key=record.code_key,
        asin=record.asin,
        decision=decision,
        actor=actor,
    )


def forget_decision(session: Session, decision_id: int, suppliers: frozenset[str] | None) -> None:
    """Delete a decision: later jobs decide that code again. ``NotFoundError`` when unknown or foreign."""
    session.delete(_visible(session, decision_id, suppliers))
    session.flush()
