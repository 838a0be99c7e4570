from __future__ import annotations

import pytest

from code2asin.errors import LifecycleError
from code2asin.jobs.lifecycle import TRANSITIONS, JobAction, allowed_actions, target_status
from code2asin.jobs.models import JobStatus

DESIGN_TABLE = {
    "start": ({"pending"}, "processing"),
    "pause": ({"processing"}, "paused"),
    "resume": ({"paused"}, "processing"),
    "cancel": ({"pending", "processing", "paused"}, "cancelled"),
    "retry": ({"failed", "cancelled"}, "pending"),
    "delete": ({"pending", "paused", "completed", "failed", "cancelled"}, None),
}


@pytest.mark.parametrize("action", list(DESIGN_TABLE))
def test_every_user_action_follows_the_design_table_from_every_status(action: str) -> None:
    allowed, target = DESIGN_TABLE[action]
    for status in JobStatus:
        if status.value in allowed:
            assert target_status(JobAction(action), status) == target
        else:
            with pytest.raises(LifecycleError, match=f"Cannot {action} a job that is {status.value}"):
                target_status(JobAction(action), status)


def test_illegal_transition_message_names_the_allowed_statuses() -> None:
    with pytest.raises(LifecycleError) as info:
        target_status(JobAction.PAUSE, JobStatus.COMPLETED)
    assert "allowed only when the job is processing" in str(info.value)


def test_processing_jobs_cannot_be_deleted_and_offer_pause_and_cancel() -> None:
    assert allowed_actions(JobStatus.PROCESSING) == [JobAction.PAUSE, JobAction.CANCEL]
    assert JobStatus.PROCESSING not in TRANSITIONS[JobAction.DELETE][0]
