"""Putting deliveries in the outbox, in the caller's transaction, and reading its depth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import utcnow
from bot.outbox.models import OutboxMessage

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def card_activity(card: dict[str, Any], *, summary: str) -> dict[str, Any]:
    """A Bot Framework message activity carrying one Adaptive Card."""
    return {
        "type": "message",
        "summary": summary,
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}],
    }


def enqueue(
    session: AsyncSession,
    *,
    purpose: str,
    target_kind: str,
    target: str,
    activity: dict[str, Any],
    unit_id: int | None,
    case_id: int | None = None,
    task_id: int | None = None,
) -> OutboxMessage:
    """Add a delivery to the session's transaction; the worker sends it after commit."""
    if target_kind not in ("user", "channel"):
        raise ValueError(f"unknown target kind {target_kind!r}")
    message = OutboxMessage(
        created_at=utcnow(),
        purpose=purpose,
        target_kind=target_kind,
        target=target,
        activity=activity,
        unit_id=unit_id,
        case_id=case_id,
        task_id=task_id,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(message)
    return message


async def depth(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many deliveries wait, and since when the oldest."""
    row = (
        await session.execute(
            select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)).where(
                OutboxMessage.status == "pending"
            )
        )
    ).one()
    oldest = row[1]
    if oldest is not None and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return int(row[0]), oldest
