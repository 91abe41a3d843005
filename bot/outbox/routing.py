"""Where each claimed outbox row goes: the target's usable conversation, or for a person
without one, the unit's MVA channel, saying so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.directory.models import Staff, Unit
from bot.outbox.models import ConversationRef, OutboxMessage
from bot.outbox.notices import fallback_text

__all__ = ["Route", "resolve"]


@dataclass(frozen=True)
class Route:
    """The conversation a row is sent to (`ref_id` names its reference)."""

    ref_id: int
    service_url: str
    conversation_id: str
    delivered_to: str  # "user", "channel" or "fallback"
    fallback_text: str | None = None  # replaces the activity's text on a fallback
    target: tuple[str, str] = ("", "")  # the row's (target_kind, target)


async def resolve(
    factory: async_sessionmaker[AsyncSession], ids: list[int]
) -> tuple[dict[int, Route], dict[int, dict[str, Any]]]:
    """Where each row goes (a few queries for all of them, not per row), and its activity.
    A row without a usable conversation, nor a fallback for it, has no route."""
    routes: dict[int, Route] = {}
    async with factory() as session:
        # plain rows, not ORM objects: this runs while other rows are being sent, and
        # a long pause of the event loop would delay sends already paced
        messages = (
            await session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.target_kind,
                    OutboxMessage.target,
                    OutboxMessage.unit_id,
                    OutboxMessage.activity,
                ).where(OutboxMessage.id.in_(ids))
            )
        ).all()
        activities = {m.id: m.activity for m in messages}
        users = {m.target for m in messages if m.target_kind == "user"}
        channels = {m.target for m in messages if m.target_kind == "channel"}
        refs = await _refs(session, users=users, channels=channels)
        unrouted = [
            m for m in messages if m.target_kind == "user" and ("personal", m.target) not in refs
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
            ref = refs.get((kind, message.target))
            if ref is not None:
                routes[message.id] = Route(
                    ref.id,
                    ref.service_url,
                    ref.conversation_id,
                    message.target_kind,
                    target=(message.target_kind, message.target),
                )
            elif message.target_kind == "user" and message.unit_id in fallback:
                channel = fallback[message.unit_id]
                routes[message.id] = Route(
                    channel.id,
                    channel.service_url,
                    channel.conversation_id,
                    "fallback",
                    fallback_text(names.get(message.target)),
                    target=(message.target_kind, message.target),
                )
    return routes, activities


async def _refs(
    session: AsyncSession, *, users: set[str], channels: set[str]
) -> dict[tuple[str, str], ConversationRef]:
    """Usable conversation references of these people (personal) and channels."""
    wanted = []
    if users:
        wanted.append((ConversationRef.kind == "personal") & ConversationRef.key.in_(users))
    if channels:
        wanted.append((ConversationRef.kind == "channel") & ConversationRef.key.in_(channels))
    if not wanted:
        return {}
    rows = await session.scalars(
        select(ConversationRef).where(ConversationRef.usable, or_(*wanted))
    )
    return {(r.kind, r.key): r for r in rows}
