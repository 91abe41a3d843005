"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, the Teams runtime, and
the loopback harness.

Integration tests take `db_url`, which runs them once on each database. Teams-layer tests
take `runtime` (or mark a module `pytest.mark.usefixtures("runtime")`), which runs them
once per Teams runtime with `TEAMS_SDK` set for the app; a test that takes both runs on
both databases with botbuilder and on SQLite with agents (the runtimes share the database
code, which the storage tests check on both databases).

The PostgreSQL leg uses the server at 127.0.0.1:5432 (override with FK_TEST_POSTGRES), one
fresh database per test cloned from a migrated template; it is skipped, with the reason,
only when no server answers. Helpers the tests import (samples, ingest_sample, the
PostgreSQL admin connection, the log scan) live in `tests/helpers.py`.
"""

from __future__ import annotations

import asyncio
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


def _ensure_pg_template() -> str:
    """Create (once per run) a migrated template database; skip when PostgreSQL is absent."""
    global _pg_template, _pg_problem
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
    _pg_template = name
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    if _pg_template:
        try:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{_pg_template}" WITH (FORCE)'))
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
    """A fresh, migrated, empty database: one run per database kind (`DATABASES`)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = _ensure_pg_template()
    name = f"fk_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield sqlalchemy_url(PG_ADMIN, name)
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
