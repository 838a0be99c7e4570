"""Remembered match decisions (no HTTP), on SQLite and PostgreSQL: upsert, one accepted ASIN per code,
one query for a chunk's codes, the supplier scope, and the validate/reject hooks of the job service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from tests.decision_support import FUZZY_ASIN, FUZZY_GTIN, FUZZY_ROW, FUZZY_TITLE, fuzzy_job

from code2asin.db import Database
from code2asin.errors import InvalidValueError, LifecycleError, NotFoundError
from code2asin.jobs import decisions, service
from code2asin.jobs.decisions import Remembered, code_key, decisions_for, remember
from code2asin.jobs.models import ConversionLog, Job, JobItem, JobStatus, MatchDecisionRecord


def _decide(db: Database, supplier: str, key: str, asin: str, decision: str, **extra: Any) -> int:
    with db.unit_of_work() as session:
        record = remember(
            session,
            supplier_code=supplier,
            code_key=key,
            asin=asin,
            decision=decision,
            actor="user:ann",
            **extra,
        )
        return record.id


def _all(db: Database) -> list[tuple[str, str, str, str]]:
    with db.sessions() as session:
        order = (MatchDecisionRecord.supplier_code, MatchDecisionRecord.code_key, MatchDecisionRecord.asin)
        rows = session.scalars(select(MatchDecisionRecord).order_by(*order))
        return [(r.supplier_code, r.code_key, r.asin, r.decision) for r in rows]


@contextmanager
def _counted_selects(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_code_key_is_the_gtin_or_the_raw_code_without_spaces_cut_to_40() -> None:
    assert code_key("03017620422003", "3017620422003") == "03017620422003"
    assert code_key(None, " AB 12\u00a0 34 ") == "raw:AB1234"
    assert code_key(None, "X" * 60) == "raw:" + "X" * 36
    assert len(code_key(None, "X" * 60)) == 40


def test_remember_upserts_one_record_per_supplier_code_and_asin(any_db: Database) -> None:
    first = _decide(any_db, "SUP", "k1", "B000000001", "rejected", job_id="j1", row_no=3, amazon_title="Old")
    again = _decide(any_db, "SUP", "k1", "B000000001", "accepted", row_no=None)
    assert again == first
    assert _all(any_db) == [("SUP", "k1", "B000000001", "accepted")]
    with any_db.sessions() as session:
        record = session.get(MatchDecisionRecord, first)
        assert record is not None
        # the context of the first decision is kept where the second says nothing
        assert (record.job_id, record.row_no, record.amazon_title, record.actor) == (
            "j1",
            3,
            "Old",
            "user:ann",
        )


def test_accepting_an_asin_rejects_the_codes_other_accepted_asin_only(any_db: Database) -> None:
    _decide(any_db, "SUP", "k1", "B000000001", "accepted")
    _decide(any_db, "SUP", "k2", "B000000009", "accepted")  # another code: untouched
    _decide(any_db, "OTHER", "k1", "B000000001", "accepted")  # another supplier: untouched
    _decide(any_db, "SUP", "k1", "B000000002", "accepted")
    assert _all(any_db) == [
        ("OTHER", "k1", "B000000001", "accepted"),
        ("SUP", "k1", "B000000001", "rejected"),
        ("SUP", "k1", "B000000002", "accepted"),
        ("SUP", "k2", "B000000009", "accepted"),
    ]
    with any_db.sessions() as session:
        found = decisions_for(session, "SUP", ["k1"])
    assert found["k1"].accepted is not None and found["k1"].accepted.asin == "B000000002"
    assert found["k1"].rejected == frozenset({"B000000001"})


def test_decisions_for_reads_a_chunks_codes_in_one_query_and_leaves_out_undecided_keys(
    any_db: Database,
) -> None:
    with any_db.unit_of_work() as session:
        for n in range(120):
            remember(
                session, supplier_code="SUP", code_key=f"{n:014d}", asin=f"B{n:09d}",
                decision="accepted" if n % 2 else "rejected", actor="user:ann",
            )  # fmt: skip
        remember(session, supplier_code="OTHER", code_key="00000000000001", asin="B0OTHER001",
                 decision="rejected", actor="user:ann")  # fmt: skip
    keys = [f"{n:014d}" for n in range(400)]  # a chunk of 100 rows on 4 marketplaces, as many keys
    with any_db.sessions() as session, _counted_selects(any_db) as selects:
        found = decisions_for(session, "SUP", keys)
    assert len(selects) == 1
    assert len(found) == 120 and "00000000000200" not in found
    assert found["00000000000001"].accepted is not None and found["00000000000001"].rejected == frozenset()
    assert found["00000000000002"] == Remembered(accepted=None, rejected=frozenset({"B000000002"}))
    assert found["00000000000001"].rejected == frozenset()  # OTHER's rejection is not SUP's


def test_decisions_for_splits_more_than_500_keys_into_queries_of_500(sqlite_db: Database) -> None:
    with sqlite_db.sessions() as session, _counted_selects(sqlite_db) as selects:
        assert decisions_for(session, "SUP", (f"k{n}" for n in range(1001))) == {}
    assert len(selects) == 3


def test_a_bad_decision_value_is_refused_with_one_sentence(any_db: Database) -> None:
    with pytest.raises(
        InvalidValueError, match=r"^Decision 'maybe' is not valid: say accepted or rejected\.$"
    ):
        _decide(any_db, "SUP", "k1", "B000000001", "maybe")
    decision_id = _decide(any_db, "SUP", "k1", "B000000001", "accepted")
    with any_db.unit_of_work() as session, pytest.raises(InvalidValueError, match="say accepted or rejected"):
        decisions.update_decision(session, decision_id, "ACCEPT", "user:ann", None)
    with any_db.sessions() as session, pytest.raises(InvalidValueError, match="say accepted or rejected"):
        decisions.list_decisions(session, suppliers=None, decision="yes")


def test_list_filters_pages_newest_first_and_keeps_to_the_supplier_scope(any_db: Database) -> None:
    for n in range(5):
        _decide(any_db, "SUP", f"0000000000000{n}", f"B00000000{n}", "rejected", input_code=f"{n}")
    _decide(any_db, "OTHER", FUZZY_GTIN, "B0OTHER001", "accepted", input_code="3017620422003")
    with any_db.sessions() as session:
        every = decisions.list_decisions(session, suppliers=None, per_page=4)
        assert (every["total"], every["pages"], len(every["items"])) == (6, 2, 4)
        assert every["items"][0]["supplier_code"] == "OTHER"  # the newest
        second = decisions.list_decisions(session, suppliers=None, page=2, per_page=4)
        assert [i["asin"] for i in second["items"]] == ["B000000001", "B000000000"]
        scoped = decisions.list_decisions(session, suppliers=frozenset({"SUP"}))
        assert scoped["total"] == 5 and {i["supplier_code"] for i in scoped["items"]} == {"SUP"}
        # the code as the person types it: the EAN-13 finds the GTIN-14 key
        by_code = decisions.list_decisions(session, suppliers=None, code=" 3017620422003 ")
        assert [i["asin"] for i in by_code["items"]] == ["B0OTHER001"]
        assert (
            decisions.list_decisions(session, suppliers=frozenset({"SUP"}), code="3017620422003")["total"]
            == 0
        )
        filtered = decisions.list_decisions(session, suppliers=None, supplier="SUP", decision="accepted")
        assert filtered["total"] == 0 and filtered["items"] == []


def test_update_and_forget_answer_not_found_for_a_foreign_or_unknown_decision(any_db: Database) -> None:
    first = _decide(any_db, "SUP", "k1", "B000000001", "accepted")
    second = _decide(any_db, "SUP", "k1", "B000000002", "rejected")
    foreign = frozenset({"OTHER"})
    with any_db.unit_of_work() as session:
        with pytest.raises(NotFoundError, match=f"^Decision {first} does not exist.$"):
            decisions.update_decision(session, first, "rejected", "user:bob", foreign)
        with pytest.raises(NotFoundError):
            decisions.forget_decision(session, first, foreign)
        with pytest.raises(NotFoundError):
            decisions.forget_decision(session, 999_999, None)
    with any_db.unit_of_work() as session:
        switched = decisions.update_decision(session, second, "accepted", "user:bob", frozenset({"SUP"}))
        assert (switched.decision, switched.actor) == ("accepted", "user:bob")
    assert _all(any_db) == [("SUP", "k1", "B000000001", "rejected"), ("SUP", "k1", "B000000002", "accepted")]
    with any_db.unit_of_work() as session:
        decisions.forget_decision(session, first, frozenset({"SUP"}))
    assert _all(any_db) == [("SUP", "k1", "B000000002", "accepted")]


def test_validating_a_row_accepts_its_asin_and_rejects_the_one_it_replaces(any_db: Database) -> None:
    job_id = fuzzy_job(any_db, "SUP")
    with any_db.unit_of_work() as session:
        service.validate_item(session, job_id, FUZZY_ASIN, "user:ann", row_no=FUZZY_ROW)
    with any_db.sessions() as session:
        found = decisions_for(session, "SUP", [FUZZY_GTIN])[FUZZY_GTIN]
        assert found.accepted is not None and found.rejected == frozenset()
        accepted = found.accepted
        assert (accepted.asin, accepted.job_id, accepted.row_no) == (FUZZY_ASIN, job_id, FUZZY_ROW)
        assert (accepted.input_code, accepted.amazon_title) == ("3017620422003", FUZZY_TITLE)
        assert accepted.supplier_title == "Nutella pâte à tartiner 400 g"
    with any_db.unit_of_work() as session:
        service.validate_item(session, job_id, "b00kwb94ls", "user:bob", row_no=FUZZY_ROW)
    with any_db.sessions() as session:
        found = decisions_for(session, "SUP", [FUZZY_GTIN])[FUZZY_GTIN]
        assert found.accepted is not None and found.accepted.asin == "B00KWB94LS"
        # the row's Amazon title was the fuzzy ASIN's, so it is not written on the new one
        assert found.accepted.amazon_title is None and found.accepted.actor == "user:bob"
        assert found.rejected == frozenset({FUZZY_ASIN})


def test_rejecting_a_row_makes_it_not_found_logs_it_and_remembers_the_asin(any_db: Database) -> None:
    job_id = fuzzy_job(any_db, "SUP")
    with any_db.sessions() as session:
        before = session.get(Job, job_id)
        assert before is not None
        matched_before = before.successful_conversions
    with any_db.unit_of_work() as session:
        item = service.reject_item(session, job_id, "user:ann", row_no=FUZZY_ROW)
        assert item.status == "not_found"
    with any_db.sessions() as session:
        row = session.scalars(select(JobItem).filter_by(job_id=job_id, row_no=FUZZY_ROW)).one()
        assert (row.asin, row.match_type, row.match_confidence, row.review_flags) == (None, None, None, None)
        assert (row.amazon_title, row.field_sources, row.error_type) == (None, None, None)
        assert row.error_message == f"Rejected by user:ann: {FUZZY_ASIN} is not this product."
        log = session.scalars(select(ConversionLog).filter_by(job_id=job_id, change_reason="rejected")).one()
        assert (log.previous_asin, log.new_asin, log.row_no, log.actor) == (FUZZY_ASIN, None, 1, "user:ann")
        job = session.get(Job, job_id)
        assert job is not None and job.successful_conversions == matched_before - 1
        found = decisions_for(session, "SUP", [FUZZY_GTIN])[FUZZY_GTIN]
        assert found == Remembered(accepted=None, rejected=frozenset({FUZZY_ASIN}))
        record = session.scalars(select(MatchDecisionRecord)).one()
        assert (record.amazon_title, record.job_id, record.row_no) == (FUZZY_TITLE, job_id, FUZZY_ROW)
    with (
        any_db.unit_of_work() as session,
        pytest.raises(InvalidValueError, match=f"^Row 1 of job {job_id} has no ASIN to reject.$"),
    ):
        service.reject_item(session, job_id, "user:ann", row_no=FUZZY_ROW)


def test_reject_is_refused_while_processing_and_for_an_unknown_row(any_db: Database) -> None:
    job_id = fuzzy_job(any_db, "SUP")
    with any_db.unit_of_work() as session, pytest.raises(NotFoundError, match="has no row 99"):
        service.reject_item(session, job_id, "user:ann", row_no=99)
    with any_db.unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = JobStatus.PROCESSING
    with (
        any_db.unit_of_work() as session,
        pytest.raises(
            LifecycleError,
            match=f"^Cannot reject a row of job {job_id} while it is processing: pause it first.$",
        ),
    ):
        service.reject_item(session, job_id, "user:ann", row_no=FUZZY_ROW)
    assert _all(any_db) == []
