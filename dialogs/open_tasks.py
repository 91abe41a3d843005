"""`uppgifter`: the open tasks the sender may tick off, earliest due first; before them, for
an MVA, the answers of their units awaiting assignment, oldest first, each opening its
triage card (verb `card.refresh` with view `triage`). After a reload of the chat, these
bring back every card the MVA has still to act on.

That is what `bot.tasks.service.may_handle` allows: the MVA tasks of every unit where the
person is MVA, and the tasks assigned to the person (a physician's letter, call or other
task). A physician therefore sees their own tasks, not the unit's MVA tasks, which only
an MVA can tick off; a person who is both sees both. Overdue tasks (due before today,
Europe/Stockholm) are marked. Each case shown gets one `tasks.listed` audit row naming
its tasks on the card (an answer awaiting assignment: `"card": "triage"`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import queries as case_queries
from bot.cases.audit import audit_case
from bot.cases.models import Case
from bot.core.calendar import local_date
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.messaging.context import patient_context
from bot.messaging.format import case_ref
from bot.messaging.list_rows import TRIAGE_ROW, case_row, rows_without, shown_cases
from bot.tasks import queries as task_queries
from bot.tasks.models import Task
from cards.render import render
from dialogs.replies import STRANGER, Reply, find_sender, first_seen, refuse_list

__all__ = ["ACTION", "open_tasks"]

ACTION = "tasks.listed"


async def open_tasks(session: AsyncSession, *, actor_aad: str | None, now: datetime) -> Reply:
    """The `task_list_card` of the sender's open tasks (and, for an MVA, the answers
    awaiting assignment), audited per case shown."""
    person = await find_sender(session, actor_aad)
    who = Actor.clicker(person, actor_aad)
    if person is None:
        refuse_list(session, action=ACTION, actor=who, reason="not in the directory")
        return Reply(text=STRANGER)
    mva_units = {role.unit_id for role in person.roles if role.role == Role.MVA}
    tasks = await task_queries.open_tasks_for(session, unit_ids=mva_units, assignee_id=person.id)
    cases = {
        case.id: case
        for case in await case_queries.by_ids(session, case_ids={t.case_id for t in tasks})
    }
    names = await task_queries.unit_names(
        session, unit_ids=mva_units | {task.unit_id for task in tasks}
    )
    awaiting = await case_queries.awaiting_assignment(session, unit_ids=mva_units)
    today = local_date(now)
    rows = [_row(task, cases[task.case_id], names, today) for task in tasks]
    overdue = sum(1 for row in rows if row["overdue"])
    card = render(
        "task_list_card",
        scope=_scope(person, mva_units, names),
        day=today.isoformat(),
        awaiting=[case_row(case, today=today) for case in awaiting],
        counts={"open": len(rows), "overdue": overdue},
        tasks=rows,
    )
    shown_awaiting = set(shown_cases(card, TRIAGE_ROW))
    for case in awaiting:
        if case.id in shown_awaiting:
            audit_case(
                session,
                actor=who,
                action=ACTION,
                case=case,
                detail={"command": "uppgifter", "card": "triage"},
            )
    shown = tasks[: rows_without(card, TRIAGE_ROW)]
    for case_id in first_seen(task.case_id for task in shown):
        case = cases[case_id]
        audit_case(
            session,
            actor=who,
            action=ACTION,
            case=case,
            detail={
                "command": "uppgifter",
                "task_ids": [task.id for task in shown if task.case_id == case_id],
            },
        )
    if not rows:
        summary = "Inga öppna uppgifter"
    else:
        summary = f"{len(rows)} öppna uppgifter, {overdue} försenade"
    if awaiting:
        summary += f", {len(awaiting)} svar att fördela"
    return Reply(card=card, summary=summary)


def _row(task: Task, case: Case, names: dict[int, str], today: date) -> dict[str, Any]:
    return {
        "id": task.id,
        "kind": task.kind,
        "case_ref": case_ref(case.id),
        "patient": patient_context(case),
        "title": task.title,
        "due": task.due.isoformat(),
        "overdue": task.due < today,
        "assignee": None
        if task.assignee_role == Role.MVA
        else (task.assignee.name if task.assignee else "Läkare"),
        "unit": names.get(task.unit_id, case.unit.name),
    }


def _scope(person: Staff, mva_units: Collection[int], names: dict[int, str]) -> str:
    """Whose tasks the list holds, e.g. "MVA-uppgifter för Tingvalla vårdcentral"."""
    parts: list[str] = []
    if mva_units:
        units = sorted(names[unit_id] for unit_id in mva_units if unit_id in names)
        parts.append("MVA-uppgifter för " + ", ".join(units))
    if not mva_units or any(role.role == Role.PHYSICIAN for role in person.roles):
        parts.append("dina egna uppgifter" if parts else "Dina egna uppgifter")
    return " · ".join(parts)
