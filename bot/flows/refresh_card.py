"""`card.refresh`: the current card of a case or task for the person looking at it (Teams
asks on view for the people in `refresh.userIds`, and on a click of "Uppdatera").

Only people with a role in the case's unit see it; every card shown is audited
(``card.shown`` with the trigger). The physician of a booked visit whose checklist is out
gets the checklist (`view` ``visit``); the MVA channel's triage card stays a triage card
(`view` ``triage``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.core.refusal import Refusal
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.flows.click import Answer, Invoke, acting
from bot.flows.data import RefreshData
from bot.flows.result import Done, Refused, refused
from bot.flows.verbs import Verb
from bot.messaging import cards
from bot.messaging.context import task_group
from bot.tasks.models import Task
from bot.visits import service as visits

__all__ = ["VERB", "on_refresh_card", "show_case"]

VERB = Verb.REFRESH_CARD


async def on_refresh_card(
    factory: async_sessionmaker[AsyncSession], data: RefreshData, invoke: Invoke
) -> Answer:
    """The refresh: in one transaction, the card this person sees now, or the refusal."""
    if data.case_id is None and data.task_id is None:
        return Answer(error="Kortet saknar ärende eller uppgift.")
    async with acting(factory, invoke) as (session, actor):
        if data.view == "visit" and data.case_id is not None:
            checklist = await _open_checklist(
                session, case_id=data.case_id, actor=actor, trigger=invoke.trigger
            )
            if checklist is not None:
                return Answer(card=checklist)
        shown = await show_case(
            session,
            case_id=data.case_id,
            task_id=data.task_id,
            actor=actor,
            trigger=invoke.trigger,
        )
        if isinstance(shown, Refused):
            return Answer(error=shown.message)
        if shown.task is not None:
            card = await cards.task_card(
                session, shown.case, group=task_group(shown.task), now=invoke.now
            )
        else:
            card = await cards.card_for_viewer(
                session, shown.case, viewer=actor.staff, now=invoke.now, view=data.view
            )
        return Answer(card=card)


async def show_case(
    session: AsyncSession,
    *,
    case_id: int | None,
    task_id: int | None,
    actor: Actor,
    trigger: str | None,
) -> Done | Refused:
    """A case (or a task's case) shown to `actor`, who must hold a role in its unit:
    audited as ``card.shown`` with the `trigger`, or as a refused ``card.refresh``. Used by
    the text command ``ärende <id>`` too."""
    task: Task | None = None
    case: Case | None = None
    try:
        if task_id is not None:
            task = await session.get(Task, task_id)
            case_id = task.case_id if task else None
        case = await cases.get_case(session, case_id=case_id) if case_id is not None else None
        if case is None:
            raise Refusal("unknown case", "Ärendet finns inte.")
        if not any(directory.has_role(actor.person, case.unit_id, role) for role in Role):
            raise Refusal("role", "Du saknar behörighet till ärendet.")
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action=VERB, case=case, task=task)
    audit_case(
        session,
        actor=actor,
        action="card.shown",
        case=case,
        task_id=task.id if task else None,
        detail={"trigger": trigger or "unknown"},
    )
    return Done(case=case, task=task)


async def _open_checklist(
    session: AsyncSession, *, case_id: int, actor: Actor, trigger: str | None
) -> dict[str, object] | None:
    """The open checklist card for the visit's physician (audited as shown), or None to
    show the case instead."""
    visit = await visits.visit_of(session, case_id=case_id)
    if (
        visit is None
        or visit.recorded_at is not None
        or visit.checklist_sent_at is None
        or actor.person is None
        or actor.person.id != visit.physician_id
    ):
        return None
    case = await cases.get_case(session, case_id=case_id)
    if case is None or case.state != CaseState.DECIDED:
        return None
    audit_case(
        session,
        actor=actor,
        action="card.shown",
        case=case,
        detail={"trigger": trigger or "unknown", "card": "visit"},
    )
    return cards.checklist_card(case, visit)
