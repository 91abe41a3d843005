"""A click on a card: who clicked and when (`Invoke`), what to answer (`Answer`), and the
transaction an action runs in with its `Actor` (`acting`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.flows.result import Refused, Stale
from bot.messaging import cards

__all__ = ["Answer", "Invoke", "acting", "error_of"]


@dataclass(frozen=True)
class Invoke:
    """Who clicked (the Entra object id Teams sent, None when it sent none usable), and
    when; `trigger` is ``automatic`` for a refresh, ``manual`` for a click."""

    actor_aad: str | None
    now: datetime
    trigger: str | None


@dataclass(frozen=True)
class Answer:
    """A card to replace the clicked one, or a Swedish error message. `changed`: the
    action changed something (cards elsewhere are brought up to date); `decision`: the
    decision kind it recorded, if any (a metric)."""

    card: dict[str, Any] | None = None
    error: str | None = None
    changed: bool = False
    decision: str | None = None


@asynccontextmanager
async def acting(
    factory: async_sessionmaker[AsyncSession], invoke: Invoke
) -> AsyncIterator[tuple[AsyncSession, Actor]]:
    """One transaction for one click, and who clicked in it (their directory row read
    with their roles, in one query): committed when the block ends, rolled back when it
    raises."""
    async with transaction(factory) as session:
        aad = invoke.actor_aad
        person = await directory.staff_by_aad(session, aad) if aad else None
        yield session, Actor.clicker(person, aad)


def error_of(result: Stale | Refused) -> Answer | None:
    """The error answer of a result that shows no card (`on_card` false), else None."""
    return None if result.on_card else Answer(error=result.message)


async def stale_case_answer(
    session: AsyncSession, result: Stale, *, actor: Actor, now: datetime
) -> Answer:
    """The answer to a click on a case card drawn before the case changed: the case's
    current card for the clicker, with what happened meanwhile as its notice."""
    card = await cards.card_for_viewer(
        session, result.case, viewer=actor.staff, now=now, notice=result.message
    )
    return Answer(card=card)
