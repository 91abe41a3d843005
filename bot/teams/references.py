"""Conversation references from Teams activities, stored in the database on install.

Works on either SDK's activity (botbuilder's msrest `Activity`, the Agents SDK's pydantic
one): both have the same snake_case attributes, read here through `getattr`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.directory import service as directory
from bot.outbox import service as outbox

Activity = Any
"""An SDK's activity: `channel_data` (the raw dict), `conversation` (`id`,
`conversation_type`, `tenant_id`), `service_url`, `recipient.id`, `from_property`
(`id`, `aad_object_id`)."""

log = logging.getLogger("frakturkedjan.teams")


@dataclass(frozen=True)
class ConversationInfo:
    kind: str  # personal or channel
    key: str  # AAD object id (personal) or channel id (channel)
    conversation_id: str
    service_url: str
    tenant_id: str | None
    bot_id: str | None
    user_id: str | None
    team_id: str | None


def _channel_data(activity: Activity) -> dict[str, Any]:
    data = getattr(activity, "channel_data", None)
    return data if isinstance(data, dict) else {}


def tenant_of(activity: Activity) -> str | None:
    tenant = _channel_data(activity).get("tenant")
    if isinstance(tenant, dict) and isinstance(tenant.get("id"), str):
        return str(tenant["id"])
    conversation = getattr(activity, "conversation", None)
    return getattr(conversation, "tenant_id", None) if conversation else None


def conversation_info(activity: Activity) -> ConversationInfo | None:
    """Where this activity came from, as a reference we can send to later; None if unusable."""
    conversation = getattr(activity, "conversation", None)
    service_url = getattr(activity, "service_url", None)
    if conversation is None or not getattr(conversation, "id", None) or not service_url:
        return None
    data = _channel_data(activity)
    recipient = getattr(activity, "recipient", None)
    bot_id = getattr(recipient, "id", None) if recipient else None
    sender = getattr(activity, "from_property", None)
    if getattr(conversation, "conversation_type", None) == "personal":
        aad = getattr(sender, "aad_object_id", None) if sender else None
        if not aad:
            return None
        return ConversationInfo(
            kind="personal",
            key=aad,
            conversation_id=conversation.id,
            service_url=service_url,
            tenant_id=tenant_of(activity),
            bot_id=bot_id,
            user_id=getattr(sender, "id", None) if sender else None,
            team_id=None,
        )
    channel = data.get("channel") if isinstance(data.get("channel"), dict) else None
    team = data.get("team") if isinstance(data.get("team"), dict) else None
    # A channel install's conversationUpdate may lack channelData.channel; then the
    # conversation id (without a `;messageid=` suffix) is the channel id.
    channel_id = (channel or {}).get("id") or conversation.id.split(";", 1)[0]
    return ConversationInfo(
        kind="channel",
        key=str(channel_id),
        conversation_id=str(channel_id),
        service_url=service_url,
        tenant_id=tenant_of(activity),
        bot_id=bot_id,
        user_id=None,
        team_id=str(team["id"]) if team and team.get("id") else None,
    )


async def remember(session: AsyncSession, activity: Activity) -> ConversationInfo | None:
    """Store the activity's conversation; for a person, also keep their Teams user id."""
    info = conversation_info(activity)
    if info is None:
        return None
    changed = await outbox.remember_conversation(
        session,
        kind=info.kind,
        key=info.key,
        conversation_id=info.conversation_id,
        service_url=info.service_url,
        tenant_id=info.tenant_id,
        bot_id=info.bot_id,
        user_id=info.user_id,
        team_id=info.team_id,
    )
    if changed:
        await outbox.retry_waiting_now(session)
    if info.kind == "personal" and info.user_id:
        person = await directory.staff_by_aad(session, info.key)
        if person is not None and person.teams_user_id != info.user_id:
            person.teams_user_id = info.user_id
    return info


async def forget(session: AsyncSession, activity: Activity) -> None:
    info = conversation_info(activity)
    if info is not None:
        await outbox.forget_conversation(
            session, kind=info.kind, key=info.key, reason="uninstalled"
        )


async def remember_in(
    factory: async_sessionmaker[AsyncSession],
    activity: Activity,
    *,
    on_change: Callable[[], None],
) -> None:
    """`remember` in a transaction of its own, as both runtimes' handlers do on install,
    conversation updates and messages; `on_change` (the outbox's wake-up) once stored."""
    async with transaction(factory) as session:
        info = await remember(session, activity)
    if info is not None:
        log.info("conversation reference stored", extra={"kind": info.kind})
        on_change()


async def forget_in(factory: async_sessionmaker[AsyncSession], activity: Activity) -> None:
    """`forget` in a transaction of its own (the app was uninstalled there)."""
    async with transaction(factory) as session:
        await forget(session, activity)
