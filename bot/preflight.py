"""What an operator can get wrong before a command runs, checked once in one place.

Every check raises `PreflightError` (or a subclass) with one line that names the problem
and what to do; `frakturkedjan` prints it and exits 2 (`bot.cli.main`). The checks:

- `check_database_url`: a `DATABASE_URL` this package can use (`Settings` calls it);
- `check_teams_sdk`: a `TEAMS_SDK` naming one of the Teams runtimes (`Settings` calls it);
- `check_registration`: the settings `serve` needs to authenticate Teams;
- `check_reachable`: the database answers (for `db upgrade`, which creates the schema);
- `check_schema`: the database answers and carries the schema of this version (every
  other command that uses the database).

`SchemaWatch` keeps asking the last question while `serve` runs: `/readyz` answers 503
and the background loops pause while the schema is missing or behind.

The revision of this version is read from the migration files, not through Alembic, so
that `serve` does not load Alembic (see `bot.cli._migrate_in_child`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "APP_TYPES",
    "CONNECT_TIMEOUT_SECONDS",
    "SCHEMA_CHECK_SECONDS",
    "TEAMS_SDKS",
    "DatabaseUnreachable",
    "PreflightError",
    "Registration",
    "SchemaNotCurrent",
    "SchemaWatch",
    "check_database_url",
    "check_reachable",
    "check_registration",
    "check_schema",
    "check_teams_sdk",
    "migration_revisions",
    "schema_problem",
]

log = logging.getLogger("frakturkedjan.preflight")

VERSIONS = Path(__file__).parent / "migrations" / "versions"
CONNECT_TIMEOUT_SECONDS = 15.0
SCHEMA_CHECK_SECONDS = 10.0
APP_TYPES = ("SingleTenant", "MultiTenant", "UserAssignedMSI")
# the Teams runtimes (`bot.teams.runtime`): botbuilder 4.17.1, the default, and the
# Microsoft 365 Agents SDK
TEAMS_SDKS = ("botbuilder", "agents")
UPGRADE = "run `frakturkedjan db upgrade`"
_URL_FORMS = "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
# the async driver this package ships, per database; a URL without a driver gets it
_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_BACKEND_ALIASES = {"postgres": "postgresql"}


class PreflightError(Exception):
    """An operator's problem, as one line that says what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class DatabaseUnreachable(PreflightError):
    """The database does not answer (refused, unknown host, no such directory or file)."""


class SchemaNotCurrent(PreflightError):
    """The database answers but lacks the schema of this version (empty, older, newer)."""


# -- settings --------------------------------------------------------------------------


def check_database_url(url: str) -> str:
    """`url` as the engine needs it; raises `PreflightError` for one it cannot use.

    A URL that names the database but no driver (`postgresql://`, `postgres://`,
    `sqlite://`) gets the async driver this package ships (asyncpg, aiosqlite); any
    other driver, and any other database, is refused with the form to write instead.
    The message never repeats the URL (it may hold a password).
    """
    if not url.strip():
        raise PreflightError(f"is empty; write {_URL_FORMS}")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise PreflightError(f"is not a database URL; write {_URL_FORMS}") from None
    backend, _, driver = parsed.drivername.partition("+")
    backend = _BACKEND_ALIASES.get(backend, backend)
    wanted = _DRIVERS.get(backend)
    if wanted is None:
        raise PreflightError(
            f"unsupported database {backend!r}: frakturkedjan runs on SQLite or PostgreSQL; "
            f"write {_URL_FORMS}"
        )
    if driver and driver != wanted:
        raise PreflightError(
            f"driver {driver!r} is not one frakturkedjan installs; write {backend}+{wanted}:// "
            f"instead of {parsed.drivername}://"
        )
    scheme, _, rest = url.partition("://")
    if scheme == f"{backend}+{wanted}":
        return url
    return f"{backend}+{wanted}://{rest}"


def check_teams_sdk(value: str) -> str:
    """The Teams runtime `value` names (case and spaces ignored); raises `PreflightError`
    for one that is not in `TEAMS_SDKS`."""
    name = value.strip().lower()
    if name not in TEAMS_SDKS:
        raise PreflightError(
            f"{value!r} is not a Teams runtime; set it to {TEAMS_SDKS[0]} (the default) or "
            f"{TEAMS_SDKS[1]}"
        )
    return name


class Registration(Protocol):
    """The settings `check_registration` reads (`bot.config.Settings` has them)."""

    @property
    def app_id(self) -> str | None: ...
    @property
    def app_password(self) -> str | None: ...
    @property
    def app_type(self) -> str: ...
    @property
    def app_tenant_id(self) -> str | None: ...
    @property
    def allowed_tenants(self) -> frozenset[str]: ...


def check_registration(settings: Registration, *, local: bool) -> None:
    """The settings `serve` needs to authenticate Teams; `PreflightError` if one is wrong.

    Outside local mode `MicrosoftAppId` and `ALLOWED_TENANTS` are required (the SDK would
    accept unauthenticated requests without the first, and never checks the tenant). With
    an app id, SingleTenant and MultiTenant need the password (client secret), SingleTenant
    and UserAssignedMSI the tenant id. The SDK would take an unknown MicrosoftAppType as
    MultiTenant; it is refused here.
    """
    known = {name.lower(): name for name in APP_TYPES}
    app_type = known.get(settings.app_type.lower())
    if app_type is None:
        raise PreflightError(
            f"setting MicrosoftAppType: {settings.app_type!r} is not an app type; "
            f"set it to one of {', '.join(APP_TYPES)}"
        )
    if not local and not settings.app_id:
        raise PreflightError(
            "setting MicrosoftAppId: missing, and outside local mode the bot refuses "
            "unauthenticated Teams requests; set MicrosoftAppId (and password, tenant) or run "
            "`frakturkedjan serve --local`"
        )
    if not local and not settings.allowed_tenants:
        raise PreflightError(
            "setting ALLOWED_TENANTS: missing, and outside local mode the bot only serves the "
            "tenants listed there; set ALLOWED_TENANTS to your Entra ID tenant id(s)"
        )
    if not settings.app_id:
        return
    if app_type != "UserAssignedMSI" and not settings.app_password:
        raise PreflightError(
            "setting MicrosoftAppPassword: missing while MicrosoftAppId is set; set it to a "
            "client secret of the app registration"
        )
    if app_type != "MultiTenant" and not settings.app_tenant_id:
        raise PreflightError(
            f"setting MicrosoftAppTenantId: missing for MicrosoftAppType {app_type}; set it to "
            "the Entra ID tenant id of the app registration"
        )


# -- the database ----------------------------------------------------------------------


@functools.cache
def migration_revisions() -> tuple[str, frozenset[str]]:
    """The head revision of `bot/migrations` and every revision it knows.

    Read from the `revision` / `down_revision` lines of the migration files (a test
    compares the result with Alembic's own view).
    """
    assignment = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        found = dict(assignment.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        revisions.add(found["revision"].strip("'\""))
        parent = found.get("down_revision", "None")
        if parent != "None":
            parents.add(parent.strip("'\""))
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        raise RuntimeError(f"bot/migrations has no single head revision: {sorted(heads)}")
    return heads.pop(), frozenset(revisions)


def schema_problem(revisions: frozenset[str]) -> str | None:
    """What is wrong with a database at `revisions` (its Alembic version rows), or None."""
    head, known = migration_revisions()
    if revisions == {head}:
        return None
    if not revisions:
        return f"the database has no schema: {UPGRADE}"
    unknown = sorted(revisions - known)
    if unknown:
        return (
            f"the database schema is at revision {', '.join(unknown)}, which this version of "
            "frakturkedjan does not know (a newer version made it): run that version, or "
            "point DATABASE_URL at a database of this one"
        )
    return (
        f"the database schema is at revision {', '.join(sorted(revisions))}, this version "
        f"needs {head}: {UPGRADE}"
    )


def _version_rows(connection: Connection) -> frozenset[str]:
    if not inspect(connection).has_table("alembic_version"):
        return frozenset()
    rows = connection.execute(text("SELECT version_num FROM alembic_version"))
    return frozenset(str(row[0]) for row in rows)


async def _revisions_on(connection: AsyncConnection) -> frozenset[str]:
    return await connection.run_sync(_version_rows)


def _where(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _sqlite_file(engine: AsyncEngine) -> Path | None:
    """The file of a SQLite database, None for another database or an in-memory one."""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None  # a URI filename: left to SQLite
    return Path(database)


async def _read_revisions(engine: AsyncEngine) -> frozenset[str]:
    """The database's Alembic revisions; `DatabaseUnreachable` when it does not answer."""
    file = _sqlite_file(engine)
    if file is not None and not file.parent.is_dir():
        raise DatabaseUnreachable(
            f"the directory {file.parent} of the SQLite database does not exist; create it or "
            "correct DATABASE_URL"
        )
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), engine.connect() as connection:
            return await _revisions_on(connection)
    except (DBAPIError, OSError, TimeoutError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        detail = str(reason).strip() or f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
        raise DatabaseUnreachable(
            f"cannot connect to the database {_where(engine)} ({detail.splitlines()[0]}); "
            "check DATABASE_URL and that the database server is running"
        ) from None


async def check_reachable(engine: AsyncEngine) -> None:
    """The database answers and can be brought to this version's schema (`db upgrade`).

    An empty or older database passes (SQLite creates a missing file); one whose schema
    a newer version made is refused (`SchemaNotCurrent`).
    """
    revisions = await _read_revisions(engine)
    problem = schema_problem(revisions)
    if problem is not None and not revisions <= migration_revisions()[1]:
        raise SchemaNotCurrent(problem)


async def check_schema(engine: AsyncEngine) -> None:
    """The database answers and its schema is this version's: `DatabaseUnreachable` or
    `SchemaNotCurrent` otherwise. A SQLite file that does not exist is not created."""
    file = _sqlite_file(engine)
    if file is not None and file.parent.is_dir() and not file.exists():
        raise SchemaNotCurrent(f"there is no database at {file.absolute()}: {UPGRADE}")
    problem = schema_problem(await _read_revisions(engine))
    if problem is not None:
        raise SchemaNotCurrent(problem)


# -- while serving ---------------------------------------------------------------------


class SchemaWatch:
    """Whether the schema of a running service's database is current, read again at most
    every `interval` seconds (default `SCHEMA_CHECK_SECONDS`; two small statements).

    `/readyz` reads `problem` (and refreshes it when `due()`); `run_while_current` runs a
    background loop only while there is no problem, so that a schema that goes missing
    gives one log line and a pause instead of a failing pass every second. A database
    that does not answer leaves the last known state: the loops ride out outages.

    A problem is a schema that is missing or behind. A revision this version does not
    know is logged once and tolerated: another process ran a newer version's `db upgrade`
    (a rolling deployment), and taking this one out of service would not help. Only
    starting on such a database is refused (`check_schema`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.problem: str | None = None
        self._engine = engine
        self._interval = SCHEMA_CHECK_SECONDS if interval is None else interval
        self._clock = clock
        self._checked_at: float | None = None
        self._newer: frozenset[str] = frozenset()  # a newer version's revision, logged
        self._lock = asyncio.Lock()
        self._closed = asyncio.Event()

    def due(self) -> bool:
        """True when the schema has not been read within the last `interval` seconds."""
        return self._checked_at is None or self._clock() - self._checked_at >= self._interval

    async def check(self, connection: AsyncConnection) -> str | None:
        """Read the revision on `connection` now; the problem, or None. Database errors
        propagate (the caller decides what an outage means)."""
        revisions = await _revisions_on(connection)
        problem = schema_problem(revisions)
        if problem is not None and not revisions <= migration_revisions()[1]:
            if revisions != self._newer:
                log.warning(
                    "the database schema is at revision %s, which a newer version made; "
                    "this process carries on",
                    ", ".join(sorted(revisions)),
                )
            self._newer, problem = revisions, None
        self._record(problem)
        return self.problem

    async def current(self) -> str | None:
        """The problem, read again when due; unchanged when the database does not answer."""
        async with self._lock:
            if self.due() and not self._closed.is_set():
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                        async with self._engine.connect() as connection:
                            await self.check(connection)
                except (DBAPIError, OSError, TimeoutError) as exc:
                    self._checked_at = self._clock()  # the next try after `interval` too
                    log.warning("schema check failed", extra={"error": type(exc).__name__})
        return self.problem

    def close(self) -> None:
        """End the loops paused by `run_while_current` (at shutdown)."""
        self._closed.set()

    async def run_while_current(self, run: Callable[[], Awaitable[None]]) -> None:
        """Run `run()` while the schema is current: it is cancelled when the schema goes
        missing or behind (for the outbox, what was being sent is sent again once its lease
        lapses), and run again once it is current. Returns when `run()` returns (its loop
        was stopped), or after `close()` while paused."""
        while True:
            while await self.current() is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), timeout=self._interval)
                if self._closed.is_set():
                    return
            task = asyncio.ensure_future(run())
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=self._interval)
                    if not task.done() and await self.current() is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                        break
                else:
                    task.result()
                    return
            finally:
                if not task.done():  # we were cancelled: so is the loop
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    def _record(self, problem: str | None) -> None:
        if problem != self.problem:
            if problem is not None:
                log.warning(
                    "%s; outbox and scheduled jobs wait until the schema is current", problem
                )
            else:
                log.info("database schema is current; outbox and scheduled jobs resumed")
        self.problem = problem
        self._checked_at = self._clock()
