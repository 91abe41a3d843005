"""`visit.record`: the physician records the visit checklist of a call-in (routine §5).

The answers are kept on the visit, the case closes, and a physiotherapy contact becomes an
MVA task with its card. The answer is the case's read-only summary card.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import Case
from bot.core.calendar import local_date
from bot.core.refusal import Refusal
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.flows.click import Answer, Invoke, acting, error_of
from bot.flows.data import VisitData
from bot.flows.result import Done, Result, Stale, refused
from bot.flows.verbs import Verb
from bot.messaging import cards, notify, views
from bot.messaging.format import fmt_time
from bot.visits import followups
from bot.visits import service as visits
from bot.visits.models import Visit

__all__ = ["VERB", "on_record_visit", "record_visit"]

VERB = Verb.RECORD_VISIT


async def on_record_visit(
    factory: async_sessionmaker[AsyncSession], data: VisitData, invoke: Invoke
) -> Answer:
    """The click: record the checklist in one transaction; answer with the summary card."""
    checklist = visits.Checklist(
        patient_informed=data.patient_informed,
        investigation=data.investigation,
        treatment=data.treatment or "",
        no_treatment_reason=data.no_treatment_reason,
        followup_date=data.followup_date,
        physio_contact=data.physio_contact,
    )
    async with acting(factory, invoke) as (session, actor):
        result = await record_visit(
            session, case_id=data.case_id, checklist=checklist, actor=actor, now=invoke.now
        )
        if not isinstance(result, Done) and (error := error_of(result)):
            return error
        if result.case is None:
            return Answer(error=result.message)
        card = await cards.summary_card(
            session, result.case, now=invoke.now, notice=result.message
        )
        return Answer(card=card, changed=isinstance(result, Done))


async def record_visit(
    session: AsyncSession, *, case_id: int, checklist: visits.Checklist, actor: Actor, now: datetime
) -> Result:
    """Record the checklist of the case's booked visit by `actor` (a physician of the unit:
    the visit's or the case's), in the caller's transaction; the case goes to follow-up
    when the checklist plans one, else it closes."""
    case: Case | None = None
    try:
        case = await cases.lock_case(session, case_id=case_id)
        visit = await visits.visit_of(session, case_id=case.id)
        _check_physician(case, visit, actor)
        if visit is None or case.state != CaseState.DECIDED or visit.recorded_at is not None:
            return _stale(session, case, visit, actor=actor)
        problem = visits.checklist_problem(checklist, today=local_date(now))
        if problem:
            raise Refusal("invalid checklist", problem)
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action=VERB, case=case)
    physician = actor.staff
    visits.record_checklist(visit, checklist, by=physician, now=now)
    cases.record_event(
        session,
        case,
        EventKind.VISIT_RECORDED,
        actor=actor,
        reason=visits.TREATMENTS[checklist.treatment],
        now=now,
    )
    if checklist.followup_date is not None:
        followups.plan(
            session,
            case,
            due=checklist.followup_date,
            physician=visit.physician or physician,
            number=1,
            actor=actor,
            now=now,
        )
        message = (
            f"Besöket registrerat av {physician.name}. Uppföljning "
            f"{checklist.followup_date.isoformat()}."
        )
    else:
        cases.close(session, case, actor=actor, reason="besök genomfört", now=now)
        message = f"Besöket registrerat av {physician.name}. Ärendet är avslutat."
    audit_case(
        session,
        actor=actor,
        action=VERB,
        case=case,
        detail={
            "treatment_started": visit.treatment_started,
            "physio_contact": checklist.physio_contact,
        },
    )
    await views.keep_current(session, case)
    if checklist.physio_contact:
        task = visits.add_physio_task(session, case, now=now)
        await session.flush()
        await notify.post_task_cards(session, case, [task])
    return Done(case=case, message=message)


def _check_physician(case: Case, visit: Visit | None, actor: Actor) -> None:
    person = actor.person
    allowed = (
        person is not None
        and directory.has_role(person, case.unit_id, Role.PHYSICIAN)
        and (visit is None or person.id in (visit.physician_id, case.physician_id))
    )
    if not allowed:
        raise Refusal("role", "Endast ärendets läkare kan registrera besöket.")


def _stale(session: AsyncSession, case: Case, visit: Visit | None, *, actor: Actor) -> Stale:
    audit_case(session, actor=actor, action=VERB, case=case, outcome="stale")
    if visit is not None and visit.recorded_at is not None:
        message = f"Besöket är redan registrerat ({fmt_time(visit.recorded_at)})."
    else:
        message = "Det finns inget bokat besök att registrera i ärendet."
    return Stale(case=case, message=message, on_card=visit is not None)
