"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, the Teams runtime, and
the loopback harness.

Integration tests take `db_url`, which runs them once on each database. Teams-layer tests
take `runtime` (or mark a module `pytest.mark.usefixtures("runtime")`), which runs them
once per Teams runtime with `TEAMS_SDK` set for the app; a test that takes both runs on
both databases with botbuilder and on SQLite with agents (the runtimes share the database
code, which the storage tests check on both databases).

The PostgreSQL leg uses the server at 127.0.0.1:5432 (override with FK_TEST_POSTGRES), a
database cloned from a migrated template; it is skipped, with the reason, only when no
server answers. A test leaves its database to the next one emptied (every row deleted, every
sequence restarted), which costs milliseconds where a clone and a drop cost about a second;
a database whose schema a test changed, that it dropped or closed to connections is dropped
and the next test gets a fresh clone. Helpers the tests import (samples, ingest_sample, the
PostgreSQL admin connection, the log scan) live in `tests/helpers.py`.
"""

from __future__ import annotations

import asyncio
import graphlib
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, session_factory, transaction
from bot.directory.service import load_directory
from bot.logs import JsonFormatter
from bot.migrate import upgrade
from bot.preflight import TEAMS_SDKS
from tests.helpers import FIXTURES, PG_ADMIN, personal_numbers_in, pg_admin, sqlalchemy_url

_pg_template: str | None = None
_pg_problem: str | None = None
_pg_free: str | None = None  # a test database the previous test left emptied
_pg_schema: str | None = None  # the template's schema fingerprint
_pg_emptying = ""  # the statement that deletes every row, referencing tables first

# Tables, columns, indexes, constraints, sequences and the Alembic revision, as one hash: a
# test database whose hash differs from the template's is not reused.
_SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(item, '|' ORDER BY item)) FROM (
  SELECT format('c %s.%s %s %s %s', table_name, column_name, data_type, is_nullable,
                column_default) AS item
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT format('i %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT format('k %s %s', conrelid::regclass, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT format('s %s', sequence_name)
    FROM information_schema.sequences WHERE sequence_schema = 'public'
  UNION ALL SELECT format('t %s.%s', event_object_table, trigger_name)
    FROM information_schema.triggers WHERE trigger_schema = 'public'
  UNION ALL SELECT 'v ' || version_num FROM alembic_version
) AS schema_items
"""
_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
_FOREIGN_KEYS = """
SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
 WHERE contype = 'f' AND connamespace = 'public'::regnamespace
"""


async def _study_template(name: str) -> tuple[str, str]:
    """The template's schema fingerprint, and the statement that empties a copy of it: every
    table but alembic_version deleted in foreign-key order, every sequence restarted."""
    connection = await asyncpg.connect(sqlalchemy_url(PG_ADMIN, name).replace("+asyncpg", ""))
    try:
        schema = await connection.fetchval(_SCHEMA_FINGERPRINT)
        tables = {row[0] for row in await connection.fetch(_TABLES)} - {"alembic_version"}
        rows = {t: await connection.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
        assert not any(rows.values()), f"the migrated template holds rows: {rows}"
        order = graphlib.TopologicalSorter[str]({t: set() for t in tables})
        for referencing, referenced in await connection.fetch(_FOREIGN_KEYS):
            if referencing != referenced:
                order.add(referenced.strip('"'), referencing.strip('"'))
        try:
            deletes = [f'DELETE FROM "{t}"' for t in order.static_order()]
        except graphlib.CycleError:
            deletes = ["TRUNCATE " + ", ".join(f'"{t}"' for t in sorted(tables))]
    finally:
        await connection.close()
    restart = "SELECT setval(seqrelid, seqstart, false) FROM pg_sequence"
    return schema, "; ".join([*deletes, restart])


def _ensure_pg_template() -> str:
    """Create (once per run) a migrated template database; skip when PostgreSQL is absent."""
    global _pg_template, _pg_problem, _pg_schema, _pg_emptying
    if _pg_problem:
        pytest.skip(_pg_problem)
    if _pg_template:
        return _pg_template
    name = f"fk_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _pg_problem = f"PostgreSQL not reachable at {PG_ADMIN}: {exc}"
        print(f"\nSKIPPING the PostgreSQL leg: {_pg_problem}")
        pytest.skip(_pg_problem)
    upgrade(sqlalchemy_url(PG_ADMIN, name))
    _pg_schema, _pg_emptying = asyncio.run(_study_template(name))
    _pg_template = name
    return name


async def _emptied(name: str) -> bool:
    """Empty the test database `name` for the next test: its other sessions ended, every row
    deleted, every sequence restarted. False (and nothing done) when the test dropped it,
    closed it to connections or changed its schema."""
    admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        allowed = await admin.fetchval(
            "SELECT datallowconn FROM pg_database WHERE datname = $1", name
        )
        if not allowed:
            return False
        await admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    connection = await asyncpg.connect(sqlalchemy_url(PG_ADMIN, name).replace("+asyncpg", ""))
    try:
        if await connection.fetchval(_SCHEMA_FINGERPRINT) != _pg_schema:
            return False
        async with connection.transaction():
            await connection.execute(_pg_emptying)
        return True
    finally:
        await connection.close()


def _pg_database() -> str:
    """A migrated, empty test database: the one the previous test emptied, else a clone."""
    global _pg_free
    template = _ensure_pg_template()
    if _pg_free:
        name, _pg_free = _pg_free, None
        return name
    name = f"fk_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return name


def _pg_release(name: str) -> None:
    """Keep `name` for the next test if it could be emptied; drop it otherwise."""
    global _pg_free
    try:
        if asyncio.run(_emptied(name)):
            _pg_free = name
            return
    except (OSError, asyncpg.PostgresError, TimeoutError):
        pass
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    for name in (_pg_free, _pg_template):
        if name:
            try:
                asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except (OSError, asyncpg.PostgresError):
                pass


DATABASES = ("sqlite", "postgresql")
RUNTIMES = TEAMS_SDKS  # the default first


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`db_url` once per database, `runtime` once per Teams runtime; a test that takes both
    runs on both databases with the default runtime and on SQLite with the others."""
    names = metafunc.fixturenames
    if "runtime" in names and "db_url" in names:
        pairs = [(db, sdk) for sdk in RUNTIMES for db in DATABASES]
        pairs = [(db, sdk) for db, sdk in pairs if sdk == RUNTIMES[0] or db == DATABASES[0]]
        metafunc.parametrize(("db_url", "runtime"), pairs, indirect=True)
    elif "runtime" in names:
        metafunc.parametrize("runtime", RUNTIMES, indirect=True)
    elif "db_url" in names:
        metafunc.parametrize("db_url", DATABASES, indirect=True)


@pytest.fixture
def runtime(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Teams runtime of this run (parametrized by `pytest_generate_tests`), set as
    `TEAMS_SDK` for the app the test starts."""
    sdk: str = getattr(request, "param", RUNTIMES[0])
    monkeypatch.setenv("TEAMS_SDK", sdk)
    return sdk


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database of its own: one run per database kind (`DATABASES`).
    On PostgreSQL it may be the previous test's, emptied (see the module's docstring)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = _pg_database()
    try:
        yield sqlalchemy_url(PG_ADMIN, name)
    finally:
        _pg_release(name)


@pytest.fixture
async def factory(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the fresh database, with the sample directory loaded."""
    engine = create_engine(db_url)
    made = session_factory(engine)
    async with transaction(made) as session:
        await load_directory(
            session, (FIXTURES / "directory.yaml").read_text(encoding="utf-8"), actor="test"
        )
    yield made
    await engine.dispose()


# --- No personal identity numbers in the logs ------------------------------------------


class _LogCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is itself worth seeing
            self.lines.append(repr(record.__dict__))


@pytest.fixture(scope="session", autouse=True)
def no_personal_numbers_in_logs() -> Iterator[None]:
    """Collects every log record of the whole run; fails the run on a personal number."""
    collector = _LogCollector()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.INFO)
    yield
    root.removeHandler(collector)
    root.setLevel(old_level)
    hits = personal_numbers_in(collector.lines)
    assert not hits, f"{len(hits)} log lines hold a personal identity number, e.g. {hits[0][:300]}"
