"""The job state machine (design section 7), enforced here and nowhere else.

| action | allowed from | to |
| start  | pending | processing |
| pause  | processing | paused |
| resume | paused | processing |
| cancel | pending, processing, paused | cancelled |
| retry  | failed, cancelled (retry_count < max_retries, or reset) | pending |
| delete | any but processing | (gone) |

The runner's own transitions (``complete``, ``fail``) are listed too so every status change goes through
``transition`` and becomes a timeline event.
"""

from __future__ import annotations

from enum import StrEnum

from code2asin.errors import LifecycleError
from code2asin.jobs.models import JobStatus


class JobAction(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    RETRY = "retry"
    DELETE = "delete"
    COMPLETE = "complete"
    FAIL = "fail"


_S = JobStatus
TRANSITIONS: dict[JobAction, tuple[frozenset[JobStatus], JobStatus | None]] = {
    JobAction.START: (frozenset({_S.PENDING}), _S.PROCESSING),
    JobAction.PAUSE: (frozenset({_S.PROCESSING}), _S.PAUSED),
    JobAction.RESUME: (frozenset({_S.PAUSED}), _S.PROCESSING),
    JobAction.CANCEL: (frozenset({_S.PENDING, _S.PROCESSING, _S.PAUSED}), _S.CANCELLED),
    JobAction.RETRY: (frozenset({_S.FAILED, _S.CANCELLED}), _S.PENDING),
    JobAction.DELETE: (frozenset({_S.PENDING, _S.PAUSED, _S.COMPLETED, _S.FAILED, _S.CANCELLED}), None),
    JobAction.COMPLETE: (frozenset({_S.PROCESSING}), _S.COMPLETED),
    JobAction.FAIL: (frozenset({_S.PENDING, _S.PROCESSING, _S.PAUSED}), _S.FAILED),
}


def target_status(action: JobAction, current: str) -> JobStatus | None:
    """The status ``action`` leads to from ``current``; raises ``LifecycleError`` when not allowed."""
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        allowed_text = ", ".join(sorted(allowed))
        raise LifecycleError(
            f"Cannot {action.value} a job that is {current}: {action.value} is allowed only when the job is "
            f"{allowed_text}."
        )
    return target


def allowed_actions(current: str) -> list[JobAction]:
    """User actions the UI and API may offer for a job in ``current`` status."""
    user_actions = (
        JobAction.START,
        JobAction.PAUSE,
        JobAction.RESUME,
        JobAction.CANCEL,
        JobAction.RETRY,
        JobAction.DELETE,
    )
    return [a for a in user_actions if current in TRANSITIONS[a][0]]
