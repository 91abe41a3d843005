"""The seam between the product and a Teams SDK: one `TeamsEndpoint` per runtime.

`TEAMS_SDK` chooses the runtime: `botbuilder` (botbuilder 4.17.1, the default) or
`agents` (the Microsoft 365 Agents SDK for Python 1.x). `create_endpoint` imports the
chosen runtime's module only, so the other SDK is never imported (on `agents`,
botbuilder need not even be installed). Nothing in this module imports an SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics
from bot.preflight import TEAMS_SDKS, PreflightError
from bot.teams.connector import TokenProvider
from bot.teams.inbound import traceback_without_messages
from bot.teams.registration import LocalModeRequired, Registration

__all__ = [
    "TEAMS_SDKS",
    "LocalModeRequired",
    "Registration",
    "TeamsEndpoint",
    "create_endpoint",
    "traceback_without_messages",
]

# what each runtime needs installed (`pip install 'frakturkedjan[EXTRA]'`)
_PACKAGES = {
    "botbuilder": ("botbuilder", "botframework", "msrest"),
    "agents": ("microsoft_agents",),
}


class TeamsEndpoint(Protocol):
    """`POST /api/messages` and the bot's outbound credentials, on one Teams SDK.

    Both runtimes answer alike: 201 for a processed activity, the invoke's status and
    JSON body for an invoke (a card click always gets an invoke answer, never a 500),
    400 for a body that is not an activity, 401 for any authentication failure, 403 for
    a tenant outside `allowed_tenants`, 413 for a body too large, 503 when the channel's
    signing keys cannot be fetched, 500 when the bot fails on a non-invoke activity.
    """

    async def process(self, request: web.Request) -> web.Response:
        """Authenticate, gate and run one Bot Framework activity."""
        ...

    def token_provider(self) -> TokenProvider | None:
        """The bot's outbound token for the Bot Connector (the outbox's
        `ConnectorClient`); None in local mode (no app id: sends carry no token)."""
        ...

    async def prefetch(self) -> None:
        """Fetch the channel's signing keys (and warm the outbound credentials) now,
        not on the first request's time. Failures are logged; requests try again."""
        ...

    async def close(self) -> None:
        """Release the endpoint's clients (call at application shutdown)."""
        ...


def create_endpoint(
    sdk: str,
    registration: Registration,
    *,
    factory: async_sessionmaker[AsyncSession],
    on_change: Callable[[], None],
    clock: Callable[[], datetime],
    metrics: Metrics,
) -> TeamsEndpoint:
    """The endpoint of runtime `sdk` (one of `TEAMS_SDKS`), importing only its SDK.

    Raises `PreflightError` for an unknown runtime or one whose packages are not
    installed, `LocalModeRequired` for no app id outside local mode, and `ValueError`
    for an incomplete registration.
    """
    if sdk not in TEAMS_SDKS:
        raise PreflightError(
            f"setting TEAMS_SDK: {sdk!r} is not a Teams runtime; set it to one of "
            f"{', '.join(TEAMS_SDKS)}"
        )
    create: Callable[..., TeamsEndpoint]
    try:
        if sdk == "agents":
            from bot.teams.agents.endpoint import create_agents_endpoint

            create = create_agents_endpoint
        else:
            from bot.teams.botbuilder_endpoint import create_botbuilder_endpoint

            create = create_botbuilder_endpoint
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in _PACKAGES[sdk]:
            raise
        raise PreflightError(
            f"setting TEAMS_SDK: {sdk} needs its SDK, which is not installed ({missing}); "
            f"install it with `pip install 'frakturkedjan[{sdk}]'`"
        ) from None
    return create(registration, factory=factory, on_change=on_change, clock=clock, metrics=metrics)
