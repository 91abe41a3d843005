"""The `bot_state` table: one serialised state object per storage key.

The table knows nothing of the Bot Framework; `bot.teams.storage.SqlStorage` fills it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


def key_digest(key: str) -> str:
    """The primary key of a storage key: its SHA-256 in hex (keys have no length limit)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class BotStateItem(Base):
    """One stored item: `data` is the JSON text of the object without its e_tag.

    `etag` changes on every write; a write that names an older one is refused.
    """

    __tablename__ = "bot_state"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
