"""Tasks: the ones each decision creates (SPEC 2.2), and ticking them off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Select,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.models import AuditEntry
from bot.cases import service as cases
from bot.cases.audit import audit_row, write_audit
from bot.cases.enums import DecisionKind
from bot.cases.models import Case, CaseEvent, Decision
from bot.cases.service import as_loaded, get_case
from bot.core.calendar import add_months, add_working_days, local_date
from bot.core.refusal import Refusal
from bot.db import load_locked, whole_database_locked
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import Staff, Unit
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import Task

REOPEN_WINDOW = timedelta(hours=24)
"""How long a tick may be undone (`task.reopen`); the task card offers it as long."""

# kind -> default title; a unit may override any of them in settings.task_texts.
TASK_TEXTS: dict[str, str] = {
    TaskKind.NORMAL_LETTER: "Skicka brevsvar om normal bentäthet",
    TaskKind.NORMAL_CALL: "Ring patienten om normalt svar",
    TaskKind.WAITLIST: "Sätt upp på väntelista (VL) till läkare",
    TaskKind.INVITATION_LETTER: (
        "Skicka brev: svar på bentäthetsmätning och kallelse inom {months} månader"
    ),
    TaskKind.LAB_PACKAGE: "Beställ prover: Osteoporospaket",
    TaskKind.BOOK_VISIT: "Boka läkartid",
    TaskKind.OTHER: "Annan åtgärd",
}
BOOKING_NOTE = "Frakturkedjepatient – osteoporospaket ska tas före läkarbesöket"


@dataclass(frozen=True)
class TaskPlan:
    kind: TaskKind
    title: str
    description: str | None
    assignee_role: Role
    assignee_id: int | None
    due_days: int = 0
    due_working_days: int = 0
    due_months: int = 0


def _text(unit: Unit, kind: TaskKind) -> str:
    overrides = unit.setting("task_texts") or {}
    text = overrides.get(kind, TASK_TEXTS[kind])
    return str(text).replace("{months}", str(unit.setting("call_in_months")))


def plan_tasks(
    *, unit: Unit, decision: Decision, decided_by: Staff, visit_physician: Staff | None
) -> list[TaskPlan]:
    """The tasks a decision creates, with their assignees and due rules."""
    kind = decision.kind
    if kind in (DecisionKind.NORMAL_LETTER, DecisionKind.NORMAL_CALL):
        task_kind = TaskKind(kind)
        to_mva = kind == DecisionKind.NORMAL_LETTER and unit.setting("letter_tasks_to") == Role.MVA
        return [
            TaskPlan(
                kind=task_kind,
                title=_text(unit, task_kind),
                description=None,
                assignee_role=Role.MVA if to_mva else Role.PHYSICIAN,
                assignee_id=None if to_mva else decided_by.id,
                due_days=7,
            )
        ]
    if kind == DecisionKind.OTHER:
        return [
            TaskPlan(
                kind=TaskKind.OTHER,
                title=(decision.note or _text(unit, TaskKind.OTHER))[:500],
                description=decision.note if decision.note and len(decision.note) > 500 else None,
                assignee_role=Role.PHYSICIAN,
                assignee_id=decided_by.id,
                due_days=14,
            )
        ]
    if kind == DecisionKind.CALL_IN:
        who = visit_physician or decided_by
        booking = f'Bokningsunderlag: "{BOOKING_NOTE}". Läkare: {who.name}.'
        if decision.note:
            booking += f" Anteckning: {decision.note}"
        return [
            TaskPlan(
                TaskKind.WAITLIST,
                _text(unit, TaskKind.WAITLIST),
                booking,
                Role.MVA,
                None,
                due_working_days=3,
            ),
            TaskPlan(
                TaskKind.INVITATION_LETTER,
                _text(unit, TaskKind.INVITATION_LETTER),
                None,
                Role.MVA,
                None,
                due_working_days=3,
            ),
            TaskPlan(
                TaskKind.LAB_PACKAGE,
                _text(unit, TaskKind.LAB_PACKAGE),
                None,
                Role.MVA,
                None,
                due_working_days=3,
            ),
            TaskPlan(
                TaskKind.BOOK_VISIT,
                _text(unit, TaskKind.BOOK_VISIT),
                f"Läkarbesök hos {who.name} senast inom {unit.setting('call_in_months')} "
                "månader från beslutet.",
                Role.MVA,
                None,
                due_months=int(unit.setting("call_in_months")),
            ),
        ]
    raise ValueError(f"decision {kind!r} creates no tasks")


_TASKS = cast(Table, Task.__table__)
# built once; executed with a row each, it is one INSERT … VALUES (…), (…) RETURNING on
# both databases ("insertmanyvalues"): the position says which id is whose
_INSERT_TASKS = insert(_TASKS).returning(_TASKS.c.id, _TASKS.c.position)
_TASK_KEYS = tuple(c.key for c in _TASKS.c if c.key != "id")


def _task_rows(
    case: Case,
    *,
    kind: DecisionKind,
    note: str | None,
    decided_by: Staff,
    visit_physician: Staff | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The rows of the tasks a decision creates (`plan_tasks`), in position order, due
    dates computed from the decision date in Stockholm."""
    decided_on = local_date(now)
    plans = plan_tasks(
        unit=case.unit,
        decision=Decision(kind=kind, note=note),
        decided_by=decided_by,
        visit_physician=visit_physician,
    )
    rows: list[dict[str, Any]] = []
    for position, plan in enumerate(plans, start=1):
        due = decided_on + timedelta(days=plan.due_days)
        if plan.due_working_days:
            due = add_working_days(decided_on, plan.due_working_days)
        if plan.due_months:
            due = add_months(decided_on, plan.due_months)
        rows.append(
            {
                "case_id": case.id,
                "unit_id": case.unit_id,
                "kind": plan.kind,
                "position": position,
                "title": plan.title,
                "description": plan.description,
                "assignee_role": plan.assignee_role,
                "assignee_id": plan.assignee_id,
                "due": due,
                "status": TaskStatus.OPEN,
                "created_at": now,
                "done_by_id": None,
                "done_at": None,
                "note": None,
                "booked_at": None,
                "referral_on": None,
                "referral_clinic": None,
            }
        )
    return rows


async def record_decision(
    session: AsyncSession,
    case: Case,
    *,
    kind: DecisionKind,
    note: str | None,
    visit_physician: Staff | None,
    actor: Actor,
    now: datetime,
    action: str,
) -> list[Task]:
    """Record the decision of `actor` (a physician of the case's unit), moving the case to
    `decided` in its history (`bot.cases.service.decision_rows`), with the tasks it
    creates and its audit row (`action`; detail: the decision and its tasks' ids, in
    order). One statement on PostgreSQL (data-modifying CTEs), one a table on SQLite.
    Returns the tasks (one or more, `plan_tasks`; in position order) as the session's
    objects; `case` shows the decision."""
    physician = actor.staff
    written = cases.decision_rows(
        case, kind=kind, note=note, visit_physician=visit_physician, actor=actor, now=now
    )
    rows = _task_rows(
        case, kind=kind, note=note, decided_by=physician, visit_physician=visit_physician, now=now
    )
    if session.get_bind().dialect.name == "postgresql":
        decision_id, ids = await _record_in_one(session, case, written, rows, actor, action)
    else:  # SQLite has no data-modifying CTEs
        decision_id = await cases.write_decision(session, written)
        ids = {p: task_id for task_id, p in await session.execute(_INSERT_TASKS, rows)}
        detail = {"decision": kind.value, "tasks": [ids[row["position"]] for row in rows]}
        await write_audit(session, actor=actor, action=action, case=case, detail=detail)
    cases.took_decision(
        session,
        case,
        written,
        decision_id=decision_id,
        by=physician,
        visit_physician=visit_physician,
    )
    tasks: list[Task] = []
    for row in rows:
        task = Task(id=ids[row["position"]], **row)
        # set, so that cards read them without a query
        assignee = physician if row["assignee_id"] == physician.id else None
        as_loaded(session, task, assignee=assignee, done_by=None)
        tasks.append(task)
    return tasks


async def _record_in_one(
    session: AsyncSession,
    case: Case,
    written: cases.DecisionRows,
    rows: list[dict[str, Any]],
    actor: Actor,
    action: str,
) -> tuple[int, dict[int, int]]:
    """PostgreSQL: `record_decision`'s rows in one statement; the decision's id and the
    tasks' ids by position."""
    statement = _RECORDED.get(len(rows))
    if statement is None:
        statement = _RECORDED[len(rows)] = _recorded_statement(len(rows))
    params: dict[str, Any] = {f"decision_{k}": v for k, v in written.decision.items()}
    params.update({f"event_{k}": v for k, v in written.event.items()})
    params.update(written.case)
    for n, row in enumerate(rows):
        params.update({f"task{n}_{k}": v for k, v in row.items()})
    audit = audit_row(actor=actor, action=action, case=case)
    params.update({f"audit_{k}": v for k, v in audit.items() if k != "detail"})
    params["audit_decision"] = written.decision["kind"].value
    result = (await session.execute(statement, params)).all()
    ids = {position: task_id for _, task_id, position in result}
    return int(result[0][0]), ids


_RECORDED: dict[int, Select[Any]] = {}  # by number of tasks, each built once
_AUDIT = cast(Table, AuditEntry.__table__)


def _recorded_statement(count: int) -> Select[Any]:
    """PostgreSQL: the decision (parameters `decision_<column>`), its event
    (`event_<column>`), the case's new state (`DecisionRows.case`), `count` tasks
    (`task<n>_<column>`) and the audit row (`audit_<column>`; its detail built from the
    decision kind `audit_decision` and the tasks' ids) in one statement of data-modifying
    CTEs. Its rows: the decision's id with each task's id and position."""

    def binds(table: Table, prefix: str, keys: Sequence[str]) -> dict[str, Any]:
        return {k: bindparam(f"{prefix}_{k}", type_=table.c[k].type) for k in keys}

    decisions = cast(Table, Decision.__table__)
    events = cast(Table, CaseEvent.__table__)
    new_decision = (
        insert(decisions)
        .values(binds(decisions, "decision", [c.key for c in decisions.c if c.key != "id"]))
        .returning(decisions.c.id)
        .cte("new_decision")
    )
    new_event = insert(events).values(
        binds(events, "event", [c.key for c in events.c if c.key != "id"])
    )
    statement = select(new_decision.c.id).add_cte(new_event.cte("new_event"))
    statement = statement.add_cte(cases.DECIDED.cte("decided"))
    audit_keys = [c.key for c in _AUDIT.c if c.key not in ("id", "detail")]
    # INSERT … SELECT … UNION ALL …: SQLAlchemy caches its compiled form (not that of a
    # multi-row VALUES), and each click runs it
    rows = [select(*binds(_TASKS, f"task{n}", _TASK_KEYS).values()) for n in range(count)]
    new_tasks = (
        insert(_TASKS)
        .from_select(_TASK_KEYS, union_all(*rows) if count > 1 else rows[0])
        .returning(_TASKS.c.id, _TASKS.c.position)
        .cte("new_tasks")
    )
    in_order = aggregate_order_by(new_tasks.c.id, new_tasks.c.position)
    task_ids = select(func.json_agg(in_order)).scalar_subquery()
    statement = statement.add_columns(new_tasks.c.id, new_tasks.c.position).join_from(
        new_decision, new_tasks, true()
    )
    detail = func.json_build_object(
        "decision", bindparam("audit_decision", type_=String()), "tasks", task_ids
    )
    audit_values = select(*binds(_AUDIT, "audit", audit_keys).values(), detail)
    new_audit = insert(_AUDIT).from_select([*audit_keys, "detail"], audit_values)
    statement = statement.add_cte(new_audit.cte("new_audit"))
    return statement


def may_handle(task: Task, person: Staff | None) -> bool:
    """MVA of the unit for MVA tasks; the assigned physician for their own tasks."""
    if person is None or not person.active:
        return False
    if task.assignee_role == Role.MVA:
        return any(r.unit_id == task.unit_id and r.role == Role.MVA for r in person.roles)
    return task.assignee_id == person.id


def check_may_handle(task: Task, person: Staff | None) -> None:
    """`Refusal` ("role") unless `person` may tick the task off or undo it (`may_handle`)."""
    if not may_handle(task, person):
        raise Refusal("role", "Du saknar behörighet för den här uppgiften.")


async def get_for_update(session: AsyncSession, *, task_id: int) -> Task | None:
    """A task, its row locked until the transaction ends (`done_by` read after the lock)."""
    return await load_locked(session, Task, task_id)


async def lock_with_case(session: AsyncSession, *, task_id: int) -> tuple[Task, Case]:
    """The task and its case, both rows locked until the transaction ends; `Refusal`
    ("unknown task") when there is no such task.

    The case is locked first, then the task, as every action on a case that changes its
    tasks does (an undone decision locks the case, then cancels its open tasks): two such
    actions wait for each other in turn, never in a circle (on PostgreSQL a deadlock, and
    an error for one of them). On SQLite the transaction holds the whole database."""
    task: Task | None
    case: Case | None
    if whole_database_locked(session):
        task = await get_for_update(session, task_id=task_id)
        case = await get_case(session, case_id=task.case_id, for_update=True) if task else None
    else:
        # the case's row locked through the task's case id, in one statement
        case_id = await session.scalar(_LOCK_CASE_OF_TASK, {"task_id": task_id})
        case = None if case_id is None else await load_locked(session, Case, case_id, locked=True)
        task = None if case is None else await get_for_update(session, task_id=task_id)
    if task is None or case is None:
        raise Refusal("unknown task", "Uppgiften finns inte längre.")  # no internal id
    return task, case


# built once: every tick and its undo run it (PostgreSQL)
_LOCK_CASE_OF_TASK = (
    select(Case.id)
    .where(Case.id == select(Task.case_id).where(Task.id == bindparam("task_id")).scalar_subquery())
    .with_for_update()
)


def mark_done(task: Task, *, by: Staff, note: str | None, now: datetime) -> None:
    """Tick the task off; a `note` replaces the one it had."""
    task.status = TaskStatus.DONE
    task.done_by_id = by.id
    task.done_by = by
    task.done_at = now
    task.note = note or task.note


def mark_open(task: Task) -> None:
    """Undo a tick: the task is open again, as if never done (a physiotherapy referral's
    day and clinic are forgotten; a booked visit stays booked)."""
    task.status = TaskStatus.OPEN
    task.done_by_id = None
    task.done_by = None
    task.done_at = None
    task.referral_on = None
    task.referral_clinic = None


async def open_count(session: AsyncSession, *, case_id: int) -> int:
    """How many of the case's tasks are open."""
    rows = await session.scalars(
        select(Task.id).where(Task.case_id == case_id, Task.status == TaskStatus.OPEN)
    )
    return len(rows.all())


async def cancel_open(session: AsyncSession, *, case_id: int, reason: str) -> list[Task]:
    """Cancel a case's open tasks (a correction replaced it); returns them."""
    tasks = (
        await session.scalars(
            select(Task).where(Task.case_id == case_id, Task.status == TaskStatus.OPEN)
        )
    ).all()
    for task in tasks:
        task.status = TaskStatus.CANCELLED
        task.note = reason
    return list(tasks)
