"""Follow-ups after the call-in visit (routine §5, SPEC 2.4): planning one, what the
physician answers on the follow-up card, recording it, and which are due.

Primitives in the caller's transaction; the flows (`bot.flows.record_visit`,
`bot.flows.record_followup`) and the follow-up card job (`bot.jobs.followups`) compose
them. A case has at most one open (unrecorded) follow-up: the latest one planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import service as cases
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import Case
from bot.core.calendar import local_date
from bot.core.texts import too_long
from bot.directory.actor import Actor
from bot.directory.models import Staff
from bot.visits.models import FollowUp, Visit
from bot.visits.service import TREATMENTS

__all__ = [
    "MAX_FOLLOWUP_TEXT",
    "NEXT_AFTER_TREATMENT",
    "STOPPED_LABELS",
    "FollowUp",
    "Outcome",
    "StoppedReason",
    "cards_due",
    "due_for",
    "of_case",
    "open_follow_up",
    "outcome_problem",
    "plan",
    "record",
    "suggested_next",
    "treatment_started_before",
]

MAX_FOLLOWUP_TEXT = 500  # each free text of the card (its `maxLength` is the same)
NEXT_AFTER_TREATMENT = timedelta(weeks=52)  # the suggested next follow-up, from the decision


class StoppedReason(StrEnum):
    """Why a patient stopped their osteoporosis treatment."""

    SIDE_EFFECTS = "side_effects"
    PATIENT_CHOICE = "patient_choice"
    OTHER = "other"


STOPPED_LABELS: Final[dict[str, str]] = {
    StoppedReason.SIDE_EFFECTS: "Biverkningar",
    StoppedReason.PATIENT_CHOICE: "Patientens val",
    StoppedReason.OTHER: "Annat",
}


@dataclass(frozen=True)
class Outcome:
    """What the physician answered on the follow-up card.

    `treatment`: a drug of `TREATMENTS`, or "none" (with `not_started_reason`);
    `on_treatment`: still taking it (None when not started), else `stopped_reason` (a
    `StoppedReason` value, "other" with `stopped_note`). `physio_assessed_on`: the date
    the physiotherapist's assessment was done, when it was.
    """

    treatment: str
    not_started_reason: str | None
    on_treatment: bool | None
    stopped_reason: str | None
    stopped_note: str | None
    falls: bool
    new_fracture: bool
    next_due: date | None
    dxa_planned: date | None
    physio_assessed_on: date | None = None


def outcome_problem(outcome: Outcome, *, today: date) -> str | None:
    """A Swedish message for the first thing wrong with the answers, else None."""
    for text, what in (
        (outcome.not_started_reason, "Skälet till att behandling inte har satts in"),
        (outcome.stopped_note, "Beskrivningen av varför behandlingen avslutades"),
    ):
        if text is not None and len(text) > MAX_FOLLOWUP_TEXT:
            return too_long(what, length=len(text), limit=MAX_FOLLOWUP_TEXT)
    if outcome.treatment not in TREATMENTS:
        return "Välj behandling, eller Ingen behandling."
    if outcome.treatment == "none":
        if not outcome.not_started_reason:
            return "Ange skälet till att behandling inte har satts in."
    elif outcome.on_treatment is None:
        return "Ange om patienten fortfarande tar behandlingen."
    elif not outcome.on_treatment:
        if outcome.stopped_reason not in tuple(StoppedReason):
            return "Ange varför behandlingen avslutades."
        if outcome.stopped_reason == StoppedReason.OTHER and not outcome.stopped_note:
            return "Beskriv varför behandlingen avslutades."
    if outcome.next_due is not None and outcome.next_due <= today:
        return "Nästa uppföljning ska ligga efter i dag."
    if outcome.dxa_planned is not None and outcome.dxa_planned < today:
        return "Datumet för ny bentäthetsmätning har redan passerat."
    if outcome.physio_assessed_on is not None and outcome.physio_assessed_on > today:
        return "Fysioterapeutens bedömning kan inte ha gjorts i framtiden."
    return None


def plan(
    session: AsyncSession,
    case: Case,
    *,
    due: date,
    physician: Staff | None,
    number: int,
    actor: Actor,
    now: datetime,
) -> FollowUp:
    """Plan follow-up number `number` of the case on `due`, for `physician`: the case is
    (or stays) in `follow_up`, with the plan in its history."""
    follow_up = FollowUp(
        case_id=case.id,
        number=number,
        due=due,
        physician_id=physician.id if physician else None,
        created_at=now,
    )
    session.add(follow_up)
    cases.transition(
        session,
        case,
        CaseState.FOLLOW_UP,
        actor=actor,
        event=EventKind.FOLLOW_UP_PLANNED,
        reason=due.isoformat(),
        now=now,
    )
    return follow_up


async def open_follow_up(session: AsyncSession, *, case_id: int) -> FollowUp | None:
    """The case's follow-up that waits to be recorded, if any."""
    return await session.scalar(
        select(FollowUp)
        .where(FollowUp.case_id == case_id, FollowUp.recorded_at.is_(None))
        .order_by(FollowUp.number.desc())
        .limit(1)
    )


async def of_case(session: AsyncSession, *, case_id: int) -> Sequence[FollowUp]:
    """The case's follow-ups, in order."""
    rows = await session.scalars(
        select(FollowUp).where(FollowUp.case_id == case_id).order_by(FollowUp.number)
    )
    return rows.all()


def record(follow_up: FollowUp, outcome: Outcome, *, by: Staff, now: datetime) -> None:
    """Write `outcome` on the open `follow_up`."""
    started = outcome.treatment != "none"
    follow_up.recorded_at = now
    follow_up.recorded_by_id = by.id
    follow_up.treatment_started = started
    follow_up.treatment_drug = outcome.treatment if started else None
    follow_up.not_started_reason = None if started else outcome.not_started_reason
    follow_up.on_treatment = outcome.on_treatment if started else None
    stopped = started and outcome.on_treatment is False
    follow_up.stopped_reason = outcome.stopped_reason if stopped else None
    follow_up.stopped_note = outcome.stopped_note if stopped else None
    follow_up.falls = outcome.falls
    follow_up.new_fracture = outcome.new_fracture
    follow_up.next_due = outcome.next_due
    follow_up.dxa_planned = outcome.dxa_planned
    follow_up.physio_assessed_on = outcome.physio_assessed_on


def treatment_started_before(visit: Visit | None, earlier: Sequence[FollowUp]) -> str | None:
    """The drug started at the visit or the latest earlier follow-up that says, if any
    (the card's default answer)."""
    for follow_up in reversed(earlier):
        if follow_up.recorded_at is not None and follow_up.treatment_drug:
            return follow_up.treatment_drug
    if visit is not None and visit.treatment_drug:
        return visit.treatment_drug
    return None


def suggested_next(case: Case, *, treated: bool, today: date) -> date | None:
    """The next follow-up the card suggests: 52 weeks after the decision when treatment
    was started (if that is still ahead), else none."""
    if not treated or case.decided_at is None:
        return None
    suggestion = local_date(case.decided_at) + NEXT_AFTER_TREATMENT
    return suggestion if suggestion > today else None


async def cards_due(session: AsyncSession, *, unit_id: int, today: date) -> Sequence[FollowUp]:
    """The unit's follow-ups due today or earlier whose card has not gone out, of cases
    still in follow-up, locked (rows other transactions hold are skipped)."""
    rows = await session.scalars(
        select(FollowUp)
        .join(Case, Case.id == FollowUp.case_id)
        .where(
            Case.unit_id == unit_id,
            Case.state == CaseState.FOLLOW_UP,
            FollowUp.due <= today,
            FollowUp.card_sent_at.is_(None),
            FollowUp.recorded_at.is_(None),
        )
        .order_by(FollowUp.due, FollowUp.id)
        .with_for_update(skip_locked=True, of=FollowUp)
    )
    return rows.all()


async def due_for(
    session: AsyncSession, *, physician_id: int | None = None, unit_id: int | None = None,
    today: date, overdue_only: bool = False,
) -> Sequence[tuple[FollowUp, Case]]:
    """Open follow-ups due today or earlier (only earlier: `overdue_only`) of cases in
    follow-up: a physician's (the follow-up's physician or the case's), or a unit's;
    earliest due first."""
    query = (
        select(FollowUp, Case)
        .join(Case, Case.id == FollowUp.case_id)
        .where(
            Case.state == CaseState.FOLLOW_UP,
            FollowUp.recorded_at.is_(None),
            FollowUp.due < today if overdue_only else FollowUp.due <= today,
        )
        .order_by(FollowUp.due, FollowUp.id)
    )
    if physician_id is not None:
        query = query.where(
            (FollowUp.physician_id == physician_id)
            | (FollowUp.physician_id.is_(None) & (Case.physician_id == physician_id))
        )
    if unit_id is not None:
        query = query.where(Case.unit_id == unit_id)
    return [(f, c) for f, c in (await session.execute(query)).all()]
