"""Keeping posted card messages current: what a posted message shows, and the drawing of
its current card, which the outbox leaves to the domain.

Each card message the bot posts is recorded with its activity id. After a change of its
case, an update row naming it (`update_of`) goes into the outbox in the change's
transaction; the worker draws the message's current card when it sends the update
(`CardViews`, wired in bot/app.py), so a message updated three times in a minute costs
one send, and a card that did not change costs none (`card_hash`). A new message may be
drawn the same way when it is sent (`to_draw`): the action that posts it renders nothing,
and the card it shows is the one of that moment.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox.models import OutboxMessage

__all__ = ["DRAW_AT_SEND", "CardViews", "Shown", "card_hash", "shown_at_target", "to_draw"]


@dataclass(frozen=True)
class Shown:
    """A posted card message: what it was posted for and where it went.

    `delivered_to` is ``user`` (the person's chat), ``channel``, or ``fallback`` (a
    person's card that went to the unit's MVA channel, since the person had no chat).
    """

    purpose: str
    case_id: int | None
    task_id: int | None
    target_kind: str
    target: str
    delivered_to: str


def shown_at_target(message: OutboxMessage) -> Shown:
    """What the outbox row `message` shows when it goes to its own target (no fallback):
    for drawing its card outside a send, as the benchmark and the tests do."""
    return Shown(
        purpose=message.purpose,
        case_id=message.case_id,
        task_id=message.task_id,
        target_kind=message.target_kind,
        target=message.target,
        delivered_to=message.target_kind,
    )


class CardViews(Protocol):
    """Draws the current card of a posted message."""

    async def current(
        self, shown: Shown, *, session: AsyncSession | None = None
    ) -> dict[str, Any] | None:
        """The message activity that `shown` should show now; None when there is nothing
        to show (the case is gone, or the message is not one kept current). `session`:
        read in it (the worker's, for reading only) rather than in a session of its own."""
        ...


DRAW_AT_SEND = "frakturkedjanDrawAtSend"
"""The key that marks an activity to draw when it is sent (`to_draw`)."""


def to_draw(*, summary: str) -> dict[str, Any]:
    """A message whose card the worker draws when it sends it (`CardViews`, as it draws
    an update), so that the action that posts it does not render it: its text is what goes
    when no card can be drawn (the case is gone), never nothing."""
    return {"type": "message", "summary": summary, "text": summary, DRAW_AT_SEND: True}


def card_hash(activity: dict[str, Any]) -> str:
    """A hash of what a message activity shows (its text and cards), to tell whether an
    update would change anything."""
    shown = {"text": activity.get("text"), "attachments": activity.get("attachments")}
    data = json.dumps(shown, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()
