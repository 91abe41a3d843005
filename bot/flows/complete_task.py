"""`task.complete`: an assignee ticks a task off. "Boka läkartid" takes the booked visit's
date and time and books the call-in visit (its checklist goes to the physician on the day).
"Fysioterapikontakt" takes the day the referral went (not later than today) and the clinic
that receives it; the case's history and summary show them.

The case closes when no task is left open, except a call-in, which closes when the
physician records the visit. The answer is the task card again (or the morning digest, when
clicked there), showing who ticked it off and when.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState, DecisionKind, EventKind
from bot.cases.models import Case
from bot.core.calendar import local_date
from bot.core.refusal import Refusal
from bot.core.texts import too_long
from bot.directory.actor import Actor
from bot.flows.click import Answer, Invoke, acting
from bot.flows.data import TaskData
from bot.flows.result import Done, Result, Stale, refused
from bot.flows.task_answer import task_answer
from bot.flows.verbs import Verb
from bot.logs import Event, log_on_commit
from bot.messaging import views
from bot.messaging.format import fmt_time
from bot.tasks import service as tasks
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import MAX_REFERRAL_CLINIC, MAX_TASK_NOTE, Task
from bot.visits import service as visits

__all__ = ["VERB", "complete_task", "on_complete_task"]

VERB = Verb.COMPLETE_TASK


async def on_complete_task(
    factory: async_sessionmaker[AsyncSession], data: TaskData, invoke: Invoke
) -> Answer:
    """The click: tick the task off in one transaction; answer with the card it was on."""
    async with acting(factory, invoke) as (session, actor):
        result = await complete_task(
            session,
            task_id=data.task_id,
            note=data.note,
            booked_at=data.booked_at(),
            referral_on=data.referral_on,
            referral_clinic=data.referral_clinic,
            actor=actor,
            now=invoke.now,
        )
        return await task_answer(session, result, view=data.view, now=invoke.now)


async def complete_task(
    session: AsyncSession,
    *,
    task_id: int,
    note: str | None,
    actor: Actor,
    now: datetime,
    booked_at: datetime | None = None,
    referral_on: date | None = None,
    referral_clinic: str | None = None,
) -> Result:
    """Tick the task off by `actor` (its MVA, or its assigned physician), in the caller's
    transaction. `note` is kept with the task; `booked_at` is required for "Boka läkartid"
    and may not be before `now` (a time later today is fine); `referral_on` (not after
    today, Stockholm) and `referral_clinic` are required for "Fysioterapikontakt"."""
    task: Task | None = None
    case: Case | None = None
    try:
        task, case = await tasks.lock_with_case(session, task_id=task_id)
        tasks.check_may_handle(task, actor.person)
        if task.status != TaskStatus.OPEN:
            return _stale(session, task, case, actor=actor)
        note = _clean(note)
        if note is not None and len(note) > MAX_TASK_NOTE:
            raise Refusal(
                "note too long", too_long("Anteckningen", length=len(note), limit=MAX_TASK_NOTE)
            )
        if task.kind == TaskKind.BOOK_VISIT:
            _check_booking(booked_at, now=now)
        if task.kind == TaskKind.PHYSIO:
            referral_clinic = _clean(referral_clinic)
            _check_referral(referral_on, referral_clinic, today=local_date(now))
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action=VERB, case=case, task=task)
    person = actor.staff
    if task.kind == TaskKind.BOOK_VISIT:
        assert booked_at is not None
        await visits.book(session, case=case, booked_at=booked_at, by=person)
        task.booked_at = booked_at
    reason = task.title
    detail = None
    if task.kind == TaskKind.PHYSIO:
        assert referral_on is not None and referral_clinic is not None
        task.referral_on = referral_on
        task.referral_clinic = referral_clinic
        reason = f"{task.title}: remiss skickad {referral_on.isoformat()} till {referral_clinic}"
        detail = {"referral_on": referral_on.isoformat()}
    tasks.mark_done(task, by=person, note=note, now=now)
    cases.record_event(session, case, EventKind.TASK_DONE, actor=actor, reason=reason, now=now)
    audit_case(session, actor=actor, action=VERB, case=case, task_id=task.id, detail=detail)
    log_on_commit(
        session, Event.TASK_DONE, task_id=task.id, case_id=case.id, task_kind=task.kind
    )
    await session.flush()
    closes_on_visit = case.decision is not None and case.decision.kind == DecisionKind.CALL_IN
    if (
        case.state == CaseState.DECIDED
        and not closes_on_visit
        and await tasks.open_count(session, case_id=case.id) == 0
    ):
        cases.close(session, case, actor=actor, reason="alla uppgifter klara", now=now)
    await views.keep_current(session, case)
    return Done(case=case, task=task)


def _clean(note: str | None) -> str | None:
    text = note.strip() if note is not None else ""
    return text or None


def _stale(session: AsyncSession, task: Task, case: Case, *, actor: Actor) -> Stale:
    audit_case(session, actor=actor, action=VERB, case=case, task_id=task.id, outcome="stale")
    message = (
        f"Redan klar – {task.done_by.name} ({fmt_time(task.done_at)})."
        if task.status == TaskStatus.DONE and task.done_by
        else "Uppgiften är inte längre öppen."
    )
    return Stale(case=case, task=task, message=message)


def _check_booking(booked_at: datetime | None, *, now: datetime) -> None:
    if booked_at is None:
        raise Refusal(
            "booking without time", "Ange datum och klockslag för det bokade läkarbesöket."
        )
    if booked_at < now:  # both aware: the card's Stockholm wall time against the clock
        raise Refusal(
            "booking in the past",
            f"Tiden har redan passerat ({fmt_time(booked_at)}). Välj en senare tid.",
        )


def _check_referral(referral_on: date | None, clinic: str | None, *, today: date) -> None:
    if referral_on is None or clinic is None:
        raise Refusal(
            "referral without date or clinic",
            "Ange datum då remissen skickades och mottagande mottagning.",
        )
    if len(clinic) > MAX_REFERRAL_CLINIC:
        raise Refusal(
            "clinic too long",
            too_long("Mottagande mottagning", length=len(clinic), limit=MAX_REFERRAL_CLINIC),
        )
    if referral_on > today:
        raise Refusal(
            "referral in the future",
            f"Datumet {referral_on.isoformat()} har inte kommit än. Ange dagen då remissen "
            "skickades (i dag eller tidigare).",
        )
