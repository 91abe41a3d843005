"""Card verbs (SPEC section 4): one table from verb to handler, each typed by its data.

Handlers parse the invoke data, call one service function inside one transaction, and
render the card to answer with. The verbs and their data are a contract: cards already
posted in Teams keep sending them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.cases import service as cases
from bot.cases import views
from bot.db import transaction
from bot.directory import service as directory
from bot.directory.models import Staff
from bot.jobs.service import digest_context
from bot.tasks.deadlines import STOCKHOLM, local_date
from bot.visits import service as visits
from cards.render import render


@dataclass(frozen=True)
class Invoke:
    """Who clicked, and when; `trigger` is `automatic` for a refresh, `manual` for a click."""

    actor_aad: str | None
    now: datetime
    trigger: str | None


@dataclass(frozen=True)
class Answer:
    """A card to replace the clicked one, or a Swedish error message."""

    card: dict[str, Any] | None = None
    error: str | None = None
    changed: bool = False
    decision: str | None = None  # the decision kind recorded by this action, if any


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_inputs_are_missing(cls, value: Any) -> Any:
        # Teams sends an empty input as "": treat it as not given
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if not (isinstance(v, str) and not v.strip())}
        return value


class DecideData(_Data):
    case_id: int
    version: int
    decision: str
    note: str | None = None
    other_note: str | None = None
    visit_physician: str | None = None
    physician: str | None = None


class AssignData(_Data):
    case_id: int
    version: int
    physician: str


class TaskData(_Data):
    task_id: int
    note: str | None = None
    booked_date: date | None = None
    booked_time: time | None = None
    view: str | None = None  # "digest" when clicked on the morning digest

    @model_validator(mode="before")
    @classmethod
    def _per_task_inputs(cls, value: Any) -> Any:
        # cards listing several tasks name the booking inputs per task: booked_date_<id>
        if isinstance(value, dict) and "task_id" in value:
            for name in ("booked_date", "booked_time"):
                suffixed = f"{name}_{value['task_id']}"
                if suffixed in value and name not in value:
                    value = {**value, name: value[suffixed]}
        return value

    def booked_at(self) -> datetime | None:
        """The booked visit (Stockholm wall time from the card) as an aware datetime."""
        if self.booked_date is None or self.booked_time is None:
            return None
        return datetime.combine(self.booked_date, self.booked_time, tzinfo=STOCKHOLM)


class RefreshData(_Data):
    case_id: int | None = None
    task_id: int | None = None
    view: str | None = None  # which card of the case: "visit" for the checklist


class VisitData(_Data):
    case_id: int
    patient_informed: bool = False
    investigation: str | None = None
    treatment: str | None = None
    no_treatment_reason: str | None = None
    followup_date: date | None = None
    physio_contact: bool = False


Handler = Callable[[AsyncSession, Staff | None, Any, Invoke], Awaitable[Answer]]


async def _decide(
    session: AsyncSession, actor: Staff | None, data: DecideData, inv: Invoke
) -> Answer:
    note = data.other_note if data.decision == "other" and data.other_note else data.note
    outcome = await cases.decide_case(
        session,
        case_id=data.case_id,
        version=data.version,
        decision=data.decision,
        note=note,
        visit_physician_aad=data.visit_physician,
        reassign_to_aad=data.physician or data.visit_physician,
        actor=actor,
        actor_aad=inv.actor_aad,
        now=inv.now,
    )
    if outcome.error or outcome.case is None:
        return Answer(error=outcome.message)
    if outcome.ok or actor is None:
        card = await views.summary_card(
            session, outcome.case, now=inv.now, notice=outcome.message, tasks=outcome.tasks
        )
    else:  # stale card: answer with the current one for this physician
        card = await views.card_for_viewer(
            session, outcome.case, viewer=actor, now=inv.now, notice=outcome.message
        )
    return Answer(card=card, changed=outcome.ok, decision=data.decision if outcome.ok else None)


async def _assign(
    session: AsyncSession, actor: Staff | None, data: AssignData, inv: Invoke
) -> Answer:
    outcome = await cases.assign_case(
        session,
        case_id=data.case_id,
        version=data.version,
        physician_aad=data.physician,
        actor=actor,
        actor_aad=inv.actor_aad,
        now=inv.now,
    )
    if outcome.error or outcome.case is None:
        return Answer(error=outcome.message)
    if outcome.ok:
        case = outcome.case
        assert actor is not None and case.physician is not None
        card = await views.triage_card(
            session,
            case,
            assigned={
                "to": case.physician.name,
                "by": actor.name,
                "at": views.fmt_time(inv.now) or "",
            },
        )
        return Answer(card=card, changed=True)
    assert actor is not None
    card = await views.card_for_viewer(
        session, outcome.case, viewer=actor, now=inv.now, notice=outcome.message
    )
    return Answer(card=card)


async def _task(
    session: AsyncSession, actor: Staff | None, data: TaskData, inv: Invoke, *, reopen: bool
) -> Answer:
    if reopen:
        outcome = await cases.reopen_task(
            session, task_id=data.task_id, actor=actor, actor_aad=inv.actor_aad, now=inv.now
        )
    else:
        outcome = await cases.complete_task(
            session,
            task_id=data.task_id,
            note=data.note,
            booked_at=data.booked_at(),
            actor=actor,
            actor_aad=inv.actor_aad,
            now=inv.now,
        )
    if outcome.error or outcome.case is None or outcome.task is None:
        return Answer(error=outcome.message)
    if data.view == "digest":
        ctx = await digest_context(session, unit=outcome.case.unit, today=local_date(inv.now))
        return Answer(card=render("digest_card", **ctx), changed=outcome.ok)
    card = await views.task_card(
        session,
        outcome.case,
        group=views.task_group(outcome.task),
        now=inv.now,
        notice=outcome.message,
    )
    return Answer(card=card, changed=outcome.ok)


async def _complete(
    session: AsyncSession, actor: Staff | None, data: TaskData, inv: Invoke
) -> Answer:
    return await _task(session, actor, data, inv, reopen=False)


async def _reopen(
    session: AsyncSession, actor: Staff | None, data: TaskData, inv: Invoke
) -> Answer:
    return await _task(session, actor, data, inv, reopen=True)


async def _record_visit(
    session: AsyncSession, actor: Staff | None, data: VisitData, inv: Invoke
) -> Answer:
    checklist = visits.Checklist(
        patient_informed=data.patient_informed,
        investigation=data.investigation,
        treatment=data.treatment or "",
        no_treatment_reason=data.no_treatment_reason,
        followup_date=data.followup_date,
        physio_contact=data.physio_contact,
    )
    outcome = await visits.record_visit(
        session,
        case_id=data.case_id,
        checklist=checklist,
        actor=actor,
        actor_aad=inv.actor_aad,
        now=inv.now,
    )
    if outcome.error or outcome.case is None:
        return Answer(error=outcome.message)
    card = await views.summary_card(session, outcome.case, now=inv.now, notice=outcome.message)
    return Answer(card=card, changed=outcome.ok)


async def _refresh(
    session: AsyncSession, actor: Staff | None, data: RefreshData, inv: Invoke
) -> Answer:
    if data.case_id is None and data.task_id is None:
        return Answer(error="Kortet saknar ärende eller uppgift.")
    if data.view == "visit" and data.case_id is not None:
        checklist = await visits.current_checklist(
            session,
            case_id=data.case_id,
            actor=actor,
            actor_aad=inv.actor_aad,
            trigger=inv.trigger,
        )
        if checklist is not None:
            return Answer(card=checklist)
    outcome, card = await cases.view_case(
        session,
        case_id=data.case_id,
        task_id=data.task_id,
        actor=actor,
        actor_aad=inv.actor_aad,
        now=inv.now,
        trigger=inv.trigger,
        view=data.view,
    )
    if card is None:
        return Answer(error=outcome.message)
    return Answer(card=card)


VERBS: dict[str, tuple[type[_Data], Handler]] = {
    "case.decide": (DecideData, _decide),
    "case.assign": (AssignData, _assign),
    "task.complete": (TaskData, _complete),
    "task.reopen": (TaskData, _reopen),
    "card.refresh": (RefreshData, _refresh),
    "visit.record": (VisitData, _record_visit),
}
# Verbs of the contract that are not served (yet): answered with a clear message.
PENDING_VERBS: dict[str, str] = {}


def _describe(error: ValidationError) -> str:
    fields = sorted({".".join(str(p) for p in e["loc"]) or "data" for e in error.errors()})
    return "Ogiltiga uppgifter i kortet (" + ", ".join(fields) + "). Ladda om kortet."


async def dispatch(
    factory: async_sessionmaker[AsyncSession], verb: str | None, data: Any, inv: Invoke
) -> Answer:
    """Run one card action in one transaction and return what to answer Teams with."""
    if verb in PENDING_VERBS:
        return Answer(error=PENDING_VERBS[verb])
    entry = VERBS.get(verb or "")
    if entry is None:
        return Answer(error="Okänd åtgärd. Ladda om kortet.")
    model, handler = entry
    try:
        parsed = model.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        async with transaction(factory) as session:
            audit.record(
                session,
                actor=cases.actor_id(None, inv.actor_aad),
                action=verb or "unknown",
                outcome="refused",
                detail={"reason": "invalid data"},
            )
        return Answer(error=_describe(exc))
    async with transaction(factory) as session:
        actor = await directory.staff_by_aad(session, inv.actor_aad) if inv.actor_aad else None
        return await handler(session, actor, parsed, inv)


def check_verbs() -> None:
    """Start-up check: every verb of the contract has a handler or a pending answer."""
    contract = {
        "case.decide",
        "case.assign",
        "task.complete",
        "task.reopen",
        "visit.record",
        "card.refresh",
    }
    missing = contract - set(VERBS) - set(PENDING_VERBS)
    if missing:
        raise RuntimeError(f"card verbs without handler: {sorted(missing)}")
