"""The call-in visit: the checklist card on the day, and recording it (routine §5)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.cases import service as cases
from bot.cases import views
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import Case, CaseEvent
from bot.core.calendar import STOCKHOLM, local_date
from bot.db import transaction
from bot.directory import service as directory
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.outbox import service as outbox
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import Task
from bot.visits.models import Visit

log = logging.getLogger("frakturkedjan.visits")

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
            return cases.too_long(what, length=len(text), limit=limit)
    if checklist.treatment not in TREATMENTS:
        return "Välj behandling, eller Ingen behandling."
    if checklist.treatment == "none" and not checklist.no_treatment_reason:
        return "Ange skälet till att ingen behandling sätts in."
    if checklist.followup_date is not None and checklist.followup_date < today:
        return "Uppföljningsdatumet har redan passerat."
    return None


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
            audit.record(
                session,
                actor="system:visits",
                action="visit.checklist_sent",
                unit_id=case.unit_id,
                case_id=case.id,
                patient=case.patient_key,
            )
            sent += 1
    if sent:
        log.info("visit checklists sent", extra={"count": sent})
    return sent


async def record_visit(
    session: AsyncSession,
    *,
    case_id: int,
    checklist: Checklist,
    actor: Staff | None,
    actor_aad: str | None,
    now: datetime,
) -> cases.Outcome:
    """The physician records the checklist: the case closes; physio contact makes a task."""
    who = cases.actor_id(actor, actor_aad)
    case = await cases.case_for(session, action="visit.record", case_id=case_id, who=who)
    if isinstance(case, cases.Outcome):
        return case
    visit = await session.scalar(select(Visit).where(Visit.case_id == case.id))
    allowed = (
        actor is not None
        and directory.has_role(actor, case.unit_id, Role.PHYSICIAN)
        and (visit is None or actor.id in (visit.physician_id, case.physician_id))
    )
    if not allowed:
        return cases.refuse(
            session,
            action="visit.record",
            actor=who,
            case=case,
            reason="role",
            message="Endast ärendets läkare kan registrera besöket.",
        )
    assert actor is not None
    if visit is None or case.state != CaseState.DECIDED or visit.recorded_at is not None:
        audit.record(
            session,
            actor=who,
            action="visit.record",
            outcome="stale",
            unit_id=case.unit_id,
            case_id=case.id,
            patient=case.patient_key,
        )
        message = (
            f"Besöket är redan registrerat ({views.fmt_time(visit.recorded_at)})."
            if visit is not None and visit.recorded_at is not None
            else "Det finns inget bokat besök att registrera i ärendet."
        )
        return cases.Outcome(ok=False, case=case, message=message, error=visit is None)
    problem = checklist_problem(checklist, today=local_date(now))
    if problem:
        return cases.refuse(
            session,
            action="visit.record",
            actor=who,
            case=case,
            reason="invalid checklist",
            message=problem,
        )
    visit.recorded_at = now
    visit.recorded_by_id = actor.id
    visit.patient_informed = checklist.patient_informed
    visit.investigation = checklist.investigation
    visit.treatment_started = checklist.treatment != "none"
    visit.treatment_drug = None if checklist.treatment == "none" else checklist.treatment
    visit.no_treatment_reason = (
        checklist.no_treatment_reason if checklist.treatment == "none" else None
    )
    visit.followup_date = checklist.followup_date
    visit.physio_contact = checklist.physio_contact
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor.name,
            action=EventKind.VISIT_RECORDED,
            from_state=case.state,
            to_state=case.state,
            reason=TREATMENTS[checklist.treatment],
        )
    )
    cases.transition(
        session,
        case,
        CaseState.CLOSED,
        actor=actor.name,
        event=EventKind.CLOSED,
        reason="besök genomfört",
        now=now,
    )
    case.closed_at = now
    audit.record(
        session,
        actor=who,
        action="visit.record",
        unit_id=case.unit_id,
        case_id=case.id,
        patient=case.patient_key,
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
    return cases.Outcome(
        ok=True, case=case, message=f"Besöket registrerat av {actor.name}. Ärendet är avslutat."
    )


async def current_checklist(
    session: AsyncSession,
    *,
    case_id: int,
    actor: Staff | None,
    actor_aad: str | None,
    trigger: str | None,
) -> dict[str, object] | None:
    """The open checklist card for its physician (a refresh), or None to show the case."""
    visit = await session.scalar(select(Visit).where(Visit.case_id == case_id))
    if (
        visit is None
        or visit.recorded_at is not None
        or visit.checklist_sent_at is None
        or actor is None
        or actor.id != visit.physician_id
    ):
        return None
    case = await cases.get_case(session, case_id=case_id)
    if case is None or case.state != CaseState.DECIDED:
        return None
    audit.record(
        session,
        actor=cases.actor_id(actor, actor_aad),
        action="card.shown",
        unit_id=case.unit_id,
        case_id=case.id,
        patient=case.patient_key,
        detail={"trigger": trigger or "unknown", "card": "visit"},
    )
    return await checklist_card(session, case, visit)
