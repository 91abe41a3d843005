"""Claiming a click, keeping its answer, and finding the answer of a click that repeats
one already answered. The caller (`bot.flows.click.answer_once`) runs the click's action
between `claim` and `keep_answer`, in one transaction.

A click repeats an answered one when it is the same activity (a Teams retry: same
clicker, activity id and content) or has the same content (clicker, verb, data) within
`WINDOW` (a double click); in both cases only while that answered click is the clicker's
latest one. A click that comes back after the clicker did something else (ticked a task
off, undid it, and ticks it off again) is a new click.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clicks.models import Click
from bot.directory import service as directory
from bot.directory.models import Staff

__all__ = [
    "KEEP",
    "WINDOW",
    "ClickKeys",
    "answer_of_repeat",
    "claim",
    "keep_answer",
    "keys_of",
    "purge",
]

WINDOW = timedelta(seconds=30)
"""How long the same content from the same person counts as the same click."""
KEEP = timedelta(days=1)
"""How long a click and its answer (a card, with the patient on it) are kept."""


@dataclass(frozen=True)
class ClickKeys:
    """The keys of one click (SHA-256 hex digests, see `Click`)."""

    clicker: str
    content: str
    activity: str | None


def _digest(*parts: str) -> str:
    text = "\x1f".join(parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def keys_of(
    *, clicker: str | None, activity_id: str | None, verb: str, data: Mapping[str, Any]
) -> ClickKeys:
    """The keys of a click by `clicker` (an Entra object id, None when unknown) on `verb`
    with `data` (the verb's checked data, as JSON values: the same for "" and a missing
    input, whatever the order of its keys)."""
    who = clicker or ""
    content = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return ClickKeys(
        clicker=_digest("clicker", who),
        content=_digest("content", who, verb, content),
        activity=_digest("activity", who, activity_id, verb, content) if activity_id else None,
    )


_CLICKS = cast(Table, Click.__table__)
# built once (Core, on the table): they run on every state-changing click
_CLAIM = insert(_CLICKS)
_KEEP_ANSWER = (
    update(_CLICKS)
    .where(_CLICKS.c.content_key == bindparam("key"))
    .values(answer=bindparam("answer", type_=_CLICKS.c.answer.type))
)


# PostgreSQL: the click's row, a data-modifying CTE of the read of its clicker
_CLAIM_KEYS = ("activity_key", "content_key", "clicker", "verb", "created_at")
_CLAIM_AND_CLICKER = directory.STAFF_BY_AAD.add_cte(
    insert(_CLICKS)
    .values({key: bindparam(key, type_=_CLICKS.c[key].type) for key in _CLAIM_KEYS})
    .cte("claimed")
)


async def claim(
    session: AsyncSession, keys: ClickKeys, *, verb: str, now: datetime, clicker: str | None
) -> Staff | None:
    """Insert the click's row, as the first statement of its transaction, and read the
    person who clicked (the Entra object id `clicker`, None when unknown) with their roles
    (`directory.staff_by_aad`; None for no such person): one statement on PostgreSQL
    (the row a data-modifying CTE of the read), two on SQLite. Raises `IntegrityError`
    when a row holds one of the click's keys; a row of a transaction still running makes
    this wait until that transaction ends."""
    row = {
        "activity_key": keys.activity,
        "content_key": keys.content,
        "clicker": keys.clicker,
        "verb": verb,
        "created_at": now,
    }
    if clicker is not None and session.get_bind().dialect.name == "postgresql":
        return await directory.staff_by_aad(
            session, clicker, statement=_CLAIM_AND_CLICKER, params=row
        )
    await session.execute(_CLAIM, row)
    return await directory.staff_by_aad(session, clicker) if clicker is not None else None


async def keep_answer(session: AsyncSession, keys: ClickKeys, answer: dict[str, Any]) -> None:
    """Store the answer of the click claimed in this transaction: the last statement (the
    session's pending rows are flushed first)."""
    await session.flush()
    await session.execute(_KEEP_ANSWER, {"key": keys.content, "answer": answer})


async def answer_of_repeat(
    session: AsyncSession, keys: ClickKeys, *, now: datetime
) -> dict[str, Any] | None:
    """The stored answer when this click (whose `claim` failed) repeats an answered one
    (see the module docstring). Otherwise the rows holding its keys give them up, so that
    the click can be claimed anew, and None."""
    held = [Click.content_key == keys.content]
    if keys.activity is not None:
        held.append(Click.activity_key == keys.activity)
    rows = (await session.scalars(select(Click).where(or_(*held)))).all()
    latest = await session.scalar(select(func.max(Click.id)).where(Click.clicker == keys.clicker))
    for row in rows:
        same = (keys.activity is not None and row.activity_key == keys.activity) or (
            row.content_key == keys.content and now - row.created_at < WINDOW
        )
        if same and row.id == latest and row.answer is not None:
            return row.answer
    for row in rows:
        row.activity_key = None
        row.content_key = None
    return None


async def purge(session: AsyncSession, *, now: datetime) -> int:
    """Delete the clicks older than `KEEP`; how many."""
    result = await session.execute(delete(Click).where(Click.created_at < now - KEEP))
    return int(getattr(result, "rowcount", 0) or 0)
