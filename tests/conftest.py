"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, and the loopback harness.

Integration tests take `db_url`, which runs them once on each database. The PostgreSQL
leg uses the server at 127.0.0.1:5432 (override with FK_TEST_POSTGRES), one fresh
database per test cloned from a migrated template; it is skipped, with the reason, only
when no server answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, session_factory, transaction
from bot.directory.service import load_directory
from bot.logs import JsonFormatter
from bot.migrate import upgrade

FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN = os.environ.get("FK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_pg_template: str | None = None
_pg_problem: str | None = None


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def ingest_sample(
    factory: async_sessionmaker[AsyncSession], name: str, *, now: datetime
) -> int:
    """Take in the sample bundle `name` as the CLI would; the new case's id (201 asserted)."""
    from bot.flows.take_in_answer import ingest

    result = await ingest(
        factory,
        body=fixture_bytes(name),
        content_type="application/fhir+json",
        sender="test",
        channel="cli",
        secret="s",
        now=now,
    )
    assert result.status == 201, result.body
    assert result.case_id is not None
    return result.case_id


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


# --- No personal identity numbers in the logs ------------------------------------------

_CANDIDATE = re.compile(r"(?<![\d])(\d{6}[-+]?\d{4}|\d{8}-?\d{4})(?![\d])")


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


def _fixture_numbers() -> set[str]:
    numbers: set[str] = set()
    for path in FIXTURES.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        numbers.update(re.findall(r'"value": "(\d{12})"', text))
    return {n for n in numbers if n[:2] in ("19", "20")}


def personal_numbers_in(lines: list[str]) -> list[str]:
    """Lines holding a valid personnummer/samordningsnummer or a sample's number."""
    from datetime import date

    from bot.core.identifiers import IdentifierError, parse_personal_number

    known = _fixture_numbers()
    hits = []
    for line in lines:
        if any(n in line or n[2:] in line for n in known):
            hits.append(line)
            continue
        for candidate in _CANDIDATE.findall(line):
            digits = candidate.replace("-", "").replace("+", "")
            value = candidate if len(digits) == 10 and not candidate[6:7].isdigit() else digits
            if len(digits) == 10 and value == digits:
                value = f"{digits[:6]}-{digits[6:]}"
            for kind in ("personnummer", "samordningsnummer"):
                try:
                    parse_personal_number(value, kind=kind, today=date(2026, 11, 21))  # type: ignore[arg-type]
                except IdentifierError:
                    continue
                hits.append(line)
                break
    return hits


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
