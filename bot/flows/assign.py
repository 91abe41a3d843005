"""`case.assign`: an MVA or physician of the unit gives a case awaiting assignment (no
named physician) to a physician of the unit, who gets the decision card.

The triage card the click came from answers with who took the case. A card drawn from an
older state records nothing (`Stale`), and neither does a refusal (`Refused`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import Case
from bot.core.refusal import Refusal
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.flows.click import Answer, Invoke, acting, stale_case_answer
from bot.flows.data import AssignData
from bot.flows.result import Done, Refused, Result, Stale, refused
from bot.flows.verbs import Verb
from bot.logs import Event, log_on_commit
from bot.messaging import cards, notify, views
from bot.messaging.format import already_decided, fmt_time

__all__ = ["VERB", "assign_case", "on_assign"]

VERB = Verb.ASSIGN
_ASSIGNABLE = (CaseState.AWAITING_ASSIGNMENT, CaseState.AWAITING_DECISION)


async def on_assign(
    factory: async_sessionmaker[AsyncSession], data: AssignData, invoke: Invoke
) -> Answer:
    """The click: assign in one transaction; answer with the triage card showing who took
    the case, or the current card with what happened meanwhile, or the refusal."""
    async with acting(factory, invoke) as (session, actor):
        result = await assign_case(
            session,
            case_id=data.case_id,
            version=data.version,
            physician_aad=data.physician,
            actor=actor,
            now=invoke.now,
        )
        match result:
            case Refused():
                return Answer(error=result.message)
            case Stale():
                return await stale_case_answer(session, result, actor=actor, now=invoke.now)
            case Done():
                physician = result.case.physician
                assert physician is not None
                assigned = {
                    "to": physician.name,
                    "by": actor.display_name,
                    "at": fmt_time(invoke.now) or "",
                }
                card = await cards.triage_card(session, result.case, assigned=assigned)
                return Answer(card=card, changed=True)


async def assign_case(
    session: AsyncSession,
    *,
    case_id: int,
    version: int,
    physician_aad: str,
    actor: Actor,
    now: datetime,
) -> Result:
    """Give the case (as the card showed it: `version`) to the physician of the unit with
    this AAD object id, in the caller's transaction; `actor` must be MVA or physician of
    the case's unit."""
    case: Case | None = None
    try:
        case = await cases.lock_case(session, case_id=case_id)
        if not (
            directory.has_role(actor.person, case.unit_id, Role.MVA)
            or directory.has_role(actor.person, case.unit_id, Role.PHYSICIAN)
        ):
            raise Refusal("role", "Du saknar behörighet att fördela ärenden på den här enheten.")
        # a case awaiting its physician's decision is handed on from the card that went
        # to the MVA channel since that physician has no chat ("Fördela om")
        if case.state not in _ASSIGNABLE or case.version != version:
            audit_case(session, actor=actor, action=VERB, case=case, outcome="stale")
            taken = case.physician.name if case.physician else None
            message = f"Redan fördelat till {taken}." if taken else already_decided(case)
            return Stale(case=case, message=message)
        physician = await directory.physician_of_unit(
            session, physician_aad, unit_id=case.unit_id
        )
        if physician is None:
            raise Refusal("not a physician of the unit", "Välj en läkare på enheten.")
        if physician.id == case.physician_id:
            raise Refusal("assign to same", f"Ärendet är redan hos {physician.name}.")
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action=VERB, case=case)
    event = (
        EventKind.REASSIGNED if case.state == CaseState.AWAITING_DECISION else EventKind.ASSIGNED
    )
    cases.give_to(session, case, physician, actor=actor, event=event, now=now)
    audit_case(
        session,
        actor=actor,
        action=VERB,
        case=case,
        detail={"physician": physician.aad_object_id},
    )
    log_on_commit(
        session,
        Event.CASE_ROUTED,
        case_id=case.id,
        unit_id=case.unit_id,
        physician_id=physician.id,
        by="assign",
    )
    await views.keep_current(session, case)
    await notify.post_decision_card(session, case)
    return Done(case=case)
