"""`task.reopen`: undo a tick within `REOPEN_WINDOW` (24 hours). A case the tick had
closed goes back to `decided`; a superseded or cancelled case keeps its task done.

The answer is the task card again (or the morning digest, when clicked there).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import Case
from bot.core.refusal import Refusal
from bot.directory.actor import Actor
from bot.flows.click import Answer, Invoke, acting
from bot.flows.data import TaskData
from bot.flows.result import Done, Result, Stale, refused
from bot.flows.task_answer import task_answer
from bot.flows.verbs import Verb
from bot.logs import Event, log_on_commit
from bot.messaging import views
from bot.tasks import service as tasks
from bot.tasks.enums import TaskStatus
from bot.tasks.models import Task

__all__ = ["VERB", "on_reopen_task", "reopen_task"]

VERB = Verb.REOPEN_TASK


async def on_reopen_task(
    factory: async_sessionmaker[AsyncSession], data: TaskData, invoke: Invoke
) -> Answer:
    """The click: undo the tick in one transaction; answer with the card it was on."""
    async with acting(factory, invoke) as (session, actor):
        result = await reopen_task(session, task_id=data.task_id, actor=actor, now=invoke.now)
        return await task_answer(session, result, view=data.view, now=invoke.now)


async def reopen_task(
    session: AsyncSession, *, task_id: int, actor: Actor, now: datetime
) -> Result:
    """Open the done task again, by `actor` (who may handle it), in the caller's
    transaction. Refused (shown on the card) after the window or on an ended case."""
    task: Task | None = None
    case: Case | None = None
    try:
        task, case = await tasks.lock_with_case(session, task_id=task_id)
        tasks.check_may_handle(task, actor.person)
        if task.status != TaskStatus.DONE or task.done_at is None:
            audit_case(
                session, actor=actor, action=VERB, case=case, task_id=task.id, outcome="stale"
            )
            return Stale(case=case, task=task, message="Uppgiften är redan öppen.")
        if now - task.done_at > tasks.REOPEN_WINDOW:
            raise Refusal("window", "Det går bara att ångra inom 24 timmar.", on_card=True)
        if case.state in (CaseState.SUPERSEDED, CaseState.CANCELLED):
            raise Refusal(
                "case ended",
                "Ärendet är avslutat på annat sätt; uppgiften kan inte ångras.",
                on_card=True,
            )
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action=VERB, case=case, task=task)
    tasks.mark_open(task)
    cases.record_event(
        session, case, EventKind.TASK_REOPENED, actor=actor, reason=task.title, now=now
    )
    if case.state == CaseState.CLOSED:
        cases.transition(
            session,
            case,
            CaseState.DECIDED,
            actor=actor,
            event=EventKind.REOPENED,
            reason=f"uppgift ångrad: {task.title}",
            now=now,
        )
        case.closed_at = None
    audit_case(session, actor=actor, action=VERB, case=case, task_id=task.id)
    log_on_commit(
        session, Event.TASK_REOPENED, task_id=task.id, case_id=case.id, task_kind=task.kind
    )
    await views.keep_current(session, case)
    return Done(case=case, task=task)
