"""Inbound authentication and the tenant gate, offline against a local OpenID server."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from bot.teams.adapter import BotAuthConfig, LocalModeRequired, create_adapter
from tests.teams.conftest import (
    APP_ID,
    OTHER_TENANT,
    TENANT,
    Keys,
    OpenIdServer,
    RecordingBot,
    bearer,
    local_config,
    serve,
    sign,
    teams_activity,
)


async def test_valid_token_runs_the_bot(auth_adapter: Any, keys: Keys) -> None:
    bot = RecordingBot()
    async with serve(auth_adapter, bot) as client:
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
        )
        assert response.status == 201
    assert [kind for kind, _ in bot.turns] == ["message"]


def _bad_headers(keys: Keys) -> dict[str, dict[str, str]]:
    return {
        "bad signature": bearer(sign(keys.other)),
        "unknown kid": bearer(sign(keys.signing, kid="unknown-key")),
        "expired": bearer(sign(keys.signing, exp=1_600_000_000, nbf=1_599_990_000)),
        "garbage": bearer("garbage.not.a-jwt"),
        "not even dotted": bearer("garbage"),
        "missing header": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "wrong audience": bearer(sign(keys.signing, aud="another-bot")),
        "wrong issuer": bearer(sign(keys.signing, iss="https://evil.example.com")),
        "service url mismatch": bearer(sign(keys.signing, serviceurl="https://evil.example.com/")),
        "no kid": bearer(sign(keys.signing, kid="")),
    }


BAD = [
    "bad signature",
    "unknown kid",
    "expired",
    "garbage",
    "not even dotted",
    "missing header",
    "empty bearer",
    "basic scheme",
    "wrong audience",
    "wrong issuer",
    "service url mismatch",
    "no kid",
]


@pytest.mark.parametrize("case", BAD)
async def test_every_authentication_failure_is_401(
    auth_adapter: Any, keys: Keys, case: str
) -> None:
    bot = RecordingBot()
    async with serve(auth_adapter, bot) as client:
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=_bad_headers(keys)[case]
        )
        assert response.status == 401
        assert await response.json() == {"error": "unauthorized"}
    assert bot.turns == []


async def test_endorsement_for_another_channel_is_401(auth_adapter: Any, keys: Keys) -> None:
    # the local key is endorsed for "msteams" only
    bot = RecordingBot()
    async with serve(auth_adapter, bot) as client:
        response = await client.post(
            "/api/messages",
            json=teams_activity(channel_id="webchat"),
            headers=bearer(sign(keys.signing)),
        )
        assert response.status == 401
    assert bot.turns == []


@pytest.mark.parametrize("case", ["bad signature", "unknown kid", "expired", "garbage"])
async def test_stock_cloud_adapter_answers_forged_tokens_with_500(
    openid: OpenIdServer, keys: Keys, case: str
) -> None:
    """Why the adapter authenticates on its own: the stock adapter maps only
    PermissionError to 401 (cloud_adapter.py:114)."""

    class Settings:
        APP_ID = APP_ID
        APP_PASSWORD = "not-a-real-secret"
        APP_TYPE = "SingleTenant"
        APP_TENANTID = TENANT

    stock = CloudAdapter(ConfigurationBotFrameworkAuthentication(Settings()))
    async with serve(stock, RecordingBot()) as client:
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=_bad_headers(keys)[case]
        )
        assert response.status == 500


async def test_tenant_not_allowed_is_403_and_the_bot_never_runs(
    auth_adapter: Any, keys: Keys
) -> None:
    bot = RecordingBot()
    async with serve(auth_adapter, bot) as client:
        response = await client.post(
            "/api/messages",
            json=teams_activity(tenant=OTHER_TENANT),
            headers=bearer(sign(keys.signing)),
        )
        assert response.status == 403
        assert await response.json() == {"error": "tenant_not_allowed"}
        no_tenant = teams_activity()
        del no_tenant["channelData"]
        response = await client.post(
            "/api/messages", json=no_tenant, headers=bearer(sign(keys.signing))
        )
        assert response.status == 403
    assert bot.turns == []


async def test_unauthenticated_request_from_a_foreign_tenant_is_401_not_403(
    auth_adapter: Any,
) -> None:
    async with serve(auth_adapter, RecordingBot()) as client:
        response = await client.post("/api/messages", json=teams_activity(tenant=OTHER_TENANT))
        assert response.status == 401


async def test_no_tenant_gate_when_allowed_tenants_is_empty(
    openid: OpenIdServer, keys: Keys
) -> None:
    adapter = create_adapter(
        BotAuthConfig(app_id=APP_ID, app_password="not-a-real-secret", tenant_id=TENANT)
    )
    bot = RecordingBot()
    async with serve(adapter, bot) as client:
        response = await client.post(
            "/api/messages",
            json=teams_activity(tenant=OTHER_TENANT),
            headers=bearer(sign(keys.signing)),
        )
        assert response.status == 201
    assert len(bot.turns) == 1


def test_no_app_id_without_local_mode_refuses_to_start() -> None:
    with pytest.raises(LocalModeRequired):
        create_adapter(BotAuthConfig(app_id=None, app_password=None))
    with pytest.raises(LocalModeRequired):
        create_adapter(BotAuthConfig(app_id="", app_password="x", tenant_id=TENANT))


def test_single_tenant_needs_password_and_tenant() -> None:
    with pytest.raises(ValueError, match="SingleTenant"):
        create_adapter(BotAuthConfig(app_id=APP_ID, app_password="secret"))
    with pytest.raises(ValueError, match="SingleTenant"):
        create_adapter(BotAuthConfig(app_id=APP_ID, app_password=None, tenant_id=TENANT))


async def test_local_mode_works_without_a_header_and_warns_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.teams.adapter"):
        adapter = create_adapter(local_config())
    warnings = [r for r in caplog.records if "UNAUTHENTICATED" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING

    bot = RecordingBot()
    async with serve(adapter, bot) as client:
        response = await client.post("/api/messages", json=teams_activity())
        assert response.status == 201
    assert len(bot.turns) == 1


async def test_local_mode_still_applies_the_tenant_gate() -> None:
    adapter = create_adapter(local_config(allowed_tenants=frozenset({TENANT})))
    bot = RecordingBot()
    async with serve(adapter, bot) as client:
        response = await client.post("/api/messages", json=teams_activity(tenant=OTHER_TENANT))
        assert response.status == 403
    assert bot.turns == []


async def test_auth_failures_are_logged_without_activity_text(
    auth_adapter: Any, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.teams.conftest import SECRET_TEXT, USER_NAME

    with caplog.at_level(logging.DEBUG):
        async with serve(auth_adapter, RecordingBot()) as client:
            await client.post(
                "/api/messages", json=teams_activity(), headers=bearer(sign(keys.other))
            )
    assert "authentication failed (InvalidSignatureError)" in caplog.text
    assert SECRET_TEXT not in caplog.text
    assert USER_NAME not in caplog.text
