"""The one way a card is posted: to a person's personal chat or a unit's MVA channel,
through the outbox, in the caller's transaction (it goes out after commit, or never)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.directory.models import Staff, Unit
from bot.outbox import service as outbox
from bot.outbox.models import OutboxMessage

__all__ = ["post", "post_now"]


def _target(to: Staff | Unit) -> tuple[str, str]:
    if isinstance(to, Staff):
        return "user", to.aad_object_id
    return "channel", to.mva_channel or ""


def post(
    session: AsyncSession,
    card: dict[str, Any],
    *,
    to: Staff | Unit,
    summary: str,
    purpose: str,
    unit_id: int | None,
    case_id: int | None = None,
    task_id: int | None = None,
) -> OutboxMessage:
    """Put `card` in the outbox for `to`: a person (their personal chat, by AAD object id;
    the worker falls back to their unit's MVA channel) or a unit (its MVA channel, which
    may be unset). `summary` is the notification text Teams shows; `purpose`, `unit_id`,
    `case_id` and `task_id` are kept on the outbox row."""
    kind, target = _target(to)
    return outbox.enqueue(
        session,
        purpose=purpose,
        target_kind=kind,
        target=target,
        activity=outbox.card_activity(card, summary=summary),
        unit_id=unit_id,
        case_id=case_id,
        task_id=task_id,
    )


async def post_now(
    session: AsyncSession,
    card: dict[str, Any],
    *,
    to: Staff | Unit,
    summary: str,
    purpose: str,
    unit_id: int | None,
    case_id: int | None = None,
    task_id: int | None = None,
) -> None:
    """`post`, its outbox row inserted now as one Core statement (`outbox.enqueue_now`):
    for the hot paths, which need no `OutboxMessage` object."""
    kind, target = _target(to)
    await outbox.enqueue_now(
        session,
        purpose=purpose,
        target_kind=kind,
        target=target,
        activity=outbox.card_activity(card, summary=summary),
        unit_id=unit_id,
        case_id=case_id,
        task_id=task_id,
    )
