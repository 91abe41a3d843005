"""Where each claimed outbox row goes: the target's usable conversation, or for a person
without one, the unit's MVA channel, saying so. An update goes to the conversation of the
message it updates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.directory.models import Staff, Unit
from bot.outbox.models import ConversationRef, OutboxMessage
from bot.outbox.notices import fallback_text

__all__ = ["CLAIMED_COLUMNS", "LATER_UPDATE", "Outgoing", "Resolved", "Route", "resolve"]

LATER_UPDATE = "a later update of the message follows"
"""Why an update is skipped when another of the same message waits to be sent."""


# what `resolve` needs of a claimed row; the claim returns them (bot/outbox/claims.py)
CLAIMED_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.target_kind,
    OutboxMessage.target,
    OutboxMessage.unit_id,
    OutboxMessage.activity,
    OutboxMessage.purpose,
    OutboxMessage.case_id,
    OutboxMessage.task_id,
    OutboxMessage.update_of,
)


@dataclass(frozen=True)
class Route:
    """The conversation a row is sent to (`ref_id` names its reference)."""

    ref_id: int
    service_url: str
    conversation_id: str
    delivered_to: str  # "user", "channel" or "fallback"
    fallback_text: str | None = None  # replaces the activity's text on a fallback
    target: tuple[str, str] = ("", "")  # the row's (target_kind, target)


@dataclass(frozen=True)
class Outgoing:
    """A claimed row as the sender needs it: its activity (empty for an update, whose card
    is drawn when it is sent) and what the message is about."""

    activity: dict[str, Any]
    purpose: str
    case_id: int | None
    task_id: int | None
    update_of: int | None


@dataclass
class Resolved:
    """The claimed rows with a route (`routes`, `outgoing`), and the updates with nothing
    to update (`skipped`: row id -> why): their message was never posted or is gone, or a
    later update of it was claimed with them."""

    routes: dict[int, Route]
    outgoing: dict[int, Outgoing]
    skipped: dict[int, str]


async def resolve(
    factory: async_sessionmaker[AsyncSession],
    ids: list[int],
    claimed: Mapping[int, Row[Any]] | None = None,
) -> Resolved:
    """Where each row goes (a few queries for all of them, not per row), and its activity.
    A row without a usable conversation, nor a fallback for it, has no route. An update of
    a posted message goes where that message went; while the message is still to be
    posted, the update is routed like it (and sent after it, in target order).

    `claimed`: the rows as their claim returned them (`CLAIMED_COLUMNS`); those not in it
    are read."""
    routes: dict[int, Route] = {}
    skipped: dict[int, str] = {}
    given = claimed or {}
    async with factory() as session:
        # plain rows, not ORM objects: this runs while other rows are being sent, and
        # a long pause of the event loop would delay sends already paced
        messages = [given[i] for i in ids if i in given]
        unread = [i for i in ids if i not in given]
        if unread:
            messages.extend((await session.execute(_CLAIMED, {"ids": unread})).all())
        outgoing = {
            m.id: Outgoing(m.activity, m.purpose, m.case_id, m.task_id, m.update_of)
            for m in messages
        }
        posted = await _posted(session, {m.update_of for m in messages if m.update_of})
        # row id -> the reference of the conversation its message went to, and how
        updates: dict[int, tuple[ConversationRef, str]] = {}
        for m in messages:
            if m.update_of is None:
                continue
            original = posted.get(m.update_of)
            if original is None or original.status not in ("pending", "sent"):
                skipped[m.id] = "the message was never posted or is gone"
            elif original.status == "sent":
                if original.ref is None:
                    skipped[m.id] = "the message's conversation is no longer reachable"
                else:
                    updates[m.id] = (original.ref, original.delivered_to or m.target_kind)
        # Of several updates of one message in the claim only the last is sent (it draws
        # the card as it is then); the earlier ones are skipped here, without a read each.
        last: dict[int, int] = {}
        for m in messages:
            if m.update_of is not None and m.id not in skipped:
                last[m.update_of] = max(m.id, last.get(m.update_of, m.id))
        for m in messages:
            if m.update_of is not None and m.id not in skipped and last[m.update_of] != m.id:
                skipped[m.id] = LATER_UPDATE
                updates.pop(m.id, None)
        messages = [m for m in messages if m.id not in skipped]
        routed_as_posted = [m for m in messages if m.id not in updates]
        users = {m.target for m in routed_as_posted if m.target_kind == "user"}
        channels = {m.target for m in routed_as_posted if m.target_kind == "channel"}
        refs = await _refs(session, users=users, channels=channels)
        unrouted = [
            m
            for m in messages
            if m.target_kind == "user"
            and (
                (m.id in updates and updates[m.id][1] == "fallback")
                or (m.id not in updates and ("personal", m.target) not in refs)
            )
        ]
        fallback: dict[int, ConversationRef] = {}
        names: dict[str, str] = {}
        if unrouted:
            unit_ids = {m.unit_id for m in unrouted if m.unit_id is not None}
            units = (await session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))).all()
            unit_channel = {u.id: u.mva_channel for u in units if u.mva_channel}
            channel_refs = await _refs(session, users=set(), channels=set(unit_channel.values()))
            fallback = {
                unit_id: channel_refs[("channel", channel)]
                for unit_id, channel in unit_channel.items()
                if ("channel", channel) in channel_refs
            }
            people = await session.scalars(
                select(Staff).where(Staff.aad_object_id.in_({m.target for m in unrouted}))
            )
            names = {p.aad_object_id: p.name for p in people}
        for message in messages:
            kind = "personal" if message.target_kind == "user" else "channel"
            target = (message.target_kind, message.target)
            if message.id in updates:
                posted_ref, delivered_to = updates[message.id]
                text = None
                if delivered_to == "fallback":
                    text = fallback_text(names.get(message.target))
                routes[message.id] = Route(
                    posted_ref.id,
                    posted_ref.service_url,
                    posted_ref.conversation_id,
                    delivered_to,
                    text,
                    target=target,
                )
                continue
            ref = refs.get((kind, message.target))
            if ref is not None:
                routes[message.id] = Route(
                    ref.id, ref.service_url, ref.conversation_id, message.target_kind, target=target
                )
            elif message.target_kind == "user" and message.unit_id in fallback:
                channel = fallback[message.unit_id]
                routes[message.id] = Route(
                    channel.id,
                    channel.service_url,
                    channel.conversation_id,
                    "fallback",
                    fallback_text(names.get(message.target)),
                    target=target,
                )
    return Resolved(routes, outgoing, skipped)


@dataclass(frozen=True)
class _Posted:
    status: str
    delivered_to: str | None
    ref: ConversationRef | None  # the usable reference of the conversation it went to


async def _posted(session: AsyncSession, ids: set[int]) -> dict[int, _Posted]:
    """The posted messages these updates update: their status, and the usable reference
    of the conversation each went to (one query)."""
    if not ids:
        return {}
    # a posted row joined to the usable reference of its conversation, if any (the last
    # one read, should two references share a conversation)
    rows = (await session.execute(_POSTED, {"ids": list(ids)})).all()
    return {r.id: _Posted(r.status, r.delivered_to, r.ConversationRef) for r in rows}


async def _refs(
    session: AsyncSession, *, users: set[str], channels: set[str]
) -> dict[tuple[str, str], ConversationRef]:
    """Usable conversation references of these people (personal) and channels."""
    if not users and not channels:
        return {}
    # an empty list matches nothing: one statement for both kinds, built once
    rows = await session.scalars(_REFS, {"users": list(users), "channels": list(channels)})
    return {(r.kind, r.key): r for r in rows}


# The statements of a resolve, built once with their values as parameters (lists): it runs
# for every claim, every few clicks.
_CLAIMED = select(*CLAIMED_COLUMNS).where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
_POSTED = (
    select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.delivered_to, ConversationRef)
    .outerjoin(
        ConversationRef,
        and_(
            ConversationRef.conversation_id == OutboxMessage.conversation_id,
            ConversationRef.usable,
        ),
    )
    .where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
)
_REFS = select(ConversationRef).where(
    ConversationRef.usable,
    or_(
        (ConversationRef.kind == "personal")
        & ConversationRef.key.in_(bindparam("users", expanding=True)),
        (ConversationRef.kind == "channel")
        & ConversationRef.key.in_(bindparam("channels", expanding=True)),
    ),
)
