"""`case.decide`: the physician's decision on a case (SPEC 2.2), or handing it to a
colleague (`reassign`).

A decision is recorded once, on the case as the card showed it (`version`): it creates
the decision's tasks and posts their cards to the assignees. A decision of no osteoporosis
that goes against the answer (`clinical.against_no_osteoporosis`) records nothing until
the physician confirms it (`Unconfirmed`: the card asks, saying why). A reassignment makes another
physician of the unit the case's owner and posts the decision card to them. A card drawn
from an older state records nothing (`Stale`), and neither does a refusal (`Refused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.answers import suggestion_of
from bot.cases.audit import audit_case, audit_stale, write_audit
from bot.cases.clinical import against_no_osteoporosis
from bot.cases.enums import CaseState, DecisionKind, EventKind
from bot.cases.models import MAX_NOTE, Case
from bot.core.refusal import Refusal
from bot.core.texts import too_long
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.flows.click import Answer, Invoke, acting, stale_case_answer
from bot.flows.data import DecideData
from bot.flows.result import Done, Refused, Result, Stale, refused
from bot.flows.verbs import Verb
from bot.logs import Event, log_on_commit
from bot.messaging import cards, notify, views
from bot.messaging.format import already_decided, case_ref
from bot.tasks import service as tasks

__all__ = ["VERB", "Unconfirmed", "decide_case", "on_decide"]

VERB = Verb.DECIDE
_NO_OSTEOPOROSIS = (DecisionKind.NORMAL_LETTER, DecisionKind.NORMAL_CALL)


@dataclass(frozen=True)
class Unconfirmed:
    """The decision goes against the answer: nothing is recorded until the physician
    confirms it. `reasons`: why, in Swedish, one line each."""

    case: Case
    decision: DecisionKind
    reasons: tuple[str, ...]


async def on_decide(
    factory: async_sessionmaker[AsyncSession], data: DecideData, invoke: Invoke
) -> Answer:
    """The click: decide in one transaction; answer with the read-only summary card, or
    the current card with what happened meanwhile, or the refusal."""
    note = data.other_note if data.decision == DecisionKind.OTHER and data.other_note else data.note
    async with acting(factory, invoke) as (session, actor):
        result = await decide_case(
            session,
            case_id=data.case_id,
            version=data.version,
            decision=data.decision,
            note=note,
            visit_physician_aad=data.visit_physician,
            reassign_to_aad=data.physician or data.visit_physician,
            actor=actor,
            now=invoke.now,
            confirmed=data.confirmed,
        )
        match result:
            case Unconfirmed():
                card = cards.confirm_decision_card(
                    result.case, decision=result.decision, reasons=result.reasons
                )
                return Answer(card=card)
            case Refused():
                return Answer(error=result.message)
            case Stale():
                return await stale_case_answer(session, result, actor=actor, now=invoke.now)
            case Done():
                card = await cards.summary_card(
                    session,
                    result.case,
                    now=invoke.now,
                    notice=result.message,
                    tasks=result.tasks,
                    undo_for=actor.person,
                )
                return Answer(card=card, changed=True, decision=data.decision)


async def decide_case(
    session: AsyncSession,
    *,
    case_id: int,
    version: int,
    decision: str,
    note: str | None,
    visit_physician_aad: str | None,
    reassign_to_aad: str | None,
    actor: Actor,
    now: datetime,
    confirmed: bool = False,
) -> Result | Unconfirmed:
    """Record `decision` (a `DecisionKind` value) on the case by `actor`, who must be a
    physician of its unit, in the caller's transaction. `note` is required for `other`;
    `visit_physician_aad` chooses who sees a call-in patient (default: the decider);
    `reassign_to_aad` is the physician a `reassign` hands the case to. A decision of no
    osteoporosis against the answer is `Unconfirmed` (audited, outcome ``confirm``)
    unless `confirmed`."""
    case: Case | None = None
    try:
        case = await cases.lock_case(session, case_id=case_id, with_history=True)
        if not directory.has_role(actor.person, case.unit_id, Role.PHYSICIAN):
            raise Refusal("role", "Endast läkare på enheten kan besluta i ärendet.")
        if case.state != CaseState.AWAITING_DECISION or case.version != version:
            return _stale(session, case, actor=actor, version=version)
        if decision not in tuple(DecisionKind):
            raise Refusal("unknown decision", "Okänt beslut.")
        kind = DecisionKind(decision)
        note = _clean(note)
        if note is not None and len(note) > MAX_NOTE:
            raise Refusal(
                "note too long", too_long("Anteckningen", length=len(note), limit=MAX_NOTE)
            )
        if kind == DecisionKind.REASSIGN:
            return await _reassign(session, case, to_aad=reassign_to_aad, actor=actor, now=now)
        if kind in _NO_OSTEOPOROSIS and not confirmed:
            reasons = against_no_osteoporosis(suggestion_of(case))
            if reasons:
                return await _unconfirmed(session, case, kind=kind, reasons=reasons, actor=actor)
        return await _decide(
            session,
            case,
            kind=kind,
            note=note,
            visit_physician_aad=visit_physician_aad,
            actor=actor,
            now=now,
        )
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action=VERB, case=case)


def _clean(note: str | None) -> str | None:
    text = note.strip() if note is not None else ""
    return text or None


async def _unconfirmed(
    session: AsyncSession, case: Case, *, kind: DecisionKind, reasons: list[str], actor: Actor
) -> Unconfirmed:
    await write_audit(
        session,
        actor=actor,
        action=VERB,
        case=case,
        outcome="confirm",
        detail={"decision": kind.value, "reasons": reasons},
    )
    return Unconfirmed(case=case, decision=kind, reasons=tuple(reasons))


def _stale(session: AsyncSession, case: Case, *, actor: Actor, version: int) -> Stale:
    audit_stale(session, actor=actor, action=VERB, case=case, version=version)
    if case.state == CaseState.SUPERSEDED:
        message = f"Ersatt av korrigerat svar: {case_ref(case.superseded_by_id or 0)}."
    elif case.decision is not None:
        message = already_decided(case)
    else:
        message = "Kortet var inaktuellt; här är det aktuella. Inget beslut registrerades."
    return Stale(case=case, message=message)


async def _reassign(
    session: AsyncSession, case: Case, *, to_aad: str | None, actor: Actor, now: datetime
) -> Done:
    target = await directory.physician_of_unit(session, to_aad or "", unit_id=case.unit_id)
    if target is None:
        raise Refusal("reassign target", "Välj en läkare på enheten.")
    if target.id == case.physician_id:
        raise Refusal("reassign to same", "Ärendet är redan ditt.")
    cases.give_to(session, case, target, actor=actor, event=EventKind.REASSIGNED, now=now)
    audit_case(
        session,
        actor=actor,
        action="case.reassign",
        case=case,
        detail={"physician": target.aad_object_id},
    )
    log_on_commit(
        session,
        Event.CASE_ROUTED,
        case_id=case.id,
        unit_id=case.unit_id,
        physician_id=target.id,
        by="reassign",
    )
    await views.keep_current(session, case)
    await notify.post_decision_card(session, case, notice=f"Fördelat om av {actor.display_name}.")
    return Done(case=case, message=f"Fördelat om till {target.name}.")


async def _decide(
    session: AsyncSession,
    case: Case,
    *,
    kind: DecisionKind,
    note: str | None,
    visit_physician_aad: str | None,
    actor: Actor,
    now: datetime,
) -> Done:
    physician = actor.staff
    if kind == DecisionKind.OTHER and not note:
        raise Refusal("other without text", "Skriv vilken åtgärd som ska göras.")
    visit_physician: Staff | None = None
    if kind == DecisionKind.CALL_IN:
        visit_physician = physician
        if visit_physician_aad and visit_physician_aad != physician.aad_object_id:
            visit_physician = await directory.physician_of_unit(
                session, visit_physician_aad, unit_id=case.unit_id
            )
            if visit_physician is None:
                raise Refusal("visit physician", "Välj en läkare på enheten för besöket.")
    created = await tasks.record_decision(
        session,
        case,
        kind=kind,
        note=note,
        visit_physician=visit_physician,
        actor=actor,
        now=now,
        action=VERB,
    )
    log_on_commit(
        session,
        Event.DECISION_RECORDED,
        case_id=case.id,
        unit_id=case.unit_id,
        decision=kind.value,
        tasks=len(created),
    )
    await notify.post_task_cards(session, case, created, keep_current=True)
    return Done(case=case, tasks=created)
