"""bot.sqlite_driver: SQLAlchemy's aiosqlite dialect with one thread hop per statement.

Each test runs on a SQLite file made by `bot.db.create_engine` from a ``sqlite+aiosqlite``
URL, the one operators write; the hop count is compared with the stock dialect's.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection, AsyncAdapt_dbapi_cursor
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot import sqlite_driver
from bot.db import create_engine, reading_factory, session_factory, transaction

metadata = MetaData()
parent = Table(
    "parent",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, unique=True, nullable=False),
)
child = Table(
    "child",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_id", Integer, ForeignKey("parent.id"), nullable=False),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with made.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(parent), [{"name": "a"}, {"name": "b"}, {"name": "c"}])
    yield made
    await made.dispose()


@contextmanager
def thread_jobs() -> Iterator[list[Any]]:
    """Every job aiosqlite's connection thread is given through `Connection._execute`."""
    jobs: list[Any] = []
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        jobs.append(fn)
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    aiosqlite.Connection._execute = counting  # type: ignore[method-assign]
    try:
        yield jobs
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]


def test_the_private_aiosqlite_names_it_relies_on_exist() -> None:
    """An aiosqlite upgrade that renames these fails here, not in production."""
    assert aiosqlite.__version__ == "0.22.1"  # pinned in pyproject.toml; re-check on upgrade
    assert inspect.iscoroutinefunction(aiosqlite.Connection._execute)
    assert list(inspect.signature(aiosqlite.Connection._execute).parameters) == [
        "self",
        "fn",
        "args",
        "kwargs",
    ]
    assert isinstance(aiosqlite.Connection._conn, property)
    assert hasattr(aiosqlite.Connection, "stop")


def test_the_sqlalchemy_adapter_methods_it_overrides_exist() -> None:
    """The stock adapter's methods the one-hop cursor replaces are still the ones called
    (SQLAlchemy is pinned too): a rename would silently bring back the stock path."""
    for name in ("_execute_async", "_executemany_async", "_async_soft_close", "close"):
        assert name in vars(AsyncAdapt_dbapi_cursor), name
    source = inspect.getsource(AsyncAdapt_dbapi_cursor.execute)
    assert "self._execute_async(" in source and "_handle_exception(" in source
    source = inspect.getsource(AsyncAdapt_dbapi_cursor.executemany)
    assert "self._executemany_async(" in source and "_handle_exception(" in source
    assert "_execute_mutex" in AsyncAdapt_dbapi_connection.__slots__
    assert sqlalchemy.__version__ == "2.1.9"


async def test_the_operators_url_picks_this_dialect_and_keeps_its_name(
    engine: AsyncEngine,
) -> None:
    assert isinstance(engine.dialect, sqlite_driver.SQLiteDialect_aiosqlite_onehop)
    assert engine.url.drivername == "sqlite+aiosqlite"
    assert engine.dialect.driver == "aiosqlite"


async def test_rows_and_description(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(parent.c.id, parent.c.name.label("label")).order_by(parent.c.id)
        )
        assert list(result.keys()) == ["id", "label"]
        assert [tuple(row) for row in result] == [(1, "a"), (2, "b"), (3, "c")]
        assert (await connection.execute(select(parent).where(parent.c.id == 9))).all() == []
        assert await connection.scalar(select(func.count()).select_from(parent)) == 3
        # fetched in parts: one, some, the rest
        partial = await connection.execute(select(parent.c.name).order_by(parent.c.id))
        assert partial.fetchone() == ("a",)
        assert partial.fetchmany(1) == [("b",)]
        assert partial.fetchall() == [("c",)]


async def test_rowcount_of_update_and_delete(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        changed = await connection.execute(
            update(parent).where(parent.c.id >= 2).values(name=parent.c.name + "!")
        )
        assert changed.rowcount == 2
        none = await connection.execute(update(parent).where(parent.c.id == 9).values(name="x"))
        assert none.rowcount == 0
        removed = await connection.execute(delete(parent).where(parent.c.id == 3))
        assert removed.rowcount == 1
        names = (await connection.execute(select(parent.c.name).order_by(parent.c.id))).scalars()
        assert names.all() == ["a", "b!"]


async def test_returning_executemany_and_lastrowid(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        returned = await connection.execute(
            insert(parent).returning(parent.c.id, parent.c.name), [{"name": "d"}, {"name": "e"}]
        )
        assert sorted(tuple(row) for row in returned) == [(4, "d"), (5, "e")]
        updated = await connection.execute(
            update(parent).where(parent.c.name == "a").values(name="A").returning(parent.c.id)
        )
        assert updated.all() == [(1,)]
        # executemany: no RETURNING, so the DBAPI's executemany
        many = await connection.execute(insert(child), [{"parent_id": 1}, {"parent_id": 2}])
        assert many.rowcount == 2
        one = await connection.execute(insert(child).values(parent_id=4))
        assert one.inserted_primary_key == (3,)  # from the cursor's lastrowid
        assert one.lastrowid == 3
        count = await connection.scalar(select(func.count()).select_from(child))
        assert count == 3


async def test_integrity_error_is_sqlalchemys_and_the_connection_stays_usable(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError) as unique:
            await connection.execute(insert(parent).values(name="a"))
        assert "UNIQUE constraint failed" in str(unique.value.orig)
        await connection.rollback()
        with pytest.raises(IntegrityError):  # foreign keys are on
            await connection.execute(insert(child).values(parent_id=99))
        await connection.rollback()
        with pytest.raises(OperationalError):
            await connection.exec_driver_sql("SELECT nothing FROM nowhere")
        await connection.rollback()
        await connection.execute(insert(parent).values(name="z"))
        await connection.commit()
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(parent)) == 4


async def test_a_savepoint_rolls_back_alone(engine: AsyncEngine) -> None:
    factory = session_factory(engine)
    async with transaction(factory) as session:
        await session.execute(insert(parent).values(name="kept"))
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(insert(parent).values(name="gone"))
                await session.execute(insert(parent).values(name="a"))
        await session.execute(insert(parent).values(name="also kept"))
    async with engine.connect() as connection:
        names = (await connection.execute(select(parent.c.name).order_by(parent.c.id))).scalars()
        assert names.all() == ["a", "b", "c", "kept", "also kept"]


async def _statements_and_jobs(engine: AsyncEngine) -> tuple[int, int]:
    """(statements, thread jobs) of one transaction: a SELECT with rows, an UPDATE, an
    INSERT ... RETURNING, a SELECT without rows, then COMMIT (BEGIN not counted)."""
    async with engine.connect() as connection:
        await connection.scalar(select(parent.c.id).limit(1))  # pool connected, warmed
        await connection.rollback()
        with thread_jobs() as jobs:
            async with connection.begin():
                await connection.execute(select(parent))
                await connection.execute(update(parent).values(name=parent.c.name + "."))
                await connection.execute(insert(parent).values(name="r").returning(parent.c.id))
                await connection.execute(select(parent).where(parent.c.id == 99))
    return 5, len(jobs)


async def test_one_thread_job_per_statement(engine: AsyncEngine) -> None:
    """BEGIN IMMEDIATE rides with the first statement: one job a statement, COMMIT one."""
    statements, jobs = await _statements_and_jobs(engine)
    assert jobs == statements


async def test_the_write_lock_is_held_from_the_first_statement(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """BEGIN IMMEDIATE still starts the transaction, before its first statement (a read)."""
    with other_writer(tmp_path) as other:
        async with engine.begin() as connection:
            await connection.execute(select(parent.c.id))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")


async def test_a_transaction_without_statements_costs_no_job(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.scalar(select(parent.c.id).limit(1))
        await connection.rollback()
        with thread_jobs() as jobs:
            async with connection.begin():
                pass
            transaction_ = await connection.begin()
            await transaction_.rollback()
        assert jobs == []
        # and the next transaction begins as usual
        async with connection.begin():
            await connection.execute(insert(parent).values(name="n"))
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(parent)) == 4


async def test_a_streamed_result_begins_its_transaction(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A server-side cursor (stream) is the stock one: the deferred BEGIN runs before it."""
    with other_writer(tmp_path) as other:
        async with engine.begin() as connection:
            streamed = await connection.stream(select(parent.c.name).order_by(parent.c.id))
            assert [row[0] async for row in streamed] == ["a", "b", "c"]
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")


@contextmanager
def other_writer(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A second connection to the test database that never waits for a lock (closed after):
    its BEGIN IMMEDIATE fails while another transaction holds the write lock."""
    other = sqlite3.connect(tmp_path / "driver.db", timeout=0, isolation_level=None)
    try:
        yield other
    finally:
        other.close()


async def test_the_stock_dialect_takes_more_jobs(tmp_path: Path) -> None:
    """The count above means something: the stock adapter takes three or four a statement."""
    stock = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'stock.db'}")
    try:
        async with stock.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(insert(parent).values(name="a"))
        statements, jobs = await _statements_and_jobs(stock)
        assert jobs > statements * 2
    finally:
        await stock.dispose()


async def test_a_reading_engine_reads_a_snapshot_without_the_write_lock(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """`reading_factory` (the outbox worker's reads on SQLite): its transaction reads one
    snapshot and leaves the write lock free, so `serve`'s transactions never wait for it."""
    reads = reading_factory(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    assert reads is not None
    try:
        with other_writer(tmp_path) as other:
            async with reads() as session:
                assert await session.scalar(select(func.count()).select_from(parent)) == 3
                other.execute("BEGIN IMMEDIATE")  # free: the main engine's read would hold it
                other.execute("INSERT INTO parent (name) VALUES ('w')")
                other.execute("COMMIT")
                # the same snapshot until the transaction ends
                assert await session.scalar(select(func.count()).select_from(parent)) == 3
            async with reads() as session:
                assert await session.scalar(select(func.count()).select_from(parent)) == 4
            # and, the other way round, a writer's open transaction does not stop its reads
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO parent (name) VALUES ('x')")
            async with reads() as session:
                assert await session.scalar(select(func.count()).select_from(parent)) == 4
            other.execute("COMMIT")
    finally:
        await reads.kw["bind"].dispose()


async def test_a_reading_engine_refuses_writes(engine: AsyncEngine, tmp_path: Path) -> None:
    reads = reading_factory(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    assert reads is not None
    try:
        async with reads() as session:
            with pytest.raises(OperationalError, match="readonly"):
                await session.execute(insert(parent).values(name="z"))
    finally:
        await reads.kw["bind"].dispose()
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(parent)) == 3


def test_only_a_sqlite_file_gets_a_reading_engine() -> None:
    """PostgreSQL's readers never wait for writers; an in-memory database is one connection's."""
    assert reading_factory("postgresql+asyncpg://u@127.0.0.1/x") is None
    assert reading_factory("sqlite+aiosqlite:///:memory:") is None
