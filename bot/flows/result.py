"""What an action did, as a type: `Done`, `Stale` or `Refused` (together `Result`).

A flow returns exactly one of them; the caller answers by its type (`match` or
`isinstance`), never by flags. Only `Done` changed anything; `Stale` and `Refused`
changed nothing but their audit row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit
from bot.cases.audit import audit_case
from bot.cases.models import Case
from bot.core.refusal import Refusal
from bot.directory.actor import Actor
from bot.logs import Event, log_on_commit
from bot.tasks.models import Task

__all__ = ["Done", "Refused", "Result", "Stale", "refused"]


@dataclass(frozen=True)
class Done:
    """The action is recorded. `message` (Swedish) is shown as the answer card's notice;
    `tasks` are the tasks the action created, in order (None when it created none)."""

    case: Case
    task: Task | None = None
    message: str | None = None
    tasks: Sequence[Task] | None = None


@dataclass(frozen=True)
class Stale:
    """The card was drawn from an older state of the case or task: nothing recorded.
    `message` says what happened meanwhile. `on_card`: answer with the current card and
    `message` as its notice (else with `message` as an error: nothing to show)."""

    case: Case
    message: str
    task: Task | None = None
    on_card: bool = True


@dataclass(frozen=True)
class Refused:
    """The action may not go ahead (`reason` as audited); `message` says why, in Swedish.
    `case` and `task` are what the refusal is about, when known. `on_card` as for
    `Stale`, but by default an error."""

    reason: str
    message: str
    case: Case | None = None
    task: Task | None = None
    on_card: bool = False


Result = Done | Stale | Refused


def refused(
    session: AsyncSession,
    refusal: Refusal,
    *,
    actor: Actor,
    action: str,
    case: Case | None = None,
    task: Task | None = None,
) -> Refused:
    """Audit `refusal` of `action` (outcome ``refused``, ``detail.reason``) about `case`
    and `task` when known, log it (`Event.ACTION_REFUSED`, on commit), and return it as
    `Refused`."""
    detail = {"reason": refusal.reason}
    log_on_commit(
        session,
        Event.ACTION_REFUSED,
        action=action,
        reason=refusal.reason,
        case_id=case.id if case is not None else task.case_id if task is not None else None,
        task_id=task.id if task is not None else None,
    )
    if case is not None:
        audit_case(
            session,
            actor=actor,
            action=action,
            case=case,
            task_id=task.id if task else None,
            outcome="refused",
            detail=detail,
        )
    else:
        audit.record(
            session,
            actor=actor.audit_id,
            action=action,
            outcome="refused",
            unit_id=task.unit_id if task else None,
            case_id=task.case_id if task else None,
            task_id=task.id if task else None,
            detail=detail,
        )
    return Refused(
        reason=refusal.reason,
        message=refusal.message,
        case=case,
        task=task,
        on_card=refusal.on_card,
    )
