"""The clicks answered: one row per state-changing card click, kept a day."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class Click(Base):
    """A state-changing click and its answer (`{"card": …, "error": …}`), written in the
    click's own transaction: the row first, the answer last.

    The keys are SHA-256 hex digests, so that neither the clicker nor what they typed is
    stored twice: `activity_key` of the clicker, the activity id and the click's content
    (None without an activity id), `content_key` of the clicker, the verb and the
    canonical data, `clicker` of the clicker alone. Both keys are unique: a concurrent
    duplicate waits on the index until the first click commits. A key set to None frees
    it for a click that only looks the same (`bot.clicks.service.answer_of_repeat`)."""

    __tablename__ = "clicks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    activity_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    content_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    clicker: Mapped[str] = mapped_column(String(64), index=True)
    verb: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
