"""ConnectorClient behind the hosting network's proxy: HTTP(S)_PROXY and NO_PROXY from the
environment, as aiohttp's `trust_env` reads them, looked up once per service URL host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.helpers import get_env_proxy_for_url
from aiohttp.test_utils import RawTestServer
from yarl import URL

from bot.teams.connector import ConnectorClient, SendResult
from tests.teams.conftest import FakeConnector

CONVERSATION = "19:abcdef@thread.tacv2;messageid=1700000000001"
MESSAGE = {"type": "message", "text": "Ny uppgift: skicka kallelse (åäö)"}
SERVICE_URL = "http://smba.example.test/emea/"  # not resolvable: reachable only by the proxy
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")


@dataclass
class FakeProxy:
    """A forward proxy on 127.0.0.1 that answers every request itself, recording the
    absolute URL asked for and the headers."""

    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    raw_paths: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        await request.read()
        self.requests.append((request.method, str(request.url), dict(request.headers)))
        self.raw_paths.append(request.raw_path)
        return web.json_response({"id": "via-proxy"}, status=201)


@pytest.fixture
async def fake_proxy() -> AsyncIterator[FakeProxy]:
    proxy = FakeProxy()
    server = RawTestServer(proxy.handle, host="127.0.0.1")
    await server.start_server()
    proxy.url = f"http://127.0.0.1:{server.port}"
    try:
        yield proxy
    finally:
        await server.close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy variables but the test's own, and no ~/.netrc of the machine."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))


async def test_the_proxy_in_the_environment_carries_the_send(
    fake_proxy: FakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", fake_proxy.url)
    client = ConnectorClient(token_provider=None)
    try:
        result = await client.send_activity(SERVICE_URL, CONVERSATION, MESSAGE)
        update = await client.update_activity(SERVICE_URL, CONVERSATION, "activity-1", MESSAGE)
    finally:
        await client.close()
    assert result == SendResult(ok=True, status=201, activity_id="via-proxy")
    assert update.ok
    assert [(method, URL(url).host) for method, url, _ in fake_proxy.requests] == [
        ("POST", "smba.example.test"),
        ("PUT", "smba.example.test"),
    ]
    # the absolute URL in the request line: asked of a proxy, the ids quoted as sent directly
    assert fake_proxy.raw_paths[0] == (
        "http://smba.example.test/emea/v3/conversations/19%3Aabcdef%40thread.tacv2%3Bmessageid%3D1700000000001/activities"
    )


async def test_proxy_credentials_in_its_url_are_sent_to_the_proxy(
    fake_proxy: FakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", fake_proxy.url.replace("http://", "http://bot:s3cret@"))
    client = ConnectorClient(token_provider=None)
    try:
        assert (await client.send_activity(SERVICE_URL, CONVERSATION, MESSAGE)).ok
    finally:
        await client.close()
    [(_, _, headers)] = fake_proxy.requests
    assert headers["Proxy-Authorization"] == "Basic Ym90OnMzY3JldA=="  # bot:s3cret


async def test_an_https_service_url_is_tunnelled_with_the_proxy_credentials(
    fake_proxy: FakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", fake_proxy.url.replace("http://", "http://bot:s3cret@"))
    client = ConnectorClient(token_provider=None)
    try:
        result = await client.send_activity(
            "https://smba.example.test/emea/", CONVERSATION, MESSAGE
        )
    finally:
        await client.close()
    # the fake proxy refuses the tunnel (it answers 201, not 200): no answer from Teams
    assert (result.ok, result.status) == (False, 0)
    [(method, _, headers)] = fake_proxy.requests
    assert (method, fake_proxy.raw_paths[0]) == ("CONNECT", "smba.example.test:443")
    assert headers["Proxy-Authorization"] == "Basic Ym90OnMzY3JldA=="


async def test_no_proxy_sends_directly(
    fake_proxy: FakeProxy, fake_connector: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", fake_proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = ConnectorClient(token_provider=None)
    try:
        assert (await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
        via_proxy = await client.send_activity(SERVICE_URL, CONVERSATION, MESSAGE)
    finally:
        await client.close()
    assert len(fake_connector.received) == 1  # 127.0.0.1: directly
    assert via_proxy.activity_id == "via-proxy"  # another host: through the proxy
    assert [URL(url).host for _, url, _ in fake_proxy.requests] == ["smba.example.test"]


async def test_a_proxy_for_https_only_leaves_http_direct(
    fake_proxy: FakeProxy, fake_connector: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", fake_proxy.url)
    client = ConnectorClient(token_provider=None)
    try:
        assert (await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
    finally:
        await client.close()
    assert len(fake_connector.received) == 1
    assert fake_proxy.requests == []


async def test_without_trust_env_the_environment_is_ignored(
    fake_proxy: FakeProxy, fake_connector: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", fake_proxy.url)
    client = ConnectorClient(token_provider=None, trust_env=False)
    try:
        assert (await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
    finally:
        await client.close()
    assert len(fake_connector.received) == 1
    assert fake_proxy.requests == []


async def test_the_environment_is_read_once_per_host(
    fake_proxy: FakeProxy, fake_connector: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", fake_proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    looked_up: list[str | None] = []

    def counting(url: URL) -> Any:
        looked_up.append(url.host)
        return get_env_proxy_for_url(url)

    monkeypatch.setattr("bot.teams.connector.get_env_proxy_for_url", counting)
    client = ConnectorClient(token_provider=None)
    try:
        for _ in range(3):
            assert (await client.send_activity(fake_connector.url, CONVERSATION, MESSAGE)).ok
            assert (await client.send_activity(SERVICE_URL, CONVERSATION, MESSAGE)).ok
    finally:
        await client.close()
    assert sorted(looked_up, key=str) == ["127.0.0.1", "smba.example.test"]
    assert len(fake_connector.received) == 3
    assert len(fake_proxy.requests) == 3
