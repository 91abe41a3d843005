"""The seam between the product and the Teams SDKs (`bot.teams.runtime`): the endpoint of
each runtime, and the SDK-free card answers both write."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.db import utcnow
from bot.metrics import Metrics
from bot.preflight import PreflightError
from bot.teams import card_actions
from bot.teams.agents.tokens import MsalTokenProvider
from bot.teams.app_credentials import AppCredentialsTokenProvider
from bot.teams.invoke import adaptive_card_error_response, adaptive_card_invoke_response
from bot.teams.registration import LocalModeRequired, Registration
from bot.teams.runtime import TEAMS_SDKS, TeamsEndpoint, create_endpoint
from tests.teams.conftest import APP_ID, CARD, TENANT


def endpoint(sdk: str, registration: Registration) -> TeamsEndpoint:
    return create_endpoint(
        sdk,
        registration,
        factory=async_sessionmaker(),
        on_change=lambda: None,
        clock=utcnow,
        metrics=Metrics(),
    )


REGISTERED = Registration(
    app_id=APP_ID, app_password="not-a-real-secret", tenant_id=TENANT,
    allowed_tenants=frozenset({TENANT}),
)  # fmt: skip
LOCAL = Registration(app_id=None, app_password=None, local=True)
TOKENS: dict[str, type[Any]] = {
    "botbuilder": AppCredentialsTokenProvider,
    "agents": MsalTokenProvider,
}


def test_the_runtimes_are_botbuilder_first() -> None:
    assert TEAMS_SDKS == ("botbuilder", "agents")


@pytest.mark.parametrize("sdk", TEAMS_SDKS)
async def test_each_runtime_has_an_endpoint_with_its_outbound_token(sdk: str) -> None:
    registered = endpoint(sdk, REGISTERED)
    assert isinstance(registered.token_provider(), TOKENS[sdk])
    await registered.close()
    local = endpoint(sdk, LOCAL)
    assert local.token_provider() is None
    await local.prefetch()  # nothing to fetch without an app id
    await local.close()


@pytest.mark.parametrize("sdk", TEAMS_SDKS)
def test_each_runtime_refuses_to_start_unauthenticated_outside_local_mode(sdk: str) -> None:
    with pytest.raises(LocalModeRequired):
        endpoint(sdk, Registration(app_id=None, app_password=None))


def test_an_unknown_runtime_is_a_preflight_error() -> None:
    with pytest.raises(PreflightError, match="TEAMS_SDK: 'agent' is not a Teams runtime"):
        endpoint("agent", LOCAL)


def test_both_runtimes_write_the_same_card_answers() -> None:
    card = card_actions.card_answer(CARD)
    wrapped = adaptive_card_invoke_response(CARD)
    assert (wrapped.status, wrapped.body) == (card.status, card.body) == (200, {
        "statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": CARD,
    })  # fmt: skip
    error = card_actions.error_answer("Redan beslutat", code="Conflict")
    wrapped = adaptive_card_error_response("Redan beslutat", code="Conflict")
    assert (wrapped.status, wrapped.body) == (error.status, error.body) == (200, {
        "statusCode": 400, "type": "application/vnd.microsoft.error",
        "value": {"code": "Conflict", "message": "Redan beslutat"},
    })  # fmt: skip


async def test_the_http_answer_is_utf8_json() -> None:
    response = card_actions.http_response(card_actions.card_answer(CARD))
    assert response.status == 200
    assert response.content_type == "application/json"
    assert "åäö".encode() in response.body  # type: ignore[operator]
