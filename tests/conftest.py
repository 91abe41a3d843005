"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and the loopback harness.

Integration tests take `db_url`, which runs them once on each database. The PostgreSQL
leg uses the server at 127.0.0.1:5432 (override with FK_TEST_POSTGRES), one fresh
database per test cloned from a migrated template; it is skipped, with the reason, only
when no server answers.
"""

from __future__ import annotations

import asyncio
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
from bot.migrate import upgrade

FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN = os.environ.get("FK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_pg_template: str | None = None
_pg_problem: str | None = None


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _sqlalchemy_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _pg_admin(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _ensure_pg_template() -> str:
    """Create (once per run) a migrated template database; skip when PostgreSQL is absent."""
    global _pg_template, _pg_problem
    if _pg_problem:
        pytest.skip(_pg_problem)
    if _pg_template:
        return _pg_template
    name = f"fk_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _pg_problem = f"PostgreSQL not reachable at {PG_ADMIN}: {exc}"
        print(f"\nSKIPPING the PostgreSQL leg: {_pg_problem}")
        pytest.skip(_pg_problem)
    upgrade(_sqlalchemy_url(PG_ADMIN, name))
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
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{_pg_template}" WITH (FORCE)'))
        except (OSError, asyncpg.PostgresError):
            pass


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh, migrated, empty database: one run per database kind."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = _ensure_pg_template()
    name = f"fk_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _sqlalchemy_url(PG_ADMIN, name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
