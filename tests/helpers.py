"""Helpers shared by the tests: the sample bundles, taking one in, the PostgreSQL admin
connection, and the scan of log lines for personal identity numbers.

Test modules import from here; `conftest.py` keeps the fixtures and hooks only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN = os.environ.get("FK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def ingest_sample(
    factory: async_sessionmaker[AsyncSession], name: str, *, now: datetime
) -> int:
    """Take in the sample bundle `name` as the CLI would; the new case's id (201 asserted)."""
    return await ingest_body(factory, fixture_bytes(name), now=now)


async def ingest_body(
    factory: async_sessionmaker[AsyncSession], body: bytes, *, now: datetime
) -> int:
    """Take in the bundle `body` as the CLI would; the new case's id (201 asserted)."""
    from bot.flows.take_in_answer import ingest

    result = await ingest(
        factory,
        body=body,
        content_type="application/fhir+json",
        sender="test",
        channel="cli",
        secret="s",
        now=now,
    )
    assert result.status == 201, result.body
    assert result.case_id is not None
    return result.case_id


def sqlalchemy_url(dsn: str, database: str) -> str:
    """The SQLAlchemy (asyncpg) URL of `database` on the server of the libpq `dsn`."""
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def pg_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL admin connection (PG_ADMIN)."""
    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


# --- Personal identity numbers in log lines ---------------------------------------------

_CANDIDATE = re.compile(r"(?<![\d])(\d{6}[-+]?\d{4}|\d{8}-?\d{4})(?![\d])")


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


@contextmanager
def statements_run(factory: Any, *, rows_once: bool = False) -> Iterator[list[str]]:
    """Every statement run on the factory's engine while the block runs, BEGIN and COMMIT
    left out. `rows_once`: the rows of one INSERT sent one by one (SQLite, whose RETURNING
    order SQLAlchemy does not rely on) count once, as PostgreSQL's multi-row INSERT does."""
    statements: list[str] = []
    engine = factory.kw["bind"].sync_engine

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        verb = statement.split(None, 1)[0].upper()
        if verb in ("BEGIN", "COMMIT"):
            return
        if rows_once and verb == "INSERT" and statements and statements[-1] == statement:
            return  # the next row of the same insert
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


async def card_of_row(
    factory: async_sessionmaker[AsyncSession], message: Any, *, now: datetime
) -> dict[str, Any]:
    """The card an outbox row (`OutboxMessage`) posts: its own, or, for a row the worker
    draws when it sends it (`bot.outbox.views.to_draw`), the card the worker would draw at
    `now` for the person or channel it goes to."""
    from bot.messaging.views import MessageViews
    from bot.outbox.views import DRAW_AT_SEND, shown_at_target

    activity = message.activity
    if activity.get(DRAW_AT_SEND) is not True:
        return dict(activity["attachments"][0]["content"])
    shown = shown_at_target(message)
    drawn = await MessageViews(factory, clock=lambda: now).current(shown)
    assert drawn is not None, f"nothing to draw for {shown}"
    return dict(drawn["attachments"][0]["content"])
