"""The bot's outbound token on the Agents SDK: `MsalAuth.get_access_token` for the Bot
Connector, behind the SDK-free `CachingTokenProvider` of `bot.teams.connector`.

`MsalAuth._get_client()` builds msal's `ConfidentialClientApplication` on the calling
thread, and its constructor does a synchronous tenant discovery without a timeout; called
on the event loop (as the SDK does on every turn) a slow Entra ID stalls every request,
and a failed discovery is retried, and stalls again, on the next call. Here the whole
`get_access_token` runs in a worker thread (on a loop of its own), so msal never blocks
the application's loop, and the token is cached until shortly before it expires.
"""

from __future__ import annotations

import asyncio

from microsoft_agents.authentication.msal import MsalAuth

from bot.teams.agents.auth import BOT_CONNECTOR_RESOURCE, BOT_CONNECTOR_SCOPES
from bot.teams.connector import CachingTokenProvider

__all__ = ["MsalTokenProvider"]


class MsalTokenProvider(CachingTokenProvider):
    """The Bot Connector token of `auth` (the registration's `MsalAuth`), fetched in a
    thread, one fetch at a time, bounded by `timeout`, cached (`CachingTokenProvider`).
    Raises what msal raises (ValueError for refused credentials) or TimeoutError."""

    def __init__(
        self,
        auth: MsalAuth,
        *,
        refresh_margin: float = 300.0,
        fallback_lifetime: float = 600.0,
        timeout: float = 30.0,
    ) -> None:
        self._auth = auth
        super().__init__(
            self._fetch_in_thread,
            refresh_margin=refresh_margin,
            fallback_lifetime=fallback_lifetime,
            timeout=timeout,
        )

    async def _fetch_in_thread(self) -> str:
        return await asyncio.to_thread(self._fetch_blocking)

    def _fetch_blocking(self) -> str:
        token: str = asyncio.run(
            self._auth.get_access_token(BOT_CONNECTOR_RESOURCE, list(BOT_CONNECTOR_SCOPES))
        )
        return token
