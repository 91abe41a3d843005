"""Read-only task queries (a case's tasks, lists). No changes, no audit rows: the caller
audits what it shows."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.directory.enums import Role
from bot.directory.models import Unit
from bot.tasks.enums import TaskStatus
from bot.tasks.models import Task

__all__ = ["of_case", "open_tasks_for", "unit_names"]

_ENDED_CASE_STATES = (CaseState.SUPERSEDED, CaseState.CANCELLED)


async def open_tasks_for(
    session: AsyncSession, *, unit_ids: Collection[int], assignee_id: int | None
) -> Sequence[Task]:
    """Open tasks a person may tick off (as `bot.tasks.service.may_handle` decides): the MVA
    tasks of `unit_ids` and the personal tasks assigned to `assignee_id`. Earliest due
    first (then case, position, id). Tasks of superseded or cancelled cases are left out."""
    wanted = []
    if unit_ids:
        wanted.append(and_(Task.assignee_role == Role.MVA, Task.unit_id.in_(sorted(unit_ids))))
    if assignee_id is not None:
        wanted.append(and_(Task.assignee_role != Role.MVA, Task.assignee_id == assignee_id))
    if not wanted:
        return []
    rows = await session.scalars(
        select(Task)
        .join(Case, Case.id == Task.case_id)
        .where(
            Task.status == TaskStatus.OPEN, or_(*wanted), Case.state.not_in(_ENDED_CASE_STATES)
        )
        .order_by(Task.due, Task.case_id, Task.position, Task.id)
    )
    return rows.all()


async def unit_names(session: AsyncSession, *, unit_ids: Collection[int]) -> dict[int, str]:
    """Unit id -> name, for the units a task list covers; unknown ids are left out."""
    if not unit_ids:
        return {}
    rows = await session.execute(
        select(Unit.id, Unit.name).where(Unit.id.in_(sorted(unit_ids))).order_by(Unit.name)
    )
    return {row[0]: row[1] for row in rows}


async def of_case(session: AsyncSession, *, case_id: int) -> Sequence[Task]:
    """The case's tasks, in the order of its decision's plan (position, then id)."""
    rows = await session.scalars(
        select(Task).where(Task.case_id == case_id).order_by(Task.position, Task.id)
    )
    return rows.all()
