"""The Bot Framework OpenID metadata is fetched without blocking the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor, _OpenIdMetadata

from bot.teams.adapter import create_adapter
from tests.teams.conftest import (
    KID,
    Keys,
    OpenIdServer,
    RecordingBot,
    auth_config,
    bearer,
    serve,
    sign,
    teams_activity,
)

CONFIG_AND_KEYS = ["/.well-known/openid-configuration", "/keys"]


async def _max_loop_gap(until: asyncio.Future[Any]) -> float:
    """The longest time the event loop took to come back to a 10 ms sleeper."""
    gap = 0.0
    last = time.perf_counter()
    while not until.done():
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        gap = max(gap, now - last)
        last = now
    return gap


async def test_slow_metadata_server_does_not_stall_other_requests(
    openid: OpenIdServer, keys: Keys
) -> None:
    openid.delay = 0.6  # per request: configuration, then keys
    bot = RecordingBot()
    async with serve(create_adapter(auth_config()), bot) as client:
        token = bearer(sign(keys.signing))
        posts = asyncio.gather(
            *(client.post("/api/messages", json=teams_activity(), headers=token) for _ in range(3))
        )
        gap = asyncio.ensure_future(_max_loop_gap(posts))
        await asyncio.sleep(0.1)  # the fetch is under way

        started = time.perf_counter()
        health = await client.get("/health")
        health_time = time.perf_counter() - started
        assert health.status == 200
        assert not posts.done()  # still waiting for the metadata

        responses = await posts
        assert [r.status for r in responses] == [201, 201, 201]
        assert await gap < 0.25
    assert health_time < 0.25
    assert openid.hits == CONFIG_AND_KEYS  # one fetch shared by the three requests
    assert len(bot.turns) == 3


async def test_stock_metadata_refresh_blocks_the_event_loop(openid: OpenIdServer) -> None:
    """Why the SDK's metadata objects are replaced: `_OpenIdMetadata._refresh` calls
    `requests.get` in the event loop (jwt_token_extractor.py:141, :144)."""
    openid.delay = 0.4
    stock = _OpenIdMetadata(openid.url)
    fetch = asyncio.ensure_future(stock.get(KID))
    gap = await _max_loop_gap(fetch)
    assert (await fetch) is not None
    assert gap >= 0.7  # the loop stood still for both blocking requests


async def test_hanging_metadata_server_gives_503_within_the_timeout(
    openid: OpenIdServer, keys: Keys
) -> None:
    openid.delay = 3.0
    bot = RecordingBot()
    adapter = create_adapter(auth_config(), openid_metadata_timeout=0.3)
    async with serve(adapter, bot) as client:
        started = time.perf_counter()
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
        )
        assert time.perf_counter() - started < 1.5
        assert response.status == 503
        assert await response.json() == {"error": "auth_metadata_unavailable"}
        # within the pause after a failure: no new fetch, an immediate 503
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
        )
        assert response.status == 503
    assert openid.hits == ["/.well-known/openid-configuration"]
    assert bot.turns == []


async def test_metadata_server_error_gives_503(openid: OpenIdServer, keys: Keys) -> None:
    openid.fail = True
    async with serve(create_adapter(auth_config()), RecordingBot()) as client:
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
        )
        assert response.status == 503


async def test_prefetch_at_start_up(openid: OpenIdServer, keys: Keys) -> None:
    adapter = create_adapter(auth_config())
    await adapter.prefetch_openid_metadata()
    assert openid.hits == CONFIG_AND_KEYS
    async with serve(adapter, RecordingBot()) as client:
        response = await client.post(
            "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
        )
        assert response.status == 201
    await adapter.prefetch_openid_metadata()  # still fresh: nothing fetched
    assert openid.hits == CONFIG_AND_KEYS


async def test_prefetch_failure_is_logged_not_raised(
    openid: OpenIdServer, caplog: pytest.LogCaptureFixture
) -> None:
    openid.fail = True
    adapter = create_adapter(auth_config())
    with caplog.at_level(logging.WARNING, logger="bot.teams.adapter"):
        await adapter.prefetch_openid_metadata()
    assert "Could not prefetch" in caplog.text


async def test_rotated_key_is_fetched_after_an_hour(openid: OpenIdServer, keys: Keys) -> None:
    """The SDK's `_find` raises IndexError for an unknown kid (jwt_token_extractor.py:152)
    before `get` can refresh; with `_find` returning None, rotation works."""
    adapter = create_adapter(auth_config())
    new_token = bearer(sign(keys.other, kid="local-key-2"))
    async with serve(adapter, RecordingBot()) as client:
        old = await client.post(
            "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
        )
        assert old.status == 201
        openid.jwks = [keys.jwk(keys.signing, KID), keys.jwk(keys.other, "local-key-2")]

        # keys fetched less than an hour ago: the SDK does not refetch for an unknown kid
        assert (
            await client.post("/api/messages", json=teams_activity(), headers=new_token)
        ).status == 401
        assert openid.hits == CONFIG_AND_KEYS

        JwtTokenExtractor.metadataCache[openid.url].last_updated = datetime.now() - timedelta(
            hours=2
        )
        response = await client.post("/api/messages", json=teams_activity(), headers=new_token)
        assert response.status == 201
    assert openid.hits == CONFIG_AND_KEYS * 2


async def test_failed_refresh_keeps_the_known_keys(
    openid: OpenIdServer, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    token = bearer(sign(keys.signing))
    async with serve(create_adapter(auth_config()), RecordingBot()) as client:
        assert (
            await client.post("/api/messages", json=teams_activity(), headers=token)
        ).status == 201
        JwtTokenExtractor.metadataCache[openid.url].last_updated = datetime.now() - timedelta(
            days=2
        )
        openid.fail = True
        with caplog.at_level(logging.WARNING, logger="bot.teams.adapter"):
            response = await client.post("/api/messages", json=teams_activity(), headers=token)
        assert response.status == 201
    assert "keeping the known keys" in caplog.text
    assert openid.hits == [*CONFIG_AND_KEYS, "/.well-known/openid-configuration"]
