"""The bot's outbound token on botbuilder: `MicrosoftAppCredentials` (botframework) behind
the SDK-free `CachingTokenProvider` of `bot.teams.connector`."""

from __future__ import annotations

import asyncio
from typing import Protocol

from botframework.connector.auth import MicrosoftAppCredentials

from bot.teams.connector import CachingTokenProvider

__all__ = ["AccessTokenSource", "AppCredentialsTokenProvider"]


class AccessTokenSource(Protocol):
    """What `AppCredentialsTokenProvider` needs from botbuilder's app credentials."""

    def get_access_token(self, force_refresh: bool = False) -> str: ...


class AppCredentialsTokenProvider(CachingTokenProvider):
    """The bot's outbound token from botbuilder's `MicrosoftAppCredentials`.

    msal is blocking, so the token is fetched in a thread (bounded by `timeout`) and
    cached until `refresh_margin` seconds before it expires (see `CachingTokenProvider`).
    Raises what msal raises (e.g. PermissionError for wrong credentials) or TimeoutError.
    """

    def __init__(
        self,
        *,
        app_id: str,
        app_password: str,
        tenant_id: str | None,
        oauth_scope: str | None = None,
        credentials: AccessTokenSource | None = None,
        refresh_margin: float = 300.0,
        fallback_lifetime: float = 600.0,
        timeout: float = 30.0,
    ) -> None:
        self._credentials: AccessTokenSource = credentials or MicrosoftAppCredentials(
            app_id, app_password, channel_auth_tenant=tenant_id, oauth_scope=oauth_scope
        )
        super().__init__(
            self._fetch_in_thread,
            refresh_margin=refresh_margin,
            fallback_lifetime=fallback_lifetime,
            timeout=timeout,
        )

    async def _fetch_in_thread(self) -> str:
        return await asyncio.to_thread(self._credentials.get_access_token)
