"""`case.undo`: the deciding physician undoes their decision ("Ångra beslut") within
`cases.UNDO_WINDOW` (30 minutes), while none of its tasks is done.

The case goes back to awaiting decision: the decision is removed (the quality report
counts only decisions that stand; the history and the audit log keep it), its open tasks
are cancelled, and every card posted about the case is brought up to date. The answer is
the decision card again. A card drawn from an older state records nothing (`Stale`); an
undo by anyone else, too late, or after a task was done is refused with the reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case, audit_stale
from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.core.refusal import Refusal
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.flows.click import Answer, Invoke, acting, stale_case_answer
from bot.flows.data import UndoData
from bot.flows.result import Done, Refused, Result, Stale, refused
from bot.flows.verbs import Verb
from bot.logs import Event, log_on_commit
from bot.messaging import cards, views
from bot.messaging.format import case_ref
from bot.tasks import queries as task_queries
from bot.tasks import service as tasks
from bot.tasks.enums import TaskStatus

__all__ = ["VERB", "on_undo_decision", "undo_decision"]

VERB = Verb.UNDO_DECISION
UNDONE = "Beslutet är ångrat. Välj åtgärd igen."
CANCELLED_NOTE = "Beslutet ångrades."


async def on_undo_decision(
    factory: async_sessionmaker[AsyncSession], data: UndoData, invoke: Invoke
) -> Answer:
    """The click: undo in one transaction; answer with the decision card again, or the
    current card with why nothing was undone, or the refusal."""
    async with acting(factory, invoke) as (session, actor):
        result = await undo_decision(
            session, case_id=data.case_id, version=data.version, actor=actor, now=invoke.now
        )
        match result:
            case Done():
                card = await cards.decision_card(session, result.case, notice=result.message)
                return Answer(card=card, changed=True)
            case Stale():
                return await stale_case_answer(session, result, actor=actor, now=invoke.now)
            case Refused():
                if result.on_card and result.case is not None and actor.person is not None:
                    card = await cards.card_for_viewer(
                        session, result.case, viewer=actor.person, now=invoke.now,
                        notice=result.message,
                    )
                    return Answer(card=card)
                return Answer(error=result.message)


async def undo_decision(
    session: AsyncSession, *, case_id: int, version: int, actor: Actor, now: datetime
) -> Result:
    """Undo the decision on the case as the card showed it (`version`), by `actor`, in the
    caller's transaction: the case awaits a decision again and its open tasks are
    cancelled. Only the physician who decided may, as `cases.undo_refusal` says."""
    case: Case | None = None
    try:
        case = await cases.lock_case(session, case_id=case_id)
        if not directory.has_role(actor.person, case.unit_id, Role.PHYSICIAN):
            raise Refusal("role", "Endast läkaren som fattade beslutet kan ångra det.")
        if case.decision is None:
            return _stale(session, case, actor=actor, version=version)
        of_case = await task_queries.of_case(session, case_id=case.id)
        done = next((t.title for t in of_case if t.status == TaskStatus.DONE), None)
        refusal = cases.undo_refusal(case, person=actor.person, done_task=done, now=now)
        if refusal is not None:
            raise refusal
        if case.version != version:
            return _stale(session, case, actor=actor, version=version)
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action=VERB, case=case)
    decision = await cases.undo_decision(session, case, actor=actor, now=now)
    cancelled = await tasks.cancel_open(session, case_id=case.id, reason=CANCELLED_NOTE)
    audit_case(
        session,
        actor=actor,
        action=VERB,
        case=case,
        detail={
            "decision": decision.kind,
            "decided_at": decision.at.isoformat(),
            "tasks_cancelled": [t.id for t in cancelled],
        },
    )
    log_on_commit(
        session,
        Event.DECISION_UNDONE,
        case_id=case.id,
        unit_id=case.unit_id,
        decision=decision.kind,
        tasks=len(cancelled),
    )
    await session.flush()
    await views.keep_current(session, case)
    return Done(case=case, message=UNDONE)


def _stale(session: AsyncSession, case: Case, *, actor: Actor, version: int) -> Stale:
    audit_stale(session, actor=actor, action=VERB, case=case, version=version)
    if case.state == CaseState.SUPERSEDED:
        message = f"Ersatt av korrigerat svar: {case_ref(case.superseded_by_id or 0)}."
    elif case.decision is None:
        message = "Beslutet är redan ångrat; inget ändrades."
    else:
        message = "Beslutet har ändrats sedan kortet visades; inget ångrades."
    return Stale(case=case, message=message)
