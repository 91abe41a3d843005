"""Conversation references and the persistent outbox of deliveries to Teams."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    select,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class ConversationRef(Base):
    """Where the bot can reach a person (personal chat) or a channel, stored on install.

    `key` is the person's AAD object id for `personal`, the channel id for `channel`.
    """

    __tablename__ = "conversation_refs"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    conversation_id: Mapped[str] = mapped_column(String(500))
    service_url: Mapped[str] = mapped_column(String(500))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    bot_id: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(200))
    usable: Mapped[bool] = mapped_column(Boolean, default=True)
    unusable_reason: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """One delivery to Teams, written in the transaction of the change it reports.

    `target_kind` is `user` (key: AAD object id) or `channel` (key: channel id). The worker
    resolves the conversation at send time; a person without a personal chat gets the
    message in the unit's MVA channel instead, saying so.

    `status`: `pending`, `sent`, `failed` (given up), `gone` (the posted message was
    deleted in Teams: a 404 to its update) or `skipped` (an update with nothing to do: a
    later update of the same message follows, the card is unchanged, or the message was
    never posted). A row with `update_of` replaces the card of the message that row posted
    with the current one (Bot Connector update activity).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    task_id: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(200))
    activity: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    conversation_id: Mapped[str | None] = mapped_column(String(500))
    activity_id: Mapped[str | None] = mapped_column(String(200))
    delivered_to: Mapped[str | None] = mapped_column(String(16))
    # a row that updates a posted message names the row that posted it
    update_of: Mapped[int | None] = mapped_column(Integer, index=True)
    # the hash of the card the posted message shows now (set when sent or updated)
    shown_hash: Mapped[str | None] = mapped_column(String(64))


def locked_in_id_order(
    where: Callable[[Any], ColumnElement[bool]],
) -> ColumnElement[bool]:
    """The outbox rows that `where` (given the entity) matches, locked in id order first:
    the condition of every statement that changes several outbox rows at once.

    PostgreSQL's UPDATE locks rows in the order it finds them (on disk, or in an index), so
    two such statements running at once (a turn making the waiting deliveries due, the
    worker renewing its leases) could each hold a row the other waits for: a deadlock, and
    an error for one of them. Locked in one order, the later one only waits. On SQLite the
    transaction holds the whole database, and no row is locked.
    """
    row = aliased(OutboxMessage)
    ordered = select(row.id).where(where(row)).order_by(row.id).with_for_update()
    return and_(where(OutboxMessage), OutboxMessage.id.in_(ordered))
