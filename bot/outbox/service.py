"""Putting deliveries in the outbox, in the caller's transaction, and reading its depth."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack, cast

from sqlalchemy import (
    JSON,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import UTCDateTime, utcnow
from bot.outbox.models import OutboxMessage, locked_in_id_order
from bot.outbox.views import card_hash
from cards.render import card_attachment

NO_ROUTE = "no usable conversation (app not installed there)"


def card_activity(card: dict[str, Any], *, summary: str) -> dict[str, Any]:
    """A Bot Framework message activity carrying one Adaptive Card."""
    return {
        "type": "message",
        "summary": summary,
        "attachments": [card_attachment(card)],
    }


class Delivery(TypedDict):
    """One delivery: why, to whom (a person or a channel), what, and about which unit,
    case and task."""

    purpose: str
    target_kind: str  # "user" or "channel"
    target: str
    activity: dict[str, Any]
    unit_id: int | None
    case_id: NotRequired[int | None]
    task_id: NotRequired[int | None]


def _row(delivery: Delivery) -> dict[str, Any]:
    kind = delivery["target_kind"]
    if kind not in ("user", "channel"):
        raise ValueError(f"unknown target kind {kind!r}")
    now = utcnow()
    return {
        "created_at": now,
        "purpose": delivery["purpose"],
        "target_kind": kind,
        "target": delivery["target"],
        "activity": delivery["activity"],
        "unit_id": delivery["unit_id"],
        "case_id": delivery.get("case_id"),
        "task_id": delivery.get("task_id"),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }


def enqueue(session: AsyncSession, **delivery: Unpack[Delivery]) -> OutboxMessage:
    """Add a delivery to the session's transaction; the worker sends it after commit."""
    message = OutboxMessage(**_row(delivery))
    session.add(message)
    return message


_OUTBOX = cast(Table, OutboxMessage.__table__)
_INSERT = insert(_OUTBOX)  # built once: the hot paths post their cards with it


async def enqueue_now(session: AsyncSession, **delivery: Unpack[Delivery]) -> None:
    """`enqueue`'s row inserted now, as one Core statement, for the hot paths, which need
    no `OutboxMessage` object; the worker sends it after commit."""
    await session.execute(_INSERT, _row(delivery))


LIVE_STATUSES = ("pending", "sent")


def record_posted(
    session: AsyncSession,
    *,
    purpose: str,
    activity: dict[str, Any],
    person_aad: str,
    unit_id: int | None,
    case_id: int,
    conversation_id: str,
    activity_id: str,
) -> OutboxMessage:
    """Record a card message posted to a person's chat outside the outbox (a text
    command's reply within its turn) as sent, so that it is kept current like the
    outbox's own messages. The row keeps the hash of what it shows, not the card."""
    now = utcnow()
    message = OutboxMessage(
        created_at=now,
        purpose=purpose,
        target_kind="user",
        target=person_aad,
        activity={},
        unit_id=unit_id,
        case_id=case_id,
        status="sent",
        attempts=1,
        next_attempt_at=now,
        sent_at=now,
        conversation_id=conversation_id,
        activity_id=activity_id,
        delivered_to="user",
        shown_hash=card_hash(activity),
    )
    session.add(message)
    return message  # a posted message that may still be updated


_UPDATE_KEYS = (
    "created_at",
    "purpose",
    "target_kind",
    "target",
    "activity",
    "unit_id",
    "case_id",
    "task_id",
    "status",
    "attempts",
    "next_attempt_at",
    "update_of",
)


def _updates_rows() -> Select[Any]:
    """The rows of the updates of a case's posted card messages (see `enqueue_updates`),
    in the order of `_UPDATE_KEYS`: its parameters are `case_id`, `now` and `purposes`."""
    posted = _OUTBOX.alias("posted")
    now = bindparam("now", type_=UTCDateTime())
    return select(
        now,
        posted.c.purpose,
        posted.c.target_kind,
        posted.c.target,
        literal({}, JSON()),
        posted.c.unit_id,
        posted.c.case_id,
        posted.c.task_id,
        literal("pending"),
        literal(0),
        now,
        posted.c.id,
    ).where(
        posted.c.case_id == bindparam("case_id"),
        posted.c.update_of.is_(None),
        posted.c.purpose.in_(bindparam("purposes", expanding=True)),
        posted.c.status.in_(LIVE_STATUSES),
    )


# INSERT … SELECT, built once
_UPDATES = insert(_OUTBOX).from_select(_UPDATE_KEYS, _updates_rows())
_UPDATES_THEN: dict[int, Insert] = {}  # by number of new rows, each built once


def _updates_then_statement(count: int) -> Insert:
    """`_UPDATES` and `count` new rows, whose parameters are `row<n>_<column>` (see
    `enqueue_updates_then`), in one INSERT … SELECT … UNION ALL: the updates come first,
    so they get the lower ids and go out before the new messages, and the new rows are
    not among the messages updated (the SELECT reads the table as it was before)."""
    keys = _UPDATE_KEYS[:-1]
    new_rows = [
        select(
            *(bindparam(f"row{n}_{key}", type_=_OUTBOX.c[key].type) for key in keys),
            null(),  # update_of
        )
        for n in range(count)
    ]
    return insert(_OUTBOX).from_select(_UPDATE_KEYS, union_all(_updates_rows(), *new_rows))


async def enqueue_updates(session: AsyncSession, *, case_id: int, purposes: Sequence[str]) -> int:
    """Add, in the caller's transaction, an update of every card message of `purposes`
    posted about the case (sent, or still to be sent): one statement, whatever their
    number. The worker draws each message's current card when it sends the update, so
    the rows carry no card. Returns how many were added."""
    result = await session.execute(
        _UPDATES, {"case_id": case_id, "now": utcnow(), "purposes": list(purposes)}
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def enqueue_updates_then(
    session: AsyncSession,
    *,
    case_id: int,
    purposes: Sequence[str],
    deliveries: Sequence[Delivery],
) -> None:
    """`enqueue_updates`, then `enqueue_now` of each of `deliveries` (new messages about
    the case, which show its change already: no update of them is added), in one
    statement."""
    if not deliveries:
        await enqueue_updates(session, case_id=case_id, purposes=purposes)
        return
    statement = _UPDATES_THEN.get(len(deliveries))
    if statement is None:
        statement = _UPDATES_THEN[len(deliveries)] = _updates_then_statement(len(deliveries))
    params: dict[str, Any] = {"case_id": case_id, "now": utcnow(), "purposes": list(purposes)}
    for n, delivery in enumerate(deliveries):
        params.update({f"row{n}_{k}": v for k, v in _row(delivery).items()})
    await session.execute(statement, params)


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


async def remember_conversation(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    conversation_id: str,
    service_url: str,
    tenant_id: str | None,
    bot_id: str | None,
    user_id: str | None = None,
    team_id: str | None = None,
) -> bool:
    """Store or refresh where the bot reaches a person or channel. Idempotent.

    Returns True when something changed (a new reference, a new address, or a reference
    that was unusable and now works again after a reinstall).
    """
    from bot.outbox.models import ConversationRef

    ref = await session.scalar(
        select(ConversationRef).where(ConversationRef.kind == kind, ConversationRef.key == key)
    )
    values = {
        "conversation_id": conversation_id,
        "service_url": service_url,
        "tenant_id": tenant_id,
        "bot_id": bot_id,
        "user_id": user_id,
        "team_id": team_id,
        "usable": True,
        "unusable_reason": None,
    }
    if ref is None:
        session.add(ConversationRef(kind=kind, key=key, updated_at=utcnow(), **values))
        return True
    if all(getattr(ref, name) == value for name, value in values.items()):
        return False
    for name, value in values.items():
        setattr(ref, name, value)
    ref.updated_at = utcnow()
    return True


async def forget_conversation(session: AsyncSession, *, kind: str, key: str, reason: str) -> None:
    """The app was removed there: keep the row, but never send to it until reinstalled."""
    from bot.outbox.models import ConversationRef

    ref = await session.scalar(
        select(ConversationRef).where(ConversationRef.kind == kind, ConversationRef.key == key)
    )
    if ref is not None:
        ref.usable = False
        ref.unusable_reason = reason
        ref.updated_at = utcnow()


async def retry_waiting_now(session: AsyncSession) -> int:
    """A conversation became reachable: deliveries that waited for one are due at once."""
    from sqlalchemy import update

    result = await session.execute(
        update(OutboxMessage)
        .where(
            locked_in_id_order(
                lambda row: and_(row.status == "pending", row.last_error == NO_ROUTE)
            )
        )
        .values(next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
