"""Database engine, session factory and the declarative base shared by every model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, bindparam, event, inspect, select
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from bot import sqlite_driver
from bot.core import jsonfast

_M = TypeVar("_M")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, foreign keys and a busy timeout.

    `read_only` (SQLite; see `reading_factory`): its transactions begin deferred, so they
    read one snapshot without taking the write lock (WAL: readers never wait for the
    writer nor hold it up), and its connections refuse writes (``PRAGMA query_only``).

    A ``sqlite+aiosqlite`` URL runs on `bot.sqlite_driver`'s dialect, SQLAlchemy's aiosqlite
    dialect with one thread hop per statement instead of four (issue 15). Operators keep
    writing ``sqlite+aiosqlite`` (settings, preflight and the README name that driver, and
    the DBAPI is still aiosqlite): the driver name is swapped here only to pick the dialect,
    and the engine's `url` is the one given, so messages show what the operator wrote.
    """
    target: str | URL = url
    if url.startswith("sqlite+aiosqlite:"):
        target = make_url(url).set(drivername=f"sqlite+{sqlite_driver.DRIVER}")
        # BEGIN IMMEDIATE (see below) goes in the job of the transaction's first statement
        kwargs.setdefault("begin_immediate", not read_only)
        kwargs.setdefault("begin_deferred", read_only)
    if is_sqlite(url):
        kwargs.setdefault("connect_args", {"timeout": 30})
        if ":memory:" not in url:
            # SQLite has one writer at a time: one connection per process queues the
            # transactions in the event loop instead of letting them spin on file locks
            # (with a pool, BEGIN IMMEDIATE waits cost seconds at the p99).
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", 60)
    else:
        # A connection for each request the event loop holds at once under load (the
        # benchmark's 16 clients): with 5 + 5, requests queued for a connection and the
        # overflow was opened and closed again and again, 1.2-1.3x the echo bot's clicks a
        # second on PostgreSQL against 1.45-1.5x with 16 + 4, and 1 ms less CPU a click
        # (bench/README.md, issue 15). Connections open when first needed.
        kwargs.setdefault("pool_size", 16)
        kwargs.setdefault("max_overflow", 4)
        kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("hide_parameters", True)  # no patient data in error messages
    # JSON columns (cards in the outbox, a click's answer, audit details) through orjson
    kwargs.setdefault("json_serializer", jsonfast.dumps)
    kwargs.setdefault("json_deserializer", jsonfast.loads)
    engine = create_async_engine(target, **kwargs)
    if target is not url:
        engine.sync_engine.url = make_url(url)
    if is_sqlite(url):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
            cursor.close()

    if is_sqlite(url) and target is url:

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # pysqlite's deferred BEGIN lets two writers both read, then one fails on
            # upgrade; BEGIN IMMEDIATE serialises writers so row checks stay true. (The
            # sqlite+aiosqlite dialect sends it with the first statement: begin_immediate.)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def reading_factory(url: str) -> async_sessionmaker[AsyncSession] | None:
    """On SQLite, sessions for reading only, on a connection of their own (`create_engine`
    `read_only`): what the outbox worker process reads to route and draw its cards, so
    that those reads never hold `serve`'s transactions up (every transaction of the main
    engine takes the one write lock from its first statement on). None elsewhere: on
    PostgreSQL readers never wait for writers anyway. Dispose of its engine
    (`factory.kw["bind"]`) when done."""
    if not is_sqlite(url) or ":memory:" in url:
        return None
    return session_factory(create_engine(url, read_only=True))


@asynccontextmanager
async def transaction(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    async with factory() as session, session.begin():
        yield session


CONFLICT_STATES = frozenset({"40001", "40P01"})
"""PostgreSQL's serialization failure and deadlock: it ended a transaction to let another
go on."""


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE code of a database error (PostgreSQL's drivers give one), else None."""
    return getattr(error.orig, "sqlstate", None) if isinstance(error, DBAPIError) else None


def lost_to_a_conflict(error: BaseException) -> bool:
    """True when the database ended the transaction to resolve a conflict with another one
    (PostgreSQL: a deadlock, a serialization failure): nothing of it was written, and it
    may run again."""
    return sqlstate_of(error) in CONFLICT_STATES


def whole_database_locked(session: AsyncSession) -> bool:
    """True when the session's transaction already excludes every other writer: SQLite,
    whose transactions start with `BEGIN IMMEDIATE` (see `create_engine`)."""
    return bool(session.get_bind().dialect.name == "sqlite")


async def load_locked(
    session: AsyncSession, model: type[_M], ident: Any, *, locked: bool = False
) -> _M | None:
    """The row of `model` with primary key `ident`, locked until the transaction ends.

    The bare row is locked first, then loaded: after waiting for a lock PostgreSQL
    re-reads the locked row but keeps the joined rows (a case's physician, a task's
    `done_by`) it had read before. An object the session holds already is refreshed
    alone: a query-wide `populate_existing` would also reset the people loaded with it
    (an actor's roles). On SQLite the transaction holds the database's write lock from its
    `BEGIN IMMEDIATE`, so no row lock is taken (it would be one more statement).
    `locked`: the caller has locked the row in this transaction already; it is only loaded.
    """
    lock, load = _locking_statements(model)
    if not locked and not whole_database_locked(session):
        await session.execute(lock, {"ident": ident})
    held = session.identity_map.get(session.sync_session.identity_key(model, ident))
    if isinstance(held, model):
        await session.refresh(held)
        return held
    found: _M | None = await session.scalar(load, {"ident": ident})
    return found


_LOCKING: dict[type[Any], tuple[Any, Any]] = {}


def _locking_statements(model: type[Any]) -> tuple[Any, Any]:
    """`load_locked`'s two statements for `model` (lock the bare row; load it), built once
    per model with the primary key as parameter ``ident``: they run on every click."""
    statements = _LOCKING.get(model)
    if statements is None:
        key_column = inspect(model).primary_key[0]
        where = key_column == bindparam("ident")
        statements = (select(key_column).where(where).with_for_update(), select(model).where(where))
        _LOCKING[model] = statements
    return statements
