"""Recording what became of a claimed outbox row: sent, to be retried, given up, or
waiting for a conversation.

A transient failure (429, 5xx, network) keeps the row pending with a later
`next_attempt_at`, honouring `Retry-After`. A 403 that says the bot is out of the
conversation marks the reference unusable and tells the unit's MVA channel. A permanent
refusal is marked failed, audited and logged. A success is recorded right after the send,
retried for up to a lease while the database is unreachable (`record_retrying`), and
logged once it is committed (`Event.CARD_SENT`, or `Event.CARD_UPDATED` for an update:
outbox id, purpose, case id; no query more, the recording UPDATE returns them).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer

from bot.audit import service as audit
from bot.db import UTCDateTime, transaction, utcnow, whole_database_locked
from bot.directory.models import Staff, Unit
from bot.logs import Event, log_on_commit
from bot.outbox import service as outbox
from bot.outbox.claims import Leases, database_unreachable
from bot.outbox.models import ConversationRef, OutboxMessage
from bot.outbox.notices import NoticeCard, unreachable_notice
from bot.outbox.routing import Route
from bot.outbox.sending import Delivery, transient
from bot.outbox.updates import Ready

__all__ = [
    "MAX_BACKOFF",
    "UNUSABLE_CODES",
    "backoff",
    "postpone_unrouted",
    "record",
    "record_retrying",
]

log = logging.getLogger("frakturkedjan.outbox")

MAX_BACKOFF = 900.0
UNUSABLE_CODES = frozenset({"BotNotInConversationRoster", "ConversationBlockedByUser"})


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts` (1-based): 0.5, 1, 2, 4 … up to 15 minutes,
    ±20 %. A lone 500/503 is usually gone in half a second; a `Retry-After` overrides."""
    base: float = min(MAX_BACKOFF, 0.5 * 2.0 ** min(attempts - 1, 12))
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


async def record_retrying(
    write: Callable[[], Awaitable[None]],
    *,
    message_id: int,
    clock: Callable[[], float],
    within: float,
) -> None:
    """Run `write` (the recording of row `message_id`'s send), trying again while the
    database is unreachable, for up to `within` seconds; then raise its error."""
    deadline = clock() + within
    pause = 0.1
    while True:
        try:
            await write()
        except Exception as exc:
            if not database_unreachable(exc) or clock() + pause > deadline:
                raise
            log.warning(
                "outbox send not recorded: database unreachable; retrying",
                extra={"outbox_id": message_id, "error": type(exc).__name__},
            )
            await asyncio.sleep(pause)  # not cut short by `stop`: the outcome matters
            pause = min(pause * 2, 1.0)
        else:
            return


async def record(
    session: AsyncSession,
    message_id: int,
    route: Route,
    result: Delivery,
    sent: Ready,
    *,
    leases: Leases,
    notice_card: NoticeCard | None,
) -> float | None:
    """Write the outcome of a send of a row `leases` holds (`sent`: what it sent), in
    `session`'s transaction.

    Returns the seconds until the row's retry when the failure was transient and the row
    still this worker's; None otherwise (sent, given up, unusable, gone, or taken over by
    another worker, whose claim then decides). An update answered 404 found its message
    deleted: both rows are marked `gone`, and the message is never updated again.
    """
    now = utcnow()
    if result.ok:  # the common case: one UPDATE, the row is not read
        values = {
            "message_id": message_id,
            "now": now,
            "http_status": result.status,
            "sent_activity_id": result.activity_id,
            "sent_conversation_id": route.conversation_id,
            "sent_delivered_to": route.delivered_to,
            "hash": sent.shown_hash,
        }
        if sent.update_of is None:
            recorded = await session.execute(_SENT, values)
        else:  # the update's row and the posted message's shown_hash, in one statement
            recorded = await session.execute(_UPDATED, {**values, "posted_id": sent.update_of})
        # None: recorded before (a retried commit)
        row = next((r for r in recorded if r.id == message_id), None)
        if row is not None:
            log_on_commit(
                session,
                Event.CARD_SENT if sent.update_of is None else Event.CARD_UPDATED,
                outbox_id=message_id,
                purpose=row.purpose,
                case_id=row.case_id,
                to=route.delivered_to if sent.update_of is None else None,
                update_of=sent.update_of,
            )
        return None
    # the card itself is not needed to record a failure
    message = await session.get(
        OutboxMessage,
        message_id,
        options=[defer(OutboxMessage.activity, raiseload=True)],
        with_for_update=not whole_database_locked(session),
    )
    if message is None:
        return None
    if message.lease_until not in leases.tokens([message_id]):
        # another worker claimed it after our lease lapsed: it decides now
        log.warning(
            "outbox failure not recorded: row no longer held",
            extra={"outbox_id": message_id, "status": result.status},
        )
        return None
    message.lease_until = None
    message.last_status = result.status
    message.attempts += 1
    message.last_error = f"HTTP {result.status} {result.error_code or ''}".strip()
    if result.status == 404 and sent.update_of is not None:
        await _gone(session, message, sent.update_of)
        return None
    if result.status == 403 and result.error_code in UNUSABLE_CODES:
        await _mark_unusable(session, route, message, result.error_code or "", notice_card)
        message.next_attempt_at = now
        return None
    if transient(result.status):
        delay = backoff(message.attempts)
        if result.retry_after is not None:
            delay = max(delay, result.retry_after)
        message.next_attempt_at = now + timedelta(seconds=delay)
        log.info(
            "outbox send will be retried",
            extra={
                "outbox_id": message.id,
                "status": result.status,
                "attempts": message.attempts,
                "retry_in": round(delay, 1),
            },
        )
        return delay
    message.status = "failed"
    audit.record(
        session,
        actor="system:outbox",
        action="outbox.give_up",
        outcome="error",
        unit_id=message.unit_id,
        case_id=message.case_id,
        task_id=message.task_id,
        detail={
            "outbox_id": message.id,
            "status": result.status,
            "error_code": result.error_code,
            "purpose": message.purpose,
        },
    )
    log.error(
        "outbox send refused by Teams; given up and audited",
        extra={
            "outbox_id": message.id,
            "status": result.status,
            "case_id": message.case_id,
        },
    )
    return None


# A success's statements, built once (building them cost more than running them); Core
# statements on the table: nothing of the ORM is needed to write them. Parameters:
# message_id, now, http_status, sent_activity_id, sent_conversation_id, sent_delivered_to,
# hash; for an update, posted_id too. They return what the log line names.
_outbox = cast(Table, OutboxMessage.__table__)
_c = _outbox.c
_SENT_VALUES: dict[str, Any] = {
    "status": literal("sent"),
    "sent_at": bindparam("now", type_=UTCDateTime),
    "lease_until": null(),
    "last_status": bindparam("http_status", type_=Integer),
    "attempts": _c.attempts + 1,
    "activity_id": bindparam("sent_activity_id", type_=String),
    "conversation_id": bindparam("sent_conversation_id", type_=String),
    "delivered_to": bindparam("sent_delivered_to", type_=String),
    "last_error": null(),
    "shown_hash": bindparam("hash", type_=String),
}
_SENT = (
    update(_outbox)
    # pending: a retry after a commit whose answer was lost changes nothing
    .where(_c.id == bindparam("message_id"), _c.status == "pending")
    .values(_SENT_VALUES)
    .returning(_c.id, _c.purpose, _c.case_id)
)
# An update's row as _SENT, and the message it updated now shows the same card
_is_row = _c.id == bindparam("message_id")
_UPDATED = (
    update(_outbox)
    .where(or_(and_(_is_row, _c.status == "pending"), _c.id == bindparam("posted_id")))
    .values(
        {
            name: value if name == "shown_hash" else case((_is_row, value), else_=_c[name])
            for name, value in _SENT_VALUES.items()
        }
    )
    .returning(_c.id, _c.purpose, _c.case_id)
)


async def _gone(session: AsyncSession, message: OutboxMessage, posted_id: int) -> None:
    """The message an update was for no longer exists in Teams (deleted): neither row is
    tried again, and no later change updates that message."""
    message.status = "gone"
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == posted_id)
        .values(status="gone")
        .execution_options(synchronize_session=False)
    )
    log.info(
        "card message deleted in Teams; no longer updated",
        extra={
            "event": "card.gone",
            "outbox_id": message.id,
            "posted_id": posted_id,
            "case_id": message.case_id,
        },
    )


async def _mark_unusable(
    session: AsyncSession,
    route: Route,
    message: OutboxMessage,
    code: str,
    notice_card: NoticeCard | None,
) -> None:
    """The bot is out of the route's conversation: never send there again until a
    reinstall, audit it, and for a person's chat tell the unit's MVA channel."""
    ref = await session.get(ConversationRef, route.ref_id)
    if ref is None:
        return
    ref.usable = False
    ref.unusable_reason = code
    ref.updated_at = utcnow()
    audit.record(
        session,
        actor="system:outbox",
        action="conversation.unusable",
        outcome="error",
        unit_id=message.unit_id,
        case_id=message.case_id,
        detail={"kind": ref.kind, "code": code},
    )
    log.warning(
        "conversation reference marked unusable",
        extra={"ref_id": ref.id, "kind": ref.kind, "code": code},
    )
    if ref.kind == "personal" and message.unit_id is not None:
        unit = await session.get(Unit, message.unit_id)
        person = await session.scalar(select(Staff).where(Staff.aad_object_id == ref.key))
        if unit is not None and unit.mva_channel:
            outbox.enqueue(
                session,
                purpose="unreachable_notice",
                target_kind="channel",
                target=unit.mva_channel,
                activity=unreachable_notice(person.name if person else None, notice_card),
                unit_id=unit.id,
            )


async def postpone_unrouted(factory: async_sessionmaker[AsyncSession], ids: list[int]) -> None:
    """No usable conversation yet for these rows: keep them, try again later (a minute
    more per attempt, up to 15), and say so in the log."""
    now = utcnow()
    async with transaction(factory) as session:
        unsent = select(OutboxMessage).where(OutboxMessage.id.in_(ids))
        for message in (
            await session.scalars(unsent.options(defer(OutboxMessage.activity, raiseload=True)))
        ).all():
            message.attempts += 1
            message.lease_until = None
            message.last_error = outbox.NO_ROUTE
            message.next_attempt_at = now + timedelta(seconds=min(60.0 * message.attempts, 900))
            log.warning(
                "outbox message waits for a conversation",
                extra={
                    "outbox_id": message.id,
                    "target_kind": message.target_kind,
                    "case_id": message.case_id,
                    "attempts": message.attempts,
                },
            )
