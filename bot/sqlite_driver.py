"""SQLAlchemy's aiosqlite dialect with one thread hop per statement (issue 15).

aiosqlite runs each call on the connection's own thread: the stock adapter
(`sqlalchemy.dialects.sqlite.aiosqlite` over `sqlalchemy.connectors.asyncio`) makes a
statement four round trips there and back (`cursor()`, `execute`, `fetchall` when there are
rows, `close`), each a queue put to that thread and a wake-up of the event loop. The cursor
here runs the whole statement as one job on that thread: a sqlite3 cursor on the
connection, execute (or executemany), every row when there is a description, then
`description`, `rowcount` and `lastrowid` captured and the sqlite3 cursor closed. The
adapter answers `description`, `rowcount`, `lastrowid` and the fetches from what came back.
With ``begin_immediate`` (set by `bot.db.create_engine`) a transaction's ``BEGIN IMMEDIATE``
runs in the job of its first statement instead of one of its own (``begin_deferred``, for a
reading engine: a plain ``BEGIN``).

It is still SQLAlchemy executing its compiled statements through a DBAPI adapter: the same
`_execute_mutex`, the same exception translation (`_handle_exception`), the same dialect
otherwise (server-side cursors keep the stock, streaming adapter).

aiosqlite has no public "run this in your thread" call: this uses `Connection._execute` and
the sqlite3 connection behind `Connection._conn`, as SQLAlchemy's own adapter does
(`_conn`, `_tx`). aiosqlite is pinned exactly in pyproject.toml and
tests/db/test_sqlite_driver.py fails if those names change.

Registered as ``sqlite.aiosqlite_onehop``; `bot.db.create_engine` picks it for
``sqlite+aiosqlite`` URLs, so the URL operators write does not change.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

DRIVER = "aiosqlite_onehop"
"""The name this dialect is registered under (``sqlite+aiosqlite_onehop``)."""

_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _run_statement(
    connection: sqlite3.Connection, begin: str | None, operation: Any, parameters: Any, many: bool
) -> _Outcome:
    """One statement, whole, on aiosqlite's thread: (description, rows, rowcount, lastrowid);
    the transaction's deferred `begin` first when there is one."""
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement is one job on aiosqlite's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    _adapt_connection: OneHopConnection

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor is made (the stock __init__ awaits one): each statement
        # makes and closes its own sqlite3 cursor on the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing to close: the sqlite3 cursor closed on the thread, and the description
        stays."""

    def close(self) -> None:
        self._rows.clear()

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt_connection = self._adapt_connection
        async with adapt_connection._execute_mutex:
            begin = adapt_connection._begin
            adapt_connection._begin = None
            aio = self._connection
            description, rows, rowcount, lastrowid = await aio._execute(
                _run_statement, aio._conn, begin, operation, parameters, many
            )
        self._description = description
        self._rowcount = rowcount
        self._lastrowid = lastrowid
        self._rows = collections.deque(rows) if rows else collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(operation, seq_of_parameters, True)

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        if size is None:
            size = self._arraysize
        rows = self._rows
        return [rows.popleft() for _ in range(min(size, len(rows)))]


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """The stock connection adapter, with the transaction's BEGIN deferred to the job of
    its first statement (see `SQLiteDialect_aiosqlite_onehop.do_begin`)."""

    __slots__ = ("_begin",)
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None

    def defer_begin(self, statement: str) -> None:
        """Run `statement` (BEGIN ...) on the thread just before the next statement."""
        self._begin = statement

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self._begin is not None:
            # the stock streaming cursor does not know of the deferred BEGIN: run it now
            begin, self._begin = self._begin, None
            try:
                aio = self._connection
                await_(aio._execute(_run_statement, aio._conn, None, begin, None, False))
            except Exception as error:
                self._handle_exception(error)
        return super().cursor(server_side)

    def commit(self) -> None:
        if self._begin is not None:  # no statement ran: SQLite never began
            self._begin = None
            return
        super().commit()

    def rollback(self) -> None:
        if self._begin is not None:
            self._begin = None
            return
        super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        stock = super().connect(*arg, **kw)
        return OneHopConnection(self, stock._connection)


class SQLiteDialect_aiosqlite_onehop(SQLiteDialect_aiosqlite):
    driver = "aiosqlite"  # the DBAPI is still aiosqlite's; only the adapter differs
    supports_statement_cache = True

    def __init__(
        self, begin_immediate: bool = False, begin_deferred: bool = False, **kwargs: Any
    ) -> None:
        """`begin_immediate`: each transaction starts with ``BEGIN IMMEDIATE`` (on a
        connection whose `isolation_level` is None), run in the job of its first statement
        rather than as a job of its own: nothing reaches SQLite in between, so the write
        lock is held from the first statement on, as before, one hop fewer; a transaction
        without statements costs no hop at all (its COMMIT or ROLLBACK is not sent).
        `begin_deferred`: a plain ``BEGIN`` the same way, for a reading engine: one
        snapshot for the transaction's reads, without the write lock."""
        super().__init__(**kwargs)
        self.begin_immediate = begin_immediate
        self.begin_deferred = begin_deferred

    def do_begin(self, dbapi_connection: Any) -> None:
        if self.begin_immediate or self.begin_deferred:
            adapted = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
            adapted.defer_begin("BEGIN IMMEDIATE" if self.begin_immediate else "BEGIN")

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:
        return OneHopDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_aiosqlite_onehop")
