"""A secretary ticking a task off while the physician undoes the decision (which cancels
the case's open tasks): both lock the case first, then its tasks, so the later one waits
for the earlier and neither ends in a deadlock (PostgreSQL would end one of them with an
error, which Teams shows as a failed action). On PostgreSQL; on SQLite a transaction holds
the whole database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.cases import service as cases
from bot.db import transaction
from bot.tasks import service as tasks
from bot.tasks.enums import TaskStatus
from bot.tasks.models import Task
from tests.flows.test_undo import decided_case


async def test_a_tick_waits_for_an_undo_without_a_deadlock(db_url: str, factory: Any) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: a transaction holds the whole database, no row locks")
    case_id = await decided_case(factory)
    async with factory() as session:
        task_id = (
            await session.scalars(select(Task.id).where(Task.case_id == case_id).order_by(Task.id))
        ).first()
    assert task_id is not None

    async def tick() -> str:
        async with transaction(factory) as session:
            task, _case = await tasks.lock_with_case(session, task_id=task_id)
            return task.status

    async with transaction(factory) as undo:  # the undo's locks, in its order
        await undo.execute(text("SET LOCAL lock_timeout = '5s'"))
        await cases.lock_case(undo, case_id=case_id)
        ticking = asyncio.ensure_future(tick())
        await asyncio.sleep(0.3)
        assert not ticking.done()  # the tick waits for the case
        cancelled = await tasks.cancel_open(undo, case_id=case_id, reason="Beslutet ångrat")
        await undo.flush()  # the tasks' rows: free, as the tick holds nothing yet
        assert task_id in [t.id for t in cancelled]
    # the tick goes on once the undo committed, and finds its task cancelled
    assert await asyncio.wait_for(ticking, 10) == TaskStatus.CANCELLED
