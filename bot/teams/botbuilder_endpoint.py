"""`TEAMS_SDK=botbuilder`: the `TeamsEndpoint` on botbuilder 4.17.1, from the adapter
(bot/teams/adapter.py), the handler (bot/teams/handler.py) and botbuilder's app
credentials for the outbound token (bot/teams/app_credentials.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics
from bot.teams.adapter import TeamsAdapter, create_adapter
from bot.teams.app_credentials import AppCredentialsTokenProvider
from bot.teams.connector import TokenProvider
from bot.teams.handler import FrakturkedjanBot
from bot.teams.registration import Registration

__all__ = ["BotbuilderEndpoint", "create_botbuilder_endpoint"]


class BotbuilderEndpoint:
    """`POST /api/messages` through `TeamsAdapter` and `FrakturkedjanBot`."""

    def __init__(
        self, registration: Registration, adapter: TeamsAdapter, bot: FrakturkedjanBot
    ) -> None:
        self._registration = registration
        self._adapter = adapter
        self._bot = bot
        self._tokens: TokenProvider | None = None
        if registration.app_id:
            self._tokens = AppCredentialsTokenProvider(
                app_id=registration.app_id,
                app_password=registration.app_password or "",
                tenant_id=registration.tenant_id,
            )

    async def process(self, request: web.Request) -> web.Response:
        return await self._adapter.process(request, self._bot)

    def token_provider(self) -> TokenProvider | None:
        return self._tokens

    async def prefetch(self) -> None:
        if self._registration.app_id:
            await self._adapter.prefetch_openid_metadata()

    async def close(self) -> None:
        await self._adapter.close()


def create_botbuilder_endpoint(
    registration: Registration,
    *,
    factory: async_sessionmaker[AsyncSession],
    on_change: Callable[[], None],
    clock: Callable[[], datetime],
    metrics: Metrics,
) -> BotbuilderEndpoint:
    """The botbuilder endpoint; raises as `create_adapter` does."""
    adapter = create_adapter(registration)
    bot = FrakturkedjanBot(factory, on_change=on_change, clock=clock, metrics=metrics)
    return BotbuilderEndpoint(registration, adapter, bot)
