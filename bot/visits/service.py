"""The call-in visit: the checklist card on the day, and recording it (routine §5)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases import views
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import Case
from bot.core.calendar import STOCKHOLM, local_date
from bot.core.refusal import Refusal
from bot.core.texts import too_long
from bot.db import transaction
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.flows.result import Done, Result, Stale, refused
from bot.outbox import service as outbox
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import Task
from bot.visits.models import Visit

log = logging.getLogger("frakturkedjan.visits")
_SENDER = Actor.job("visits")

# value -> label; "none" needs a reason
TREATMENTS = {
    "alendronat": "Alendronat",
    "risedronat": "Risedronat",
    "zoledronsyra": "Zoledronsyra",
    "denosumab": "Denosumab",
    "teriparatid": "Teriparatid",
    "romosozumab": "Romosozumab",
    "none": "Ingen behandling",
}
PHYSIO_TASK = "Fysioterapikontakt"
# Free text of the checklist, kept whole or refused (the card's `maxLength` is the same)
MAX_INVESTIGATION = 500
MAX_NO_TREATMENT_REASON = 500


@dataclass(frozen=True)
class Checklist:
    """What the physician answered on the visit checklist card."""

    patient_informed: bool
    investigation: str | None
    treatment: str
    no_treatment_reason: str | None
    followup_date: date | None
    physio_contact: bool


def checklist_problem(checklist: Checklist, *, today: date) -> str | None:
    """A Swedish message for the first thing wrong with the answers, else None."""
    for text, what, limit in (
        (checklist.investigation, "Kompletterande utredning", MAX_INVESTIGATION),
        (
            checklist.no_treatment_reason,
            "Skälet till att ingen behandling sätts in",
            MAX_NO_TREATMENT_REASON,
        ),
    ):
        if text is not None and len(text) > limit:
            return too_long(what, length=len(text), limit=limit)
    if checklist.treatment not in TREATMENTS:
        return "Välj behandling, eller Ingen behandling."
    if checklist.treatment == "none" and not checklist.no_treatment_reason:
        return "Ange skälet till att ingen behandling sätts in."
    if checklist.followup_date is not None and checklist.followup_date < today:
        return "Uppföljningsdatumet har redan passerat."
    return None


async def visit_of(session: AsyncSession, *, case_id: int) -> Visit | None:
    """The case's call-in visit, once booked."""
    return await session.scalar(select(Visit).where(Visit.case_id == case_id))


async def book(session: AsyncSession, *, case: Case, booked_at: datetime, by: Staff) -> Visit:
    """Record (or move, while not yet recorded) the booked call-in visit of a decided case;
    its checklist goes out on the day (again, when moved). The visit's physician is the
    one the decision chose, else the decider."""
    visit = await visit_of(session, case_id=case.id)
    physician_id = None
    if case.decision is not None:
        physician_id = case.decision.visit_physician_id or case.decision.by_id
    if visit is None:
        visit = Visit(case_id=case.id, physician_id=physician_id, booked_at=booked_at)
        session.add(visit)
    elif visit.recorded_at is None:
        visit.booked_at = booked_at
        visit.checklist_sent_at = None
    visit.booked_by_id = by.id
    return visit


async def checklist_card(session: AsyncSession, case: Case, visit: Visit) -> dict[str, object]:
    from cards.render import render

    ctx = views.common_context(case)
    return render(
        "visit_card",
        case=ctx["case"],
        patient=ctx["patient"],
        visit={"booked_at": views.fmt_time(visit.booked_at)},
        treatments=[{"value": k, "title": v} for k, v in TREATMENTS.items()],
        refresh_user_ids=[visit.physician.teams_user_id]
        if visit.physician and visit.physician.teams_user_id
        else [],
    )


async def send_due_checklists(factory: async_sessionmaker[AsyncSession], *, now: datetime) -> int:
    """Send the checklist card for every booked visit of today (or earlier) not yet sent."""
    today = local_date(now)
    end_of_today = datetime.combine(today + timedelta(days=1), datetime.min.time(), STOCKHOLM)
    sent = 0
    async with transaction(factory) as session:
        visits = (
            await session.scalars(
                select(Visit)
                .where(
                    Visit.checklist_sent_at.is_(None),
                    Visit.recorded_at.is_(None),
                    Visit.booked_at < end_of_today,
                )
                .with_for_update(skip_locked=True, of=Visit)
            )
        ).all()
        for visit in visits:
            case = await cases.get_case(session, case_id=visit.case_id)
            if case is None or case.state != CaseState.DECIDED or visit.physician is None:
                visit.checklist_sent_at = now  # nothing to ask: the case moved on
                continue
            card = await checklist_card(session, case, visit)
            outbox.enqueue(
                session,
                purpose="visit_checklist",
                target_kind="user",
                target=visit.physician.aad_object_id,
                activity=outbox.card_activity(
                    card, summary=f"Besökschecklista: {views.case_ref(case.id)}"
                ),
                unit_id=case.unit_id,
                case_id=case.id,
            )
            visit.checklist_sent_at = now
            audit_case(session, actor=_SENDER, action="visit.checklist_sent", case=case)
            sent += 1
    if sent:
        log.info("visit checklists sent", extra={"count": sent})
    return sent


async def record_visit(
    session: AsyncSession,
    *,
    case_id: int,
    checklist: Checklist,
    actor: Actor,
    now: datetime,
) -> Result:
    """The physician records the checklist: the case closes; physio contact makes a task."""
    case: Case | None = None
    try:
        case = await cases.lock_case(session, case_id=case_id)
        return await _record(session, case, checklist=checklist, actor=actor, now=now)
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action="visit.record", case=case)


async def _record(
    session: AsyncSession, case: Case, *, checklist: Checklist, actor: Actor, now: datetime
) -> Result:
    visit = await session.scalar(select(Visit).where(Visit.case_id == case.id))
    person = actor.person
    allowed = (
        person is not None
        and directory.has_role(person, case.unit_id, Role.PHYSICIAN)
        and (visit is None or person.id in (visit.physician_id, case.physician_id))
    )
    if not allowed:
        raise Refusal("role", "Endast ärendets läkare kan registrera besöket.")
    physician = actor.staff
    if visit is None or case.state != CaseState.DECIDED or visit.recorded_at is not None:
        audit_case(session, actor=actor, action="visit.record", case=case, outcome="stale")
        message = (
            f"Besöket är redan registrerat ({views.fmt_time(visit.recorded_at)})."
            if visit is not None and visit.recorded_at is not None
            else "Det finns inget bokat besök att registrera i ärendet."
        )
        return Stale(case=case, message=message, on_card=visit is not None)
    problem = checklist_problem(checklist, today=local_date(now))
    if problem:
        raise Refusal("invalid checklist", problem)
    visit.recorded_at = now
    visit.recorded_by_id = physician.id
    visit.patient_informed = checklist.patient_informed
    visit.investigation = checklist.investigation
    visit.treatment_started = checklist.treatment != "none"
    visit.treatment_drug = None if checklist.treatment == "none" else checklist.treatment
    visit.no_treatment_reason = (
        checklist.no_treatment_reason if checklist.treatment == "none" else None
    )
    visit.followup_date = checklist.followup_date
    visit.physio_contact = checklist.physio_contact
    cases.record_event(
        session,
        case,
        EventKind.VISIT_RECORDED,
        actor=actor,
        reason=TREATMENTS[checklist.treatment],
        now=now,
    )
    cases.transition(
        session,
        case,
        CaseState.CLOSED,
        actor=actor,
        event=EventKind.CLOSED,
        reason="besök genomfört",
        now=now,
    )
    case.closed_at = now
    audit_case(
        session,
        actor=actor,
        action="visit.record",
        case=case,
        detail={
            "treatment_started": visit.treatment_started,
            "physio_contact": checklist.physio_contact,
        },
    )
    if checklist.physio_contact:
        task = Task(
            case_id=case.id,
            unit_id=case.unit_id,
            kind=TaskKind.PHYSIO,
            position=10,
            title=PHYSIO_TASK,
            description="Förmedla kontakt med fysioterapeut (fall, styrka och balans).",
            assignee_role=Role.MVA,
            due=local_date(now) + timedelta(days=7),
            status=TaskStatus.OPEN,
            created_at=now,
        )
        session.add(task)
        await session.flush()
        await cases.notify_tasks(session, case, [task], now=now)
    return Done(
        case=case, message=f"Besöket registrerat av {physician.name}. Ärendet är avslutat."
    )


async def current_checklist(
    session: AsyncSession,
    *,
    case_id: int,
    actor: Actor,
    trigger: str | None,
) -> dict[str, object] | None:
    """The open checklist card for its physician (a refresh), or None to show the case."""
    visit = await session.scalar(select(Visit).where(Visit.case_id == case_id))
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
    return await checklist_card(session, case, visit)
