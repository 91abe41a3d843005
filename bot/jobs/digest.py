"""The MVA channel's morning digest (SPEC section 5): open tasks of the unit due within
`LOOKAHEAD_WORKING_DAYS` working days and the overdue ones, earliest due first, how many
cases await assignment, and the unit's overdue follow-ups (planned before today, not
recorded) with their physician, so that the secretaries can chase them."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit
from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.core.calendar import add_working_days
from bot.directory.enums import Role
from bot.directory.models import Unit
from bot.jobs.shown import ACTOR, audit_shown, cases_by_ids
from bot.messaging.context import patient_context
from bot.messaging.followup_rows import (
    followup_row,
    late_count,
    other_rows,
    shown_followups,
)
from bot.messaging.format import case_ref, fmt_date
from bot.messaging.post import post
from bot.tasks.enums import TaskStatus
from bot.tasks.models import Task
from bot.visits import followups
from cards.render import render

__all__ = ["LOOKAHEAD_WORKING_DAYS", "digest_context", "send_digest"]

LOOKAHEAD_WORKING_DAYS = 3
_CLOSED_CASE_STATES = (CaseState.SUPERSEDED, CaseState.CANCELLED)


async def digest_context(session: AsyncSession, *, unit: Unit, today: date) -> dict[str, Any]:
    """The `digest_card` context of a unit for `today` (each task row also names its
    `case_id`, for the audit); `follow_ups`: the unit's overdue ones, earliest due first."""
    horizon = add_working_days(today, LOOKAHEAD_WORKING_DAYS)
    rows = (
        await session.execute(
            select(Task, Case)
            .join(Case, Case.id == Task.case_id)
            .where(
                Task.unit_id == unit.id,
                Task.status == TaskStatus.OPEN,
                Task.due <= horizon,
                Case.state.not_in(_CLOSED_CASE_STATES),
            )
            .order_by(Task.due, Task.case_id, Task.position, Task.id)
        )
    ).all()
    awaiting = await session.scalar(
        select(func.count(Case.id)).where(
            Case.unit_id == unit.id, Case.state == CaseState.AWAITING_ASSIGNMENT
        )
    )
    tasks = [
        {
            "id": task.id,
            "case_id": case.id,
            "case_ref": case_ref(case.id),
            "patient": patient_context(case),
            "title": task.title,
            "kind": task.kind,
            "due": fmt_date(task.due) or "",
            "overdue": task.due < today,
            "assignee": None
            if task.assignee_role == Role.MVA
            else (task.assignee.name if task.assignee else "Läkare"),
        }
        for task, case in rows
    ]
    overdue = sum(1 for t in tasks if t["overdue"])
    late = [
        followup_row(follow_up, case, today=today)
        for follow_up, case in await followups.due_for(
            session, unit_id=unit.id, today=today, overdue_only=True
        )
    ]
    return {
        "unit": {"name": unit.name},
        "day": today.isoformat(),
        "horizon": horizon.isoformat(),
        "counts": {
            "overdue": overdue,
            "due": len(tasks) - overdue,
            "awaiting_assignment": int(awaiting or 0),
            "overdue_follow_ups": len(late),
        },
        "tasks": tasks,
        "follow_ups": late,
    }


async def send_digest(session: AsyncSession, *, unit: Unit, today: date) -> list[str]:
    """Post the unit's digest card for `today` to its MVA channel (which it must have) and
    audit it; returns the line saying so."""
    assert unit.mva_channel is not None
    ctx = await digest_context(session, unit=unit, today=today)
    counts = ctx["counts"]
    card = render("digest_card", **ctx)
    summary = f"Dagens uppgifter: {counts['overdue']} försenade, {counts['due']} förfaller snart"
    if late := counts["overdue_follow_ups"]:
        summary += f", {late_count(late)}"
    post(session, card, to=unit, summary=summary, purpose="digest", unit_id=unit.id)
    task_case_ids = {t["case_id"] for t in ctx["tasks"][: other_rows(card)]}
    shown = await cases_by_ids(session, task_case_ids | set(shown_followups(card)))
    audit.record(
        session,
        actor=ACTOR.audit_id,
        action="digest.sent",
        unit_id=unit.id,
        detail={"day": today.isoformat(), **counts, "case_ids": [c.id for c in shown]},
    )
    audit_shown(session, shown, card="digest", to=f"channel:unit:{unit.id}", today=today)
    return [
        f"digest to {unit.name} (unit {unit.id}): {counts['overdue']} overdue, "
        f"{counts['due']} due by {ctx['horizon']}, "
        f"{counts['awaiting_assignment']} awaiting assignment, "
        f"{counts['overdue_follow_ups']} follow-ups overdue"
    ]
