"""Intake primitives (SPEC section 3): a body read into a DXA answer or refused before the
database sees it, the lock on an answer's identity, and the rejected-message log.

`bot.flows.take_in_answer` composes them into the intake contract. Everything a bundle
brings is checked against `bot.intake.limits` first, so bad input is a 4xx, never a
database error; an invalid message changes nothing but is kept in the rejected-message
log, cut to what its columns hold.
"""

from __future__ import annotations

import logging
import re
from datetime import date

from sqlalchemy import String, Table, bindparam
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.db import transaction, whole_database_locked
from bot.directory.actor import Actor
from bot.intake import jsontext
from bot.intake.fhir import BundleInvalid, DxaAnswer, Problem, parse_bundle
from bot.intake.models import AnswerKey, RejectedMessage

log = logging.getLogger("frakturkedjan.intake")

KEPT_REJECTED_BYTES = 1024 * 1024
"""Bytes of a refused body kept in the rejected-message log."""
KEPT_PROBLEMS = 100
"""Problems kept in the rejected-message log; a last entry counts the others."""
KEPT_PROBLEM_CHARS = 1000
"""Characters of one problem's path or message kept in the log."""
_SIZE_MAX = 2**31 - 1  # the `size` column is a 32-bit integer
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


async def keep_rejected(
    factory: async_sessionmaker[AsyncSession],
    *,
    status: int,
    problems: list[Problem],
    channel: str,
    sender: str | None,
    content_type: str | None,
    body: bytes | None,
    size: int,
) -> None:
    """Keep an invalid message for the operator, in its own transaction, audited.

    The log row is cut to fit its columns: the body to `KEPT_REJECTED_BYTES` (as text,
    without NUL), the first `KEPT_PROBLEMS` problems, the content type and sender to
    their column widths. When the row cannot be written the error is logged (its type
    only: a database error quotes the row) and nothing is raised: the sender still gets
    its answer.
    """
    row = RejectedMessage(
        channel=channel,
        sender=_storable(sender, _width("sender")) if sender is not None else None,
        status=status,
        problems=_kept_problems(problems),
        content_type=(
            _storable(content_type, _width("content_type")) if content_type is not None else None
        ),
        size=min(size, _SIZE_MAX),
        body=(
            _storable(body[:KEPT_REJECTED_BYTES].decode("utf-8", errors="replace"))
            if body is not None
            else None
        ),
    )
    try:
        await _keep_rejected(factory, row, problem_count=len(problems))
    except Exception as exc:
        log.error(
            "could not keep a rejected message",
            extra={"status": status, "problems": len(problems), "error": type(exc).__name__},
        )


def _storable(text: str, max_length: int | None = None) -> str:
    """`text` cut to `max_length` characters, NUL and lone surrogates replaced by U+FFFD
    (a PostgreSQL text column takes neither)."""
    cut = text if max_length is None else text[:max_length]
    return _UNSTORABLE.sub("\ufffd", cut)


def _kept_problems(problems: list[Problem]) -> list[dict[str, str]]:
    kept = [
        {
            "path": _storable(p.path, KEPT_PROBLEM_CHARS),
            "message": _storable(p.message, KEPT_PROBLEM_CHARS),
        }
        for p in problems[:KEPT_PROBLEMS]
    ]
    if len(problems) > KEPT_PROBLEMS:
        kept.append({"path": "$", "message": f"{len(problems) - KEPT_PROBLEMS} more problems"})
    return kept


def _width(column: str) -> int:
    """The width of a string column of the rejected-message log."""
    kind = RejectedMessage.__table__.c[column].type
    assert isinstance(kind, String) and kind.length is not None
    return kind.length


async def _keep_rejected(
    factory: async_sessionmaker[AsyncSession], row: RejectedMessage, *, problem_count: int
) -> None:
    async with transaction(factory) as session:
        session.add(row)
        audit.record(
            session,
            actor=Actor.intake(row.sender or "unknown").audit_id,
            action="intake.rejected",
            outcome="refused",
            detail={"status": row.status, "problems": problem_count},
        )


class Unacceptable(Exception):
    """A body the intake refuses: the HTTP `status`, a short `error` and every problem."""

    def __init__(self, status: int, error: str, problems: list[Problem]) -> None:
        super().__init__(error)
        self.status, self.error, self.problems = status, error, problems


def read_answer(body: bytes, *, today: date, max_body_bytes: int) -> DxaAnswer:
    """The answer a body holds, or `Unacceptable`: 413 over `max_body_bytes`, 400 when it
    is not UTF-8 JSON, 422 for nesting too deep and anything else wrong. No database work."""
    if len(body) > max_body_bytes:
        problem = Problem("$", f"body is over {max_body_bytes} bytes")
        raise Unacceptable(413, "payload too large", [problem])
    try:
        data = jsontext.decode(body)
    except jsontext.TooDeep as exc:
        raise Unacceptable(422, "invalid DXA answer bundle", [exc.problem]) from None
    except jsontext.NotJson as exc:
        raise Unacceptable(400, "body is not JSON", [exc.problem]) from None
    try:
        return parse_bundle(data, today=today)
    except BundleInvalid as exc:
        raise Unacceptable(422, "invalid DXA answer bundle", list(exc.problems)) from None


async def lock_answer(session: AsyncSession, system: str, value: str) -> None:
    """Hold the answer identity's lock row until commit (created on first sight).

    PostgreSQL: one upsert whose no-op update takes the row lock (`ON CONFLICT DO UPDATE`
    locks the existing row, as `SELECT … FOR UPDATE` would). SQLite: nothing to do, the
    transaction already holds the database's write lock (`BEGIN IMMEDIATE`).
    """
    if whole_database_locked(session):
        return
    await session.execute(_LOCK_ANSWER, {"system": system, "value": value})


def _lock_statement() -> Insert:
    """The upsert of `lock_answer`, built once (Core: building it per answer cost more
    CPU than running it)."""
    keys: Table = AnswerKey.__table__  # type: ignore[assignment]
    upsert = pg_insert(keys).values(system=bindparam("system"), value=bindparam("value"))
    return upsert.on_conflict_do_update(
        index_elements=[keys.c.system, keys.c.value],
        set_={"system": upsert.excluded.system},
    )


_LOCK_ANSWER = _lock_statement()
