"""Case actions: assignment, decision, task completion. One call is one user action.

Each function works inside the caller's transaction: the state change, its tasks, the
audit row and the outbox rows commit together. Guards raise `Refusal`; a refusal changes
nothing but its audit row and comes back as `Refused` (`bot.flows.result`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import states, views
from bot.cases.audit import audit_case
from bot.cases.enums import DECISION_LABELS, CaseState, DecisionKind, EventKind
from bot.cases.models import Case, CaseEvent, Decision
from bot.core.calendar import local_date
from bot.core.refusal import Refusal
from bot.core.texts import too_long
from bot.db import load_locked
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.flows.result import Done, Refused, Result, Stale, refused
from bot.outbox import service as outbox
from bot.tasks import service as tasks_service
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import MAX_TASK_NOTE, Task
from bot.visits.models import Visit


async def get_case(session: AsyncSession, *, case_id: int, for_update: bool = False) -> Case | None:
    """A case by id; with `for_update` the row is locked until the transaction ends."""
    if for_update:
        return await load_locked(session, Case, case_id)
    return await session.scalar(select(Case).where(Case.id == case_id))


async def lock_case(session: AsyncSession, *, case_id: int) -> Case:
    """The case, its row locked until the transaction ends; `Refusal` ("unknown case")
    when there is none."""
    case = await get_case(session, case_id=case_id, for_update=True)
    if case is None:
        raise Refusal("unknown case", f"Ärende {case_id} finns inte.")
    return case


def record_event(
    session: AsyncSession,
    case: Case,
    event: EventKind,
    *,
    actor: Actor,
    reason: str | None = None,
    now: datetime,
) -> None:
    """Add a history row for a change that keeps the case's state (a task done, a visit)."""
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor.display_name,
            action=event,
            from_state=case.state,
            to_state=case.state,
            reason=reason,
        )
    )


def transition(
    session: AsyncSession,
    case: Case,
    to_state: CaseState,
    *,
    actor: Actor,
    event: EventKind,
    reason: str | None = None,
    now: datetime,
) -> None:
    """Move a case to a new state (checked: `IllegalTransition`), bump its version and
    record the event in its history."""
    states.check_transition(case.state, to_state)
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor.display_name,
            action=event,
            from_state=case.state,
            to_state=to_state,
            reason=reason,
        )
    )
    case.state = to_state
    case.version += 1


def give_to(
    session: AsyncSession,
    case: Case,
    physician: Staff,
    *,
    actor: Actor,
    event: EventKind,
    now: datetime,
) -> None:
    """Make `physician` the case's owner, awaiting their decision: `event` is
    `ASSIGNED` (from triage) or `REASSIGNED` (from a colleague)."""
    case.physician_id = physician.id
    case.physician = physician
    transition(
        session,
        case,
        CaseState.AWAITING_DECISION,
        actor=actor,
        event=event,
        reason=f"till {physician.name}",
        now=now,
    )


def record_decision(
    session: AsyncSession,
    case: Case,
    *,
    kind: DecisionKind,
    note: str | None,
    visit_physician: Staff | None,
    actor: Actor,
    now: datetime,
) -> Decision:
    """Record the decision of `actor` (a physician) and move the case to `decided`.
    `visit_physician` sees a call-in patient (None for the other kinds)."""
    physician = actor.staff
    decision = Decision(
        case_id=case.id,
        kind=kind,
        by_id=physician.id,
        by=physician,
        at=now,
        note=note,
        visit_physician_id=visit_physician.id if visit_physician else None,
        visit_physician=visit_physician,
    )
    session.add(decision)
    case.decision = decision
    case.decided_at = now
    transition(
        session,
        case,
        CaseState.DECIDED,
        actor=actor,
        event=EventKind.DECIDED,
        reason=DECISION_LABELS[kind],
        now=now,
    )
    return decision


async def notify_physician(session: AsyncSession, case: Case, *, notice: str | None = None) -> None:
    """Send the decision card to the case's physician (via the outbox)."""
    assert case.physician is not None
    card = await views.decision_card(session, case, notice=notice)
    outbox.enqueue(
        session,
        purpose="decision_card",
        target_kind="user",
        target=case.physician.aad_object_id,
        activity=outbox.card_activity(
            card, summary=f"DXA-svar att bedöma: {views.case_ref(case.id)}"
        ),
        unit_id=case.unit_id,
        case_id=case.id,
    )


async def notify_triage(session: AsyncSession, case: Case, *, notice: str | None = None) -> None:
    """Post the triage card in the unit's MVA channel."""
    card = await views.triage_card(session, case, notice=notice)
    outbox.enqueue(
        session,
        purpose="triage_card",
        target_kind="channel",
        target=case.unit.mva_channel or "",
        activity=outbox.card_activity(
            card, summary=f"DXA-svar att fördela: {views.case_ref(case.id)}"
        ),
        unit_id=case.unit_id,
        case_id=case.id,
    )


async def notify_tasks(
    session: AsyncSession, case: Case, tasks: list[Task], *, now: datetime
) -> None:
    """Post one task card per assignee group: the MVA channel, or the physician's chat.
    `tasks` are all the case's tasks (the ones its decision just created)."""
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        groups.setdefault(views.task_group(task), []).append(task)
    for group, members in groups.items():
        first = members[0]
        card = await views.task_card(session, case, group=group, now=now, tasks=members)
        if group == Role.MVA:
            kind, target = "channel", case.unit.mva_channel or ""
        else:
            assert first.assignee is not None
            kind, target = "user", first.assignee.aad_object_id
        outbox.enqueue(
            session,
            purpose="task_card",
            target_kind=kind,
            target=target,
            activity=outbox.card_activity(
                card, summary=f"Nya uppgifter: {views.case_ref(case.id)}"
            ),
            unit_id=case.unit_id,
            case_id=case.id,
            task_id=first.id,
        )


def _clean_note(note: str | None) -> str | None:
    text = note.strip() if note is not None else ""
    return text or None


async def _lock_task(session: AsyncSession, *, task_id: int) -> tuple[Task, Case]:
    """The task and its case, both locked; `Refusal` ("unknown task") when there is none."""
    task = await tasks_service.get_for_update(session, task_id=task_id)
    case = await get_case(session, case_id=task.case_id, for_update=True) if task else None
    if task is None or case is None:
        raise Refusal("unknown task", f"Uppgift {task_id} finns inte.")
    return task, case


def _may_handle(task: Task, actor: Actor) -> None:
    if not tasks_service.may_handle(task, actor.person):
        raise Refusal("role", "Du saknar behörighet för den här uppgiften.")


async def complete_task(
    session: AsyncSession,
    *,
    task_id: int,
    note: str | None,
    actor: Actor,
    now: datetime,
    booked_at: datetime | None = None,
) -> Result:
    """Tick a task off. "Boka läkartid" needs the booked visit time and books the visit.

    A case closes when no task is left open, except a call-in: that closes when the
    physician records the visit checklist.
    """
    task: Task | None = None
    case: Case | None = None
    try:
        task, case = await _lock_task(session, task_id=task_id)
        _may_handle(task, actor)
        return await _complete(
            session, task, case, note=note, booked_at=booked_at, actor=actor, now=now
        )
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action="task.complete", case=case, task=task)


async def _complete(
    session: AsyncSession,
    task: Task,
    case: Case,
    *,
    note: str | None,
    booked_at: datetime | None,
    actor: Actor,
    now: datetime,
) -> Result:
    person = actor.staff
    if task.status != TaskStatus.OPEN:
        audit_case(
            session,
            actor=actor,
            action="task.complete",
            case=case,
            task_id=task.id,
            outcome="stale",
        )
        done = (
            f"Redan klar – {task.done_by.name} ({views.fmt_time(task.done_at)})."
            if task.status == TaskStatus.DONE and task.done_by
            else "Uppgiften är inte längre öppen."
        )
        return Stale(case=case, task=task, message=done)
    note = _clean_note(note)
    if note is not None and len(note) > MAX_TASK_NOTE:
        raise Refusal(
            "note too long", too_long("Anteckningen", length=len(note), limit=MAX_TASK_NOTE)
        )
    if task.kind == TaskKind.BOOK_VISIT:
        if booked_at is None:
            raise Refusal(
                "booking without time", "Ange datum och klockslag för det bokade läkarbesöket."
            )
        if local_date(booked_at) < local_date(now):
            raise Refusal(
                "booking in the past", "Besöksdatumet har redan passerat. Ange den bokade tiden."
            )
        await _book_visit(session, case=case, booked_at=booked_at, actor=person)
        task.booked_at = booked_at
    task.status = TaskStatus.DONE
    task.done_by_id = person.id
    task.done_by = person
    task.done_at = now
    task.note = note or task.note
    record_event(session, case, EventKind.TASK_DONE, actor=actor, reason=task.title, now=now)
    audit_case(session, actor=actor, action="task.complete", case=case, task_id=task.id)
    await session.flush()
    closes_on_visit = case.decision is not None and case.decision.kind == DecisionKind.CALL_IN
    if (
        case.state == CaseState.DECIDED
        and not closes_on_visit
        and await tasks_service.open_count(session, case_id=case.id) == 0
    ):
        transition(
            session,
            case,
            CaseState.CLOSED,
            actor=actor,
            event=EventKind.CLOSED,
            reason="alla uppgifter klara",
            now=now,
        )
        case.closed_at = now
    return Done(case=case, task=task)


async def _book_visit(
    session: AsyncSession, *, case: Case, booked_at: datetime, actor: Staff
) -> Visit:
    """Record (or move) the booked call-in visit; its checklist goes out on the day."""
    visit = await session.scalar(select(Visit).where(Visit.case_id == case.id))
    physician_id = None
    if case.decision is not None:
        physician_id = case.decision.visit_physician_id or case.decision.by_id
    if visit is None:
        visit = Visit(case_id=case.id, physician_id=physician_id, booked_at=booked_at)
        session.add(visit)
    elif visit.recorded_at is None:
        visit.booked_at = booked_at
        visit.checklist_sent_at = None
    visit.booked_by_id = actor.id
    return visit


async def reopen_task(
    session: AsyncSession,
    *,
    task_id: int,
    actor: Actor,
    now: datetime,
) -> Result:
    """Undo a completion within 24 hours; a case it had closed goes back to decided."""
    task: Task | None = None
    case: Case | None = None
    try:
        task, case = await _lock_task(session, task_id=task_id)
        _may_handle(task, actor)
        return _reopen(session, task, case, actor=actor, now=now)
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action="task.reopen", case=case, task=task)


def _reopen(
    session: AsyncSession, task: Task, case: Case, *, actor: Actor, now: datetime
) -> Result:
    if task.status != TaskStatus.DONE or task.done_at is None:
        audit_case(
            session, actor=actor, action="task.reopen", case=case, task_id=task.id, outcome="stale"
        )
        return Stale(case=case, task=task, message="Uppgiften är redan öppen.")
    if now - task.done_at > tasks_service.REOPEN_WINDOW:
        raise Refusal("window", "Det går bara att ångra inom 24 timmar.", on_card=True)
    if case.state in (CaseState.SUPERSEDED, CaseState.CANCELLED):
        raise Refusal(
            "case ended",
            "Ärendet är avslutat på annat sätt; uppgiften kan inte ångras.",
            on_card=True,
        )
    task.status = TaskStatus.OPEN
    task.done_by_id = None
    task.done_by = None
    task.done_at = None
    record_event(session, case, EventKind.TASK_REOPENED, actor=actor, reason=task.title, now=now)
    if case.state == CaseState.CLOSED:
        transition(
            session,
            case,
            CaseState.DECIDED,
            actor=actor,
            event=EventKind.REOPENED,
            reason=f"uppgift ångrad: {task.title}",
            now=now,
        )
        case.closed_at = None
    audit_case(session, actor=actor, action="task.reopen", case=case, task_id=task.id)
    return Done(case=case, task=task)


async def show_case(
    session: AsyncSession,
    *,
    case_id: int | None,
    task_id: int | None,
    actor: Actor,
    trigger: str | None,
) -> Done | Refused:
    """A case (or a task's case) shown to `actor`, who must hold a role in its unit;
    audited as ``card.shown`` with the `trigger`, or as a refused ``card.refresh``."""
    task: Task | None = None
    case: Case | None = None
    try:
        if task_id is not None:
            task = await session.get(Task, task_id)
            case_id = task.case_id if task else None
        case = await get_case(session, case_id=case_id) if case_id is not None else None
        if case is None:
            raise Refusal("unknown case", "Ärendet finns inte.")
        if not any(directory.has_role(actor.person, case.unit_id, role) for role in Role):
            raise Refusal("role", "Du saknar behörighet till ärendet.")
    except Refusal as refusal:
        return refused(session, refusal, actor=actor, action="card.refresh", case=case, task=task)
    audit_case(
        session,
        actor=actor,
        action="card.shown",
        case=case,
        task_id=task.id if task else None,
        detail={"trigger": trigger or "unknown"},
    )
    return Done(case=case, task=task)


async def view_case(
    session: AsyncSession,
    *,
    case_id: int | None,
    task_id: int | None,
    actor: Actor,
    now: datetime,
    trigger: str | None,
    view: str | None = None,
) -> tuple[Done | Refused, dict[str, Any] | None]:
    """`card.refresh`: the current card for this viewer, audited as a card shown."""
    shown = await show_case(
        session, case_id=case_id, task_id=task_id, actor=actor, trigger=trigger
    )
    if isinstance(shown, Refused):
        return shown, None
    if shown.task is not None:
        card = await views.task_card(
            session, shown.case, group=views.task_group(shown.task), now=now
        )
    else:
        card = await views.card_for_viewer(
            session, shown.case, viewer=actor.staff, now=now, view=view
        )
    return shown, card
