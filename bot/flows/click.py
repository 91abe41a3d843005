"""A click on a card: who clicked and when (`Invoke`), what to answer (`Answer`), the
transaction an action runs in with its `Actor` (`acting`), and a state-changing click
answered once (`answer_once`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clicks import service as clicks
from bot.db import lost_to_a_conflict, sqlstate_of, transaction
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.flows.result import Refused, Stale
from bot.messaging import cards

__all__ = ["Answer", "Invoke", "acting", "answer_once", "error_of"]

log = logging.getLogger("frakturkedjan.clicks")


@dataclass(frozen=True)
class Invoke:
    """Who clicked (the Entra object id Teams sent, None when it sent none usable), and
    when; `trigger` is ``automatic`` for a refresh, ``manual`` for a click; `activity_id`
    the id of the invoke activity (a retry of it has the same). `claimed` is the
    transaction `answer_once` opened with the click's row, and `clicker` who clicked, read
    with it: `acting` runs in it, as them."""

    actor_aad: str | None
    now: datetime
    trigger: str | None
    activity_id: str | None = None
    claimed: AsyncSession | None = field(default=None, compare=False, repr=False)
    clicker: Actor | None = field(default=None, compare=False, repr=False)


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
    raises. A click `answer_once` claimed runs in the transaction it opened, which
    `answer_once` ends."""
    if invoke.claimed is not None:
        yield invoke.claimed, invoke.clicker or await _clicker(invoke.claimed, invoke)
        return
    async with transaction(factory) as session:
        yield session, await _clicker(session, invoke)


async def _clicker(session: AsyncSession, invoke: Invoke) -> Actor:
    aad = invoke.actor_aad
    person = await directory.staff_by_aad(session, aad) if aad else None
    return Actor.clicker(person, aad)


D = TypeVar("D", bound=BaseModel)
_CLAIM_ATTEMPTS = 3


class _Claimed(Exception):
    """The click's keys are held by a row already (`clicks.claim` failed)."""


async def answer_once(
    factory: async_sessionmaker[AsyncSession],
    verb: str,
    data: D,
    invoke: Invoke,
    flow: Callable[[async_sessionmaker[AsyncSession], D, Invoke], Awaitable[Answer]],
) -> Answer:
    """Run `flow` for a state-changing click once: the click's row is the first statement
    of the flow's transaction and its answer the last (`bot.clicks`). The same click
    arriving again gets the stored answer and records nothing (`changed` false); one
    arriving while the first still runs waits for it. A click only looking the same
    (outside the window, or after another click of the person) runs as a new one. A
    click whose transaction the database ended to break a deadlock runs again."""
    keys = clicks.keys_of(
        clicker=invoke.actor_aad,
        activity_id=invoke.activity_id,
        verb=verb,
        data=data.model_dump(mode="json"),
    )
    for attempt in range(1, _CLAIM_ATTEMPTS + 1):
        try:
            async with transaction(factory) as session:
                try:
                    person = await clicks.claim(
                        session, keys, verb=verb, now=invoke.now, clicker=invoke.actor_aad or None
                    )
                except IntegrityError:
                    raise _Claimed from None
                clicker = Actor.clicker(person, invoke.actor_aad)
                answer = await flow(
                    factory, data, replace(invoke, claimed=session, clicker=clicker)
                )
                stored = {"card": answer.card, "error": answer.error}
                await clicks.keep_answer(session, keys, stored)
            return answer
        except _Claimed:
            pass
        except DBAPIError as error:
            # PostgreSQL ended the transaction to let another go on (a deadlock): nothing
            # of it was written, so the click runs again rather than fail in Teams
            if not lost_to_a_conflict(error) or attempt == _CLAIM_ATTEMPTS:
                raise
            log.warning(
                "click ran again after a database conflict",
                extra={"verb": verb, "sqlstate": sqlstate_of(error)},
            )
            continue
        async with transaction(factory) as session:
            repeated = await clicks.answer_of_repeat(session, keys, now=invoke.now)
        if repeated is not None:
            return Answer(card=repeated.get("card"), error=repeated.get("error"))
    return await flow(factory, data, invoke)  # still contended: answered unrecorded


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
