"""The call-in visit (routine §5): booking it, the physician's checklist and recording it.

Primitives on one visit in the caller's transaction; the flows (`bot.flows.complete_task`,
`bot.flows.record_visit`) and the checklist job (`bot.jobs.checklists`) compose them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.core.calendar import STOCKHOLM, add_working_days, local_date
from bot.core.texts import too_long
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import Task
from bot.visits.models import Visit

TREATMENTS = {
    "alendronat": "Alendronat",
    "risedronat": "Risedronat",
    "zoledronsyra": "Zoledronsyra",
    "denosumab": "Denosumab",
    "teriparatid": "Teriparatid",
    "romosozumab": "Romosozumab",
    "none": "Ingen behandling",
}
"""Treatment value -> label; "none" needs a reason."""
PHYSIO_TASK = "Fysioterapikontakt"
PHYSIO_DESCRIPTION = (
    "Skicka remiss till fysioterapeut: bedömning av fallrisk samt träning av styrka och "
    "balans. Kopiera remissutkastet till regionens säkra meddelandetjänst eller journalen."
)
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


def record_checklist(visit: Visit, checklist: Checklist, *, by: Staff, now: datetime) -> None:
    """Keep the physician's answers (checked by `checklist_problem`) on the visit."""
    visit.recorded_at = now
    visit.recorded_by_id = by.id
    visit.patient_informed = checklist.patient_informed
    visit.investigation = checklist.investigation
    visit.treatment_started = checklist.treatment != "none"
    visit.treatment_drug = None if checklist.treatment == "none" else checklist.treatment
    visit.no_treatment_reason = (
        checklist.no_treatment_reason if checklist.treatment == "none" else None
    )
    visit.followup_date = checklist.followup_date
    visit.physio_contact = checklist.physio_contact


def add_physio_task(session: AsyncSession, case: Case, *, now: datetime) -> Task:
    """The MVA task to refer the patient to a physiotherapist (fall-risk assessment,
    strength and balance training), due the unit's `physio_due_working_days` working days
    after the visit is recorded. Its card shows the referral draft (`bot.letters`); ticking
    it off records when the referral went, and to which clinic."""
    days = int(case.unit.setting("physio_due_working_days"))
    task = Task(
        case_id=case.id,
        unit_id=case.unit_id,
        kind=TaskKind.PHYSIO,
        position=10,
        title=PHYSIO_TASK,
        description=PHYSIO_DESCRIPTION,
        assignee_role=Role.MVA,
        due=add_working_days(local_date(now), days),
        status=TaskStatus.OPEN,
        created_at=now,
    )
    session.add(task)
    return task


async def checklists_due(session: AsyncSession, *, now: datetime) -> Sequence[Visit]:
    """Booked visits of today or earlier (Europe/Stockholm) whose checklist is neither sent
    nor answered, locked (rows other transactions hold are skipped)."""
    end_of_today = datetime.combine(
        local_date(now) + timedelta(days=1), datetime.min.time(), STOCKHOLM
    )
    rows = await session.scalars(
        select(Visit)
        .where(
            Visit.checklist_sent_at.is_(None),
            Visit.recorded_at.is_(None),
            Visit.booked_at < end_of_today,
        )
        .with_for_update(skip_locked=True, of=Visit)
    )
    return rows.all()


async def open_checklists(session: AsyncSession, *, physician_id: int) -> list[tuple[Visit, Case]]:
    """This physician's visits whose checklist went out and is not recorded, of cases still
    decided (the checklist `card.refresh` view ``visit`` opens), with their cases, earliest
    booked first."""
    rows = await session.execute(
        select(Visit, Case)
        .join(Case, Case.id == Visit.case_id)
        .where(
            Visit.physician_id == physician_id,
            Visit.checklist_sent_at.is_not(None),
            Visit.recorded_at.is_(None),
            Case.state == CaseState.DECIDED,
        )
        .order_by(Visit.booked_at, Visit.id)
    )
    return [(visit, case) for visit, case in rows.all()]
