"""Case actions: assignment, decision, task completion. One call is one user action.

Each function works inside the caller's transaction: the state change, its tasks, the
audit row and the outbox rows commit together. Refusals change nothing but their audit
row, and come back as an `Outcome` with a Swedish message instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit
from bot.cases import states, views
from bot.cases.enums import DECISION_LABELS, CaseState, DecisionKind, EventKind
from bot.cases.models import Case, CaseEvent, Decision
from bot.core.calendar import local_date
from bot.db import load_locked
from bot.directory import service as directory
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.outbox import service as outbox
from bot.tasks import service as tasks_service
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import Task
from bot.visits.models import Visit

# Free text is kept whole or refused, never cut. The cards' Input.Text `maxLength` and the
# card data models (bot/teams/actions.py) use these limits.
MAX_NOTE = 1000  # a decision's note: the call-in booking note, or the other action
MAX_TASK_NOTE = 1000  # a task's note


@dataclass
class Outcome:
    """What an action did. `error` answers with an error message; otherwise with a card."""

    ok: bool
    case: Case | None = None
    task: Task | None = None
    message: str | None = None
    error: bool = False
    tasks: list[Task] | None = None  # the tasks this action created, when it created some


def grouped(number: int) -> str:
    """`number` with Swedish digit grouping: 100 000."""
    return f"{number:,}".replace(",", " ")


def too_long(what: str, *, length: int, limit: int) -> str:
    """The refusal of a text over its limit, e.g. "Anteckningen är 100 000 tecken; högst
    1 000 får plats."."""
    return f"{what} är {grouped(length)} tecken; högst {grouped(limit)} får plats."


def actor_id(person: Staff | None, aad_object_id: str | None) -> str:
    """The audit log's name for a person acting in Teams."""
    if person is not None:
        return f"staff:{person.aad_object_id}"
    return f"aad:{aad_object_id or 'unknown'}"


async def get_case(session: AsyncSession, *, case_id: int, for_update: bool = False) -> Case | None:
    """A case by id; with `for_update` the row is locked until the transaction ends."""
    if for_update:
        return await load_locked(session, Case, case_id)
    return await session.scalar(select(Case).where(Case.id == case_id))


async def case_for(session: AsyncSession, *, action: str, case_id: int, who: str) -> Case | Outcome:
    """The case, locked for this action, or the audited refusal of an unknown id."""
    case = await get_case(session, case_id=case_id, for_update=True)
    if case is None:
        return refuse(
            session,
            action=action,
            actor=who,
            reason="unknown case",
            message=f"Ärende {case_id} finns inte.",
        )
    return case


def transition(
    session: AsyncSession,
    case: Case,
    to_state: CaseState,
    *,
    actor: str,
    event: EventKind,
    reason: str | None = None,
    now: datetime,
) -> None:
    """Move a case to a new state (checked), bump its version and record the event."""
    states.check_transition(case.state, to_state)
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor,
            action=event,
            from_state=case.state,
            to_state=to_state,
            reason=reason,
        )
    )
    case.state = to_state
    case.version += 1


def audit_case(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    case: Case,
    task: Task | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """An audit row about a case (its unit and patient pseudonym filled in)."""
    audit.record(
        session,
        actor=actor,
        action=action,
        outcome=outcome,
        unit_id=case.unit_id,
        case_id=case.id,
        task_id=task.id if task else None,
        patient=case.patient_key,
        detail=detail,
    )


def refuse(
    session: AsyncSession,
    *,
    action: str,
    actor: str,
    message: str,
    case: Case | None = None,
    task: Task | None = None,
    reason: str,
    error: bool = True,
) -> Outcome:
    audit.record(
        session,
        actor=actor,
        action=action,
        outcome="refused",
        unit_id=case.unit_id if case else (task.unit_id if task else None),
        case_id=case.id if case else (task.case_id if task else None),
        task_id=task.id if task else None,
        patient=case.patient_key if case else None,
        detail={"reason": reason},
    )
    return Outcome(ok=False, case=case, task=task, message=message, error=error)


def _already_decided_text(case: Case) -> str:
    decision = case.decision
    if decision is None:
        return "Kortet var inaktuellt; här är det aktuella."
    return f"Redan beslutat av {decision.by.name} ({views.fmt_time(decision.at)})."


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


async def _give_to(
    session: AsyncSession,
    case: Case,
    physician: Staff,
    *,
    actor: Staff,
    who: str,
    event: EventKind,
    audit_action: str,
    notice: str | None,
    now: datetime,
) -> None:
    """Make `physician` the case's owner (awaiting their decision) and send them the card."""
    case.physician_id = physician.id
    case.physician = physician
    transition(
        session,
        case,
        CaseState.AWAITING_DECISION,
        actor=actor.name,
        event=event,
        reason=f"till {physician.name}",
        now=now,
    )
    audit_case(
        session,
        actor=who,
        action=audit_action,
        case=case,
        detail={"physician": physician.aad_object_id},
    )
    await notify_physician(session, case, notice=notice)


async def assign_case(
    session: AsyncSession,
    *,
    case_id: int,
    version: int,
    physician_aad: str,
    actor: Staff | None,
    actor_aad: str | None,
    now: datetime,
) -> Outcome:
    """An MVA or physician of the unit gives an unassigned case to a physician."""
    who = actor_id(actor, actor_aad)
    case = await case_for(session, action="case.assign", case_id=case_id, who=who)
    if isinstance(case, Outcome):
        return case
    if not (
        directory.has_role(actor, case.unit_id, Role.MVA)
        or directory.has_role(actor, case.unit_id, Role.PHYSICIAN)
    ):
        return refuse(
            session,
            action="case.assign",
            actor=who,
            case=case,
            reason="role",
            message="Du saknar behörighet att fördela ärenden på den här enheten.",
        )
    if case.state != CaseState.AWAITING_ASSIGNMENT or case.version != version:
        audit_case(
            session,
            actor=who,
            action="case.assign",
            case=case,
            outcome="stale",
        )
        taken = case.physician.name if case.physician else None
        message = f"Redan fördelat till {taken}." if taken else _already_decided_text(case)
        return Outcome(ok=False, case=case, message=message)
    physician = await directory.staff_by_aad(session, physician_aad)
    if physician is None or not directory.has_role(physician, case.unit_id, Role.PHYSICIAN):
        return refuse(
            session,
            action="case.assign",
            actor=who,
            case=case,
            reason="not a physician of the unit",
            message="Välj en läkare på enheten.",
        )
    assert actor is not None
    await _give_to(
        session,
        case,
        physician,
        actor=actor,
        who=who,
        event=EventKind.ASSIGNED,
        audit_action="case.assign",
        notice=None,
        now=now,
    )
    return Outcome(
        ok=True,
        case=case,
        message=f"Fördelat till {physician.name} av {actor.name} ({views.fmt_time(now)}).",
    )


def _clean_note(note: str | None) -> str | None:
    text = note.strip() if note is not None else ""
    return text or None


async def decide_case(
    session: AsyncSession,
    *,
    case_id: int,
    version: int,
    decision: str,
    note: str | None,
    visit_physician_aad: str | None,
    reassign_to_aad: str | None,
    actor: Staff | None,
    actor_aad: str | None,
    now: datetime,
) -> Outcome:
    """The physician's decision (SPEC 2.2): records it, creates tasks, tells the assignees."""
    who = actor_id(actor, actor_aad)
    case = await case_for(session, action="case.decide", case_id=case_id, who=who)
    if isinstance(case, Outcome):
        return case
    if not directory.has_role(actor, case.unit_id, Role.PHYSICIAN):
        return refuse(
            session,
            action="case.decide",
            actor=who,
            case=case,
            reason="role",
            message="Endast läkare på enheten kan besluta i ärendet.",
        )
    assert actor is not None
    if case.state != CaseState.AWAITING_DECISION or case.version != version:
        audit_case(
            session,
            actor=who,
            action="case.decide",
            case=case,
            outcome="stale",
            detail={"card_version": version, "case_version": case.version},
        )
        if case.state == CaseState.SUPERSEDED:
            message = f"Ersatt av korrigerat svar: {views.case_ref(case.superseded_by_id or 0)}."
        elif case.decision is not None:
            message = _already_decided_text(case)
        else:
            message = "Kortet var inaktuellt; här är det aktuella. Inget beslut registrerades."
        return Outcome(ok=False, case=case, message=message)
    if decision not in tuple(DecisionKind):
        return refuse(
            session,
            action="case.decide",
            actor=who,
            case=case,
            reason="unknown decision",
            message="Okänt beslut.",
        )
    note = _clean_note(note)
    if note is not None and len(note) > MAX_NOTE:
        return refuse(
            session,
            action="case.decide",
            actor=who,
            case=case,
            reason="note too long",
            message=too_long("Anteckningen", length=len(note), limit=MAX_NOTE),
        )

    kind = DecisionKind(decision)
    if kind == DecisionKind.REASSIGN:
        target = await directory.staff_by_aad(session, reassign_to_aad or "")
        if target is None or not directory.has_role(target, case.unit_id, Role.PHYSICIAN):
            return refuse(
                session,
                action="case.decide",
                actor=who,
                case=case,
                reason="reassign target",
                message="Välj en läkare på enheten.",
            )
        if target.id == case.physician_id:
            return refuse(
                session,
                action="case.decide",
                actor=who,
                case=case,
                reason="reassign to same",
                message="Ärendet är redan ditt.",
            )
        await _give_to(
            session,
            case,
            target,
            actor=actor,
            who=who,
            event=EventKind.REASSIGNED,
            audit_action="case.reassign",
            notice=f"Fördelat om av {actor.name}.",
            now=now,
        )
        return Outcome(ok=True, case=case, message=f"Fördelat om till {target.name}.")

    if kind == DecisionKind.OTHER and not note:
        return refuse(
            session,
            action="case.decide",
            actor=who,
            case=case,
            reason="other without text",
            message="Skriv vilken åtgärd som ska göras.",
        )
    visit_physician: Staff | None = None
    if kind == DecisionKind.CALL_IN:
        if visit_physician_aad and visit_physician_aad != actor.aad_object_id:
            visit_physician = await directory.staff_by_aad(session, visit_physician_aad)
            if visit_physician is None or not directory.has_role(
                visit_physician, case.unit_id, Role.PHYSICIAN
            ):
                return refuse(
                    session,
                    action="case.decide",
                    actor=who,
                    case=case,
                    reason="visit physician",
                    message="Välj en läkare på enheten för besöket.",
                )
        else:
            visit_physician = actor

    record = Decision(
        case_id=case.id,
        kind=kind,
        by_id=actor.id,
        by=actor,
        at=now,
        note=note,
        visit_physician_id=visit_physician.id if visit_physician else None,
        visit_physician=visit_physician,
    )
    session.add(record)
    case.decision = record
    case.decided_at = now
    transition(
        session,
        case,
        CaseState.DECIDED,
        actor=actor.name,
        event=EventKind.DECIDED,
        reason=DECISION_LABELS[kind],
        now=now,
    )
    tasks = tasks_service.create_tasks(
        session,
        case=case,
        decision=record,
        decided_by=actor,
        visit_physician=visit_physician,
        now=now,
    )
    await session.flush()  # one flush for the decision, the case and its tasks (their ids)
    audit_case(
        session,
        actor=who,
        action="case.decide",
        case=case,
        detail={"decision": decision, "tasks": [t.id for t in tasks]},
    )
    await notify_tasks(session, case, tasks, now=now)
    return Outcome(ok=True, case=case, tasks=tasks)


async def _task_for(
    session: AsyncSession, *, action: str, task_id: int, actor: Staff | None, who: str
) -> tuple[Task, Case] | Outcome:
    """The task and its case, both locked, when `actor` may handle it; else the refusal."""
    task, case = await _task_and_case(session, task_id)
    if task is None or case is None:
        return refuse(
            session,
            action=action,
            actor=who,
            reason="unknown task",
            message=f"Uppgift {task_id} finns inte.",
        )
    if not tasks_service.may_handle(task, actor):
        return refuse(
            session,
            action=action,
            actor=who,
            case=case,
            task=task,
            reason="role",
            message="Du saknar behörighet för den här uppgiften.",
        )
    return task, case


async def _task_and_case(session: AsyncSession, task_id: int) -> tuple[Task | None, Case | None]:
    task = await tasks_service.get_for_update(session, task_id=task_id)
    if task is None:
        return None, None
    return task, await get_case(session, case_id=task.case_id, for_update=True)


async def complete_task(
    session: AsyncSession,
    *,
    task_id: int,
    note: str | None,
    actor: Staff | None,
    actor_aad: str | None,
    now: datetime,
    booked_at: datetime | None = None,
) -> Outcome:
    """Tick a task off. "Boka läkartid" needs the booked visit time and books the visit.

    A case closes when no task is left open, except a call-in: that closes when the
    physician records the visit checklist.
    """
    who = actor_id(actor, actor_aad)
    found = await _task_for(session, action="task.complete", task_id=task_id, actor=actor, who=who)
    if isinstance(found, Outcome):
        return found
    task, case = found
    assert actor is not None
    if task.status != TaskStatus.OPEN:
        audit_case(
            session,
            actor=who,
            action="task.complete",
            case=case,
            task=task,
            outcome="stale",
        )
        done = (
            f"Redan klar – {task.done_by.name} ({views.fmt_time(task.done_at)})."
            if task.status == TaskStatus.DONE and task.done_by
            else "Uppgiften är inte längre öppen."
        )
        return Outcome(ok=False, case=case, task=task, message=done)
    note = _clean_note(note)
    if note is not None and len(note) > MAX_TASK_NOTE:
        return refuse(
            session,
            action="task.complete",
            actor=who,
            case=case,
            task=task,
            reason="note too long",
            message=too_long("Anteckningen", length=len(note), limit=MAX_TASK_NOTE),
        )
    if task.kind == TaskKind.BOOK_VISIT:
        if booked_at is None:
            return refuse(
                session,
                action="task.complete",
                actor=who,
                case=case,
                task=task,
                reason="booking without time",
                message="Ange datum och klockslag för det bokade läkarbesöket.",
            )
        if local_date(booked_at) < local_date(now):
            return refuse(
                session,
                action="task.complete",
                actor=who,
                case=case,
                task=task,
                reason="booking in the past",
                message="Besöksdatumet har redan passerat. Ange den bokade tiden.",
            )
        await _book_visit(session, case=case, booked_at=booked_at, actor=actor)
        task.booked_at = booked_at
    task.status = TaskStatus.DONE
    task.done_by_id = actor.id
    task.done_by = actor
    task.done_at = now
    task.note = note or task.note
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor.name,
            action=EventKind.TASK_DONE,
            from_state=case.state,
            to_state=case.state,
            reason=task.title,
        )
    )
    audit_case(
        session,
        actor=who,
        action="task.complete",
        case=case,
        task=task,
    )
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
            actor=actor.name,
            event=EventKind.CLOSED,
            reason="alla uppgifter klara",
            now=now,
        )
        case.closed_at = now
    return Outcome(ok=True, case=case, task=task)


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
    actor: Staff | None,
    actor_aad: str | None,
    now: datetime,
) -> Outcome:
    """Undo a completion within 24 hours; a case it had closed goes back to decided."""
    who = actor_id(actor, actor_aad)
    found = await _task_for(session, action="task.reopen", task_id=task_id, actor=actor, who=who)
    if isinstance(found, Outcome):
        return found
    task, case = found
    assert actor is not None
    if task.status != TaskStatus.DONE or task.done_at is None:
        audit_case(
            session,
            actor=who,
            action="task.reopen",
            case=case,
            task=task,
            outcome="stale",
        )
        return Outcome(ok=False, case=case, task=task, message="Uppgiften är redan öppen.")
    if now - task.done_at > tasks_service.REOPEN_WINDOW:
        return refuse(
            session,
            action="task.reopen",
            actor=who,
            case=case,
            task=task,
            reason="window",
            error=False,
            message="Det går bara att ångra inom 24 timmar.",
        )
    if case.state in (CaseState.SUPERSEDED, CaseState.CANCELLED):
        return refuse(
            session,
            action="task.reopen",
            actor=who,
            case=case,
            task=task,
            reason="case ended",
            error=False,
            message="Ärendet är avslutat på annat sätt; uppgiften kan inte ångras.",
        )
    task.status = TaskStatus.OPEN
    task.done_by_id = None
    task.done_by = None
    task.done_at = None
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor.name,
            action=EventKind.TASK_REOPENED,
            from_state=case.state,
            to_state=case.state,
            reason=task.title,
        )
    )
    if case.state == CaseState.CLOSED:
        transition(
            session,
            case,
            CaseState.DECIDED,
            actor=actor.name,
            event=EventKind.REOPENED,
            reason=f"uppgift ångrad: {task.title}",
            now=now,
        )
        case.closed_at = None
    audit_case(
        session,
        actor=who,
        action="task.reopen",
        case=case,
        task=task,
    )
    return Outcome(ok=True, case=case, task=task)


async def view_case(
    session: AsyncSession,
    *,
    case_id: int | None,
    task_id: int | None,
    actor: Staff | None,
    actor_aad: str | None,
    now: datetime,
    trigger: str | None,
    view: str | None = None,
) -> tuple[Outcome, dict[str, Any] | None]:
    """`card.refresh`: the current card for this viewer, audited as a card shown."""
    who = actor_id(actor, actor_aad)
    task: Task | None = None
    if task_id is not None:
        task = await session.get(Task, task_id)
        case_id = task.case_id if task else None
    case = await get_case(session, case_id=case_id) if case_id is not None else None
    if case is None:
        return refuse(
            session,
            action="card.refresh",
            actor=who,
            reason="unknown case",
            message="Ärendet finns inte.",
        ), None
    if not any(directory.has_role(actor, case.unit_id, r) for r in Role):
        return refuse(
            session,
            action="card.refresh",
            actor=who,
            case=case,
            task=task,
            reason="role",
            message="Du saknar behörighet till ärendet.",
        ), None
    assert actor is not None
    audit.record(
        session,
        actor=who,
        action="card.shown",
        unit_id=case.unit_id,
        case_id=case.id,
        task_id=task.id if task else None,
        patient=case.patient_key,
        detail={"trigger": trigger or "unknown"},
    )
    if task is not None:
        card = await views.task_card(session, case, group=views.task_group(task), now=now)
    else:
        card = await views.card_for_viewer(session, case, viewer=actor, now=now, view=view)
    return Outcome(ok=True, case=case, task=task), card
