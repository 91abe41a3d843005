"""Statements that change several outbox rows lock them in id order, so that two of them
running at once (a Teams turn that makes waiting deliveries due, the worker renewing,
releasing or skipping rows) never wait for each other in a circle: PostgreSQL would end
one of them with a deadlock error, and a turn's error is a 500 to Teams.

Each test holds the first of two rows in one transaction, runs the statement under test in
another (it waits for that row), then changes the second row in the first transaction. A
statement that had locked the rows in the order it found them on disk, the second row
first, would now be waited for by the first transaction while it waits for it. The
statements under test run on a connection that reads tables in disk order (no index
scans), as PostgreSQL does for small tables and for many rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, session_factory, transaction, utcnow
from bot.outbox import service as outbox
from bot.outbox.claims import Leases
from bot.outbox.models import OutboxMessage
from bot.outbox.updates import skip_all

Factory = async_sessionmaker[AsyncSession]


async def _two_rows(factory: Factory, **values: Any) -> tuple[int, int]:
    """Two pending rows with `values`, the first stored after the second on disk."""
    async with transaction(factory) as session:
        rows = [
            outbox.enqueue(
                session,
                purpose="decision_card",
                target_kind="user",
                target="00000000-0000-0000-0000-000000000101",
                activity={"type": "message", "text": str(n)},
                unit_id=None,
                case_id=None,
            )
            for n in range(2)
        ]
        await session.flush()
        first, second = rows[0].id, rows[1].id
    if values:
        async with transaction(factory) as session:
            await session.execute(update(OutboxMessage).values(**values))
    # new versions of the first row until one is stored after the second (a table emptied
    # by the previous test has room before it)
    for _ in range(50):
        async with factory() as session:
            order = (await session.scalars(text("SELECT id FROM outbox ORDER BY ctid"))).all()
        if order == [second, first]:  # as a sequential scan finds them
            return first, second
        async with transaction(factory) as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == first).values(attempts=0)
            )
    raise AssertionError(f"the first row stays before the second on disk: {order}")


async def _contend(factory: Factory, first: int, second: int, statement: Awaitable[Any]) -> Any:
    """Hold row `first`, let `statement` wait for it, then change row `second`; both must
    end without an error. The statement's result."""
    async with transaction(factory) as holder:
        await holder.execute(text("SET LOCAL lock_timeout = '5s'"))
        await holder.execute(
            update(OutboxMessage).where(OutboxMessage.id == first).values(attempts=1)
        )
        waiting = asyncio.ensure_future(statement)
        await asyncio.sleep(0.3)
        assert not waiting.done()  # it waits for the first row
        await holder.execute(
            update(OutboxMessage).where(OutboxMessage.id == second).values(attempts=1)
        )
    return await asyncio.wait_for(waiting, 10)


@pytest.fixture
async def scanning(db_url: str) -> AsyncIterator[Factory]:
    """Sessions on a connection that reads every table in disk order (PostgreSQL only)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: a transaction holds the whole database, no row locks")
    off = {"enable_indexscan": "off", "enable_bitmapscan": "off"}
    engine = create_engine(db_url, connect_args={"server_settings": off})
    yield session_factory(engine)
    await engine.dispose()


async def _in_transaction(factory: Factory, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async with transaction(factory) as session:
        return await work(session)


async def test_deliveries_made_due_by_a_turn(factory: Factory, scanning: Factory) -> None:
    first, second = await _two_rows(
        factory, last_error=outbox.NO_ROUTE, next_attempt_at=utcnow() + timedelta(minutes=5)
    )
    made_due = await _contend(
        factory, first, second, _in_transaction(scanning, outbox.retry_waiting_now)
    )
    assert made_due == 2


async def test_updates_skipped_by_the_worker(factory: Factory, scanning: Factory) -> None:
    first, second = await _two_rows(factory)
    await _contend(factory, first, second, skip_all(scanning, {first: "x", second: "x"}))
    async with factory() as session:
        statuses = (await session.scalars(select(OutboxMessage.status))).all()
    assert statuses == ["skipped", "skipped"]


def _leases(factory: Factory, token: datetime, *ids: int) -> Leases:
    leases = Leases(factory, seconds=10.0, batch=10)
    leases.held = dict.fromkeys(ids, token)
    return leases


async def test_leases_renewed_by_the_worker(factory: Factory, scanning: Factory) -> None:
    token = utcnow() + timedelta(seconds=10)
    first, second = await _two_rows(factory, lease_until=token)
    leases = _leases(scanning, token, first, second)
    await _contend(factory, first, second, leases.renew())
    assert set(leases.held) == {first, second}
    assert all(until > token for until in leases.held.values())


async def test_rows_released_by_the_worker(factory: Factory, scanning: Factory) -> None:
    token = utcnow() + timedelta(seconds=10)
    first, second = await _two_rows(factory, lease_until=token)
    released = _leases(scanning, token, first, second).release([first, second])
    await _contend(factory, first, second, released)
    async with factory() as session:
        leases = (await session.scalars(select(OutboxMessage.lease_until))).all()
    assert leases == [None, None]
