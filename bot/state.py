"""What the HTTP handlers share: settings, the session factory, the clock, the outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import utcnow
from bot.metrics import Metrics


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    factory: async_sessionmaker[AsyncSession]
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = utcnow
    wakers: list[Callable[[], None]] = field(default_factory=list)

    def wake_outbox(self) -> None:
        for wake in self.wakers:
            wake()


STATE: web.AppKey[AppState] = web.AppKey("state", AppState)
