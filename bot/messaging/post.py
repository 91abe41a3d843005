"""The one way a card is posted: to a person's personal chat or a unit's MVA channel,
through the outbox, in the caller's transaction (it goes out after commit, or never)."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from bot.directory.models import Staff, Unit
from bot.outbox import service as outbox
from bot.outbox.models import OutboxMessage
from bot.outbox.views import to_draw

__all__ = ["Posting", "delivery_of", "post", "post_now"]


class Posting(TypedDict):
    """Where a card goes and how it is kept: `to` a person (their personal chat, by AAD
    object id; the worker falls back to their unit's MVA channel) or a unit (its MVA
    channel, which may be unset); `summary` is the notification text Teams shows;
    `purpose`, `unit_id`, `case_id` and `task_id` are kept on the outbox row."""

    to: Staff | Unit
    summary: str
    purpose: str
    unit_id: int | None
    case_id: NotRequired[int | None]
    task_id: NotRequired[int | None]


def delivery_of(card: dict[str, Any] | None, posting: Posting) -> outbox.Delivery:
    """The outbox delivery of `posting`: `card`, or (None) the card the worker draws."""
    to = posting["to"]
    kind, target = (
        ("user", to.aad_object_id) if isinstance(to, Staff) else ("channel", to.mva_channel or "")
    )
    return {
        "purpose": posting["purpose"],
        "target_kind": kind,
        "target": target,
        "activity": (
            to_draw(summary=posting["summary"])
            if card is None
            else outbox.card_activity(card, summary=posting["summary"])
        ),
        "unit_id": posting["unit_id"],
        "case_id": posting.get("case_id"),
        "task_id": posting.get("task_id"),
    }


def post(session: AsyncSession, card: dict[str, Any], **posting: Unpack[Posting]) -> OutboxMessage:
    """Put `card` in the outbox, in the session's transaction (see `Posting`)."""
    return outbox.enqueue(session, **delivery_of(card, posting))


async def post_now(
    session: AsyncSession, card: dict[str, Any] | None, **posting: Unpack[Posting]
) -> None:
    """`post`, its outbox row inserted now as one Core statement (`outbox.enqueue_now`):
    for the hot paths, which need no `OutboxMessage` object. `card` None: the worker draws
    the card of the posting's purpose and case when it sends it (`to_draw`)."""
    await outbox.enqueue_now(session, **delivery_of(card, posting))
