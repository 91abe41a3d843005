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

BUSY_AT = 4
"""Requests in flight at which `serve` counts as busy answering (`InFlight`)."""
CALM_AT = 1
"""Requests in flight at or below which a busy `serve` is calm again."""


class InFlight:
    """The requests `serve` is answering now. Its `listeners` hear True when they reach
    `BUSY_AT` and False when they fall back to `CALM_AT`: while it is busy, the outbox
    worker, which shares the machine, gives way (`Pacer.give_way`), so that the people
    waiting for an answer get it first (issue 15: on two cores its sends and card draws
    made the slowest clicks slower)."""

    def __init__(self) -> None:
        self.count = 0
        self.busy = False
        self.listeners: list[Callable[[bool], None]] = []

    def enter(self) -> None:
        self.count += 1
        if not self.busy and self.count >= BUSY_AT:
            self._tell(True)

    def leave(self) -> None:
        self.count -= 1
        if self.busy and self.count <= CALM_AT:
            self._tell(False)

    def _tell(self, busy: bool) -> None:
        self.busy = busy
        for listener in self.listeners:
            listener(busy)


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    factory: async_sessionmaker[AsyncSession]
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = utcnow
    wakers: list[Callable[[], None]] = field(default_factory=list)
    in_flight: InFlight = field(default_factory=InFlight)

    def wake_outbox(self) -> None:
        for wake in self.wakers:
            wake()


STATE: web.AppKey[AppState] = web.AppKey("state", AppState)
