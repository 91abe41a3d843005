"""The card each claimed row sends, drawn just before its send: a posted message's update
gets its message's current card (`CardViews`), a person's card that goes to the MVA
channel instead gets the channel's view of it; every other row sends what it holds.

An update that would change nothing is put aside unsent (`Skip`): its message is gone or
was never posted, a later update of the same message follows, or the card is unchanged.
(When the later update was claimed with it, `routing.resolve` has skipped it already,
with the others of the claim, in one statement.) An update of a message still to be
posted (by another worker) waits a moment (`Wait`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.db import transaction, utcnow
from bot.outbox.models import OutboxMessage, locked_in_id_order
from bot.outbox.routing import LATER_UPDATE, Outgoing, Route
from bot.outbox.views import DRAW_AT_SEND, CardViews, Shown, card_hash

__all__ = ["Ready", "Skip", "Wait", "prepare", "put_aside", "skip_all"]

log = logging.getLogger("frakturkedjan.outbox")

NOT_POSTED_YET_WAIT = 1.0  # seconds an update waits for its message to be posted


@dataclass(frozen=True)
class Ready:
    """What to send: `activity`, in place of message `replaces` (its activity id) for an
    update of row `update_of`; `shown_hash` is what the message will show."""

    activity: dict[str, Any]
    shown_hash: str
    replaces: str | None = None
    update_of: int | None = None


@dataclass(frozen=True)
class Skip:
    """Nothing to send, ever: why."""

    reason: str


@dataclass(frozen=True)
class Wait:
    """Nothing to send yet: try again in `seconds`."""

    reason: str
    seconds: float = NOT_POSTED_YET_WAIT


def _with_text(activity: dict[str, Any], text: str | None) -> dict[str, Any]:
    return activity if text is None else {**activity, "text": text}


async def prepare(
    factory: async_sessionmaker[AsyncSession],
    message_id: int,
    route: Route,
    outgoing: Outgoing,
    views: CardViews | None,
) -> Ready | Skip | Wait:
    """What row `message_id` sends along `route` now (reads the database only for an
    update, or for a card that goes to the MVA channel instead of a person)."""
    if outgoing.update_of is None:
        activity = outgoing.activity
        drawing = activity.get(DRAW_AT_SEND) is True
        if (drawing or route.delivered_to == "fallback") and views is not None and outgoing.case_id:
            drawn = await views.current(_shown(outgoing, route, route.delivered_to))
            if drawn is not None:
                activity = {**drawn, "summary": activity["summary"]} if drawing else drawn
        if activity.get(DRAW_AT_SEND) is True:  # nothing drawn: its text goes
            activity = {k: v for k, v in activity.items() if k != DRAW_AT_SEND}
        return Ready(activity, card_hash(_with_text(activity, route.fallback_text)))
    if views is None:
        return Skip("no card views to draw the update")
    async with factory() as session:
        # the posted message as it is now (an earlier update of it may just have been
        # recorded) and whether a later update of it waits: one statement
        posted = (
            await session.execute(
                _POSTED_NOW, {"update_of": outgoing.update_of, "message_id": message_id}
            )
        ).one_or_none()
        if posted is None or posted.status not in ("pending", "sent"):
            return Skip("the message was never posted or is gone")
        if posted.later is not None:
            return Skip(LATER_UPDATE)
        if posted.status == "pending":
            return Wait("the message is not posted yet")
        if not posted.activity_id:
            return Skip("the message has no activity id")
        # drawn in the same session: one connection checkout per update
        drawn = await views.current(
            _shown(outgoing, route, posted.delivered_to or route.delivered_to), session=session
        )
    if drawn is None:
        return Skip("nothing to show")
    shown_hash = card_hash(_with_text(drawn, route.fallback_text))
    if shown_hash == posted.shown_hash:
        return Skip("the card is unchanged")
    return Ready(drawn, shown_hash, replaces=posted.activity_id, update_of=outgoing.update_of)


_later = aliased(OutboxMessage)
# built once: an update's send reads it every time
_POSTED_NOW = select(
    OutboxMessage.status,
    OutboxMessage.activity_id,
    OutboxMessage.shown_hash,
    OutboxMessage.delivered_to,
    select(_later.id)
    .where(
        _later.update_of == bindparam("update_of"),
        _later.id > bindparam("message_id"),
        _later.status == "pending",
    )
    .limit(1)
    .scalar_subquery()
    .label("later"),
).where(OutboxMessage.id == bindparam("update_of"))


def _shown(outgoing: Outgoing, route: Route, delivered_to: str) -> Shown:
    kind, target = route.target
    return Shown(
        purpose=outgoing.purpose,
        case_id=outgoing.case_id,
        task_id=outgoing.task_id,
        target_kind=kind,
        target=target,
        delivered_to=delivered_to,
    )


async def put_aside(
    factory: async_sessionmaker[AsyncSession], message_id: int, outcome: Skip | Wait
) -> None:
    """Record that a held row sends nothing: skipped for good, or due again later."""
    if isinstance(outcome, Skip):
        await skip_all(factory, {message_id: outcome.reason})
        return
    async with transaction(factory) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
            .values(
                lease_until=None,
                last_error=outcome.reason,
                next_attempt_at=utcnow() + timedelta(seconds=outcome.seconds),
            )
            .execution_options(synchronize_session=False)
        )


async def skip_all(factory: async_sessionmaker[AsyncSession], reasons: dict[int, str]) -> None:
    """Mark these held updates `skipped`, each with its reason, in one transaction."""
    async with transaction(factory) as session:
        await _skip(session, reasons)
    for message_id, reason in reasons.items():
        log.debug(
            "card update skipped",
            extra={"event": "card.update_skipped", "outbox_id": message_id, "reason": reason},
        )


async def _skip(session: AsyncSession, reasons: dict[int, str]) -> None:
    by_reason: dict[str, list[int]] = {}
    for message_id, reason in reasons.items():
        by_reason.setdefault(reason, []).append(message_id)
    for reason, ids in by_reason.items():
        await session.execute(_SKIP, {"ids": ids, "reason": reason})


_SKIP = (  # parameters: ids, reason
    update(OutboxMessage)
    .where(
        locked_in_id_order(
            lambda row: and_(row.id.in_(bindparam("ids", expanding=True)), row.status == "pending")
        )
    )
    .values(status="skipped", lease_until=None, last_error=bindparam("reason"))
    .execution_options(synchronize_session=False)
)
