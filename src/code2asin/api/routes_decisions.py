"""Remembered match decisions: ``/code2asin/match-decisions`` (list, switch, forget).

Same permissions as jobs (GET read, PATCH write, DELETE delete) and the same supplier scoping: a token
restricted to suppliers sees and changes only their decisions (another supplier's answers 404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam

from code2asin.api import schemas
from code2asin.api.deps import CurrentPrincipal, SessionDep, StateDep, authorize
from code2asin.api.errors import ERROR_RESPONSES
from code2asin.jobs import decisions

router = APIRouter(prefix="/code2asin", dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)

Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=500)]
DecisionId = Annotated[int, PathParam(ge=1, le=2**62)]


@router.get(
    "/match-decisions", response_model=schemas.MatchDecisionList, summary="Remembered match decisions"
)
def list_decisions(
    session: SessionDep,
    principal: CurrentPrincipal,
    supplier: Annotated[str | None, Query(max_length=100, description="A supplier code")] = None,
    code: Annotated[
        str | None, Query(max_length=100, description="The code as written, or its GTIN-14 key")
    ] = None,
    decision: schemas.DecisionValue | None = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> dict[str, Any]:
    """Newest first; a supplier-scoped token sees only its suppliers' decisions."""
    return decisions.list_decisions(
        session,
        suppliers=principal.supplier_scope,
        supplier=supplier or None,
        code=code or None,
        decision=decision,
        page=page,
        per_page=per_page,
    )


@router.patch(
    "/match-decisions/{decision_id}",
    response_model=schemas.MatchDecisionOut,
    summary="Switch a decision between accepted and rejected",
)
def update_decision(
    decision_id: DecisionId, body: schemas.MatchDecisionUpdate, state: StateDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        record = decisions.update_decision(
            session, decision_id, body.decision, principal.actor, principal.supplier_scope
        )
        return decisions.decision_row(record)


@router.delete(
    "/match-decisions/{decision_id}",
    response_model=schemas.MatchDecisionDeleted,
    summary="Forget a decision (later jobs decide that code again)",
)
def forget_decision(decision_id: DecisionId, state: StateDep, principal: CurrentPrincipal) -> dict[str, Any]:
    with state.db.unit_of_work() as session:
        decisions.forget_decision(session, decision_id, principal.supplier_scope)
    return {"message": "Decision oubliee", "id": decision_id}
