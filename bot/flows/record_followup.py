"""`followup.record`: the physician's follow-up after the visit (SPEC 2.4).

Recorded once, on the case as the card showed it (`version`): treatment started or not,
still taken or stopped and why, falls, a new fracture, the next follow-up and a new DXA.
With a next follow-up date the case stays in follow-up and the next card goes out on that
day; without one the case closes. Only the case's physicians may record it; a card drawn
from an older state records nothing (`Stale`), nor does a refusal (`Refused`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case, audit_stale
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import Case
from bot.core.calendar import local_date
from bot.core.refusal import Refusal
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.flows.click import Answer, Invoke, acting, stale_case_answer
from bot.flows.data import FollowUpData
from bot.flows.result import Done, Refused, Result, Stale, refused
from bot.flows.verbs import Verb
from bot.messaging import cards, views
from bot.messaging.format import fmt_time
from bot.visits import followups
from bot.visits.models import FollowUp
from bot.visits.service import TREATMENTS

__all__ = ["VERB", "on_record_followup", "record_followup"]

VERB = Verb.RECORD_FOLLOWUP


async def on_record_followup(
    factory: async_sessionmaker[AsyncSession], data: FollowUpData, invoke: Invoke
) -> Answer:
    """The click: record in one transaction; answer with the summary card, or the current
    card with what happened meanwhile, or the refusal."""
    async with acting(factory, invoke) as (session, actor):
        result = await record_followup(
            session, data=data, actor=actor, now=invoke.now
        )
        match result:
            case Refused():
                return Answer(error=result.message)
            case Stale():
                return await stale_case_answer(session, result, actor=actor, now=invoke.now)
            case Done():
                card = await cards.summary_card(
                    session, result.case, now=invoke.now, notice=result.message
                )
                return Answer(card=card, changed=True)


def outcome_of(data: FollowUpData) -> followups.Outcome:
    """The card's answers as the follow-up service takes them."""
    return followups.Outcome(
        treatment=data.treatment or "",
        not_started_reason=data.not_started_reason,
        on_treatment=data.on_treatment,
        stopped_reason=data.stopped_reason,
        stopped_note=data.stopped_note,
        falls=bool(data.falls),
        new_fracture=bool(data.new_fracture),
        next_due=data.next_due,
        dxa_planned=data.dxa_planned,
        physio_assessed_on=data.physio_assessed_on,
    )


async def record_followup(
    session: AsyncSession, *, data: FollowUpData, actor: Actor, now: datetime
) -> Result:
    """Record the case's open follow-up by `actor` (a physician of the unit who is the
    case's or the follow-up's physician), in the caller's transaction."""
    case: Case | None = None
    try:
        case = await cases.lock_case(session, case_id=data.case_id)
        follow_up = await followups.open_follow_up(session, case_id=case.id)
        _check_physician(case, follow_up, actor)
        if case.state != CaseState.FOLLOW_UP or follow_up is None or case.version != data.version:
            return await _stale(session, case, actor=actor, version=data.version)
        if data.falls is None or data.new_fracture is None:
            raise Refusal("unanswered", "Svara på om patienten har fallit och fått en ny fraktur.")
        outcome = outcome_of(data)
        problem = followups.outcome_problem(outcome, today=local_date(now))
        if problem:
            raise Refusal("invalid follow-up", problem)
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action=VERB, case=case)
    physician = actor.staff
    followups.record(follow_up, outcome, by=physician, now=now)
    cases.record_event(
        session,
        case,
        EventKind.FOLLOW_UP_RECORDED,
        actor=actor,
        reason=_summary(outcome),
        now=now,
    )
    if outcome.next_due is not None:
        followups.plan(
            session,
            case,
            due=outcome.next_due,
            physician=follow_up.physician or physician,
            number=follow_up.number + 1,
            actor=actor,
            now=now,
        )
        message = f"Uppföljningen registrerad. Nästa uppföljning {outcome.next_due.isoformat()}."
    else:
        cases.close(session, case, actor=actor, reason="uppföljning klar", now=now)
        message = "Uppföljningen registrerad. Ärendet är avslutat."
    audit_case(
        session,
        actor=actor,
        action=VERB,
        case=case,
        detail={
            "number": follow_up.number,
            "treatment_started": outcome.treatment != "none",
            "on_treatment": outcome.on_treatment,
            "new_fracture": outcome.new_fracture,
            "next_due": outcome.next_due.isoformat() if outcome.next_due else None,
        },
    )
    await views.keep_current(session, case)
    return Done(case=case, message=message)


def _summary(outcome: followups.Outcome) -> str:
    """The history line's reason: what came of it, in a few words (no free text)."""
    if outcome.treatment == "none":
        treatment = "ingen behandling"
    elif outcome.on_treatment:
        treatment = f"{TREATMENTS[outcome.treatment]}, pågår"
    else:
        stopped = followups.STOPPED_LABELS.get(outcome.stopped_reason or "", "")
        treatment = f"{TREATMENTS[outcome.treatment]}, avslutad ({stopped.lower()})"
    parts = [treatment]
    if outcome.falls:
        parts.append("fall")
    if outcome.new_fracture:
        parts.append("ny fraktur")
    if outcome.physio_assessed_on is not None:
        parts.append(f"fysioterapibedömning genomförd {outcome.physio_assessed_on.isoformat()}")
    return "; ".join(parts)


def _check_physician(case: Case, follow_up: FollowUp | None, actor: Actor) -> None:
    person = actor.person
    allowed = (
        person is not None
        and directory.has_role(person, case.unit_id, Role.PHYSICIAN)
        and person.id
        in {case.physician_id, follow_up.physician_id if follow_up else None} - {None}
    )
    if not allowed:
        raise Refusal("role", "Endast ärendets läkare kan registrera uppföljningen.")


async def _stale(session: AsyncSession, case: Case, *, actor: Actor, version: int) -> Stale:
    audit_stale(session, actor=actor, action=VERB, case=case, version=version)
    latest = next(
        (
            f
            for f in reversed(await followups.of_case(session, case_id=case.id))
            if f.recorded_at is not None
        ),
        None,
    )
    if latest is not None and latest.recorded_at is not None:
        who = latest.recorded_by.name if latest.recorded_by else "en läkare"
        message = f"Redan registrerad av {who} ({fmt_time(latest.recorded_at)})."
    else:
        message = "Kortet var inaktuellt; här är det aktuella. Inget registrerades."
    return Stale(case=case, message=message)
