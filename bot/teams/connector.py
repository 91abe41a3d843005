"""A small async Bot Connector client for outbound sends (the outbox worker's path, and
on the `agents` runtime the replies of a turn too). Imports no Teams SDK.

botbuilder sends through msrest: blocking `requests` in a thread pool, a new
`ConnectorClient` (and TCP connection) per turn, and exceptions for every HTTP error.
This client uses one aiohttp session with keep-alive and returns every outcome as a
`SendResult`, so that the caller decides about retries (429/5xx with `Retry-After`)
and unusable references (403 `BotNotInConversationRoster`, `ConversationBlockedByUser`).

Proxies: the hosting network's `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` are honoured as
aiohttp's `trust_env` honours them, but looked up once per service URL host (aiohttp's own
`get_env_proxy_for_url`, in a thread, on the first send there) and then passed as
`proxy=` on a session without `trust_env`. With `trust_env` aiohttp read the environment
and `~/.netrc` in the thread pool on every request, about half of the client's CPU per
send (bench/README.md). The Bot Connector authenticates with the bearer token, so
`~/.netrc` credentials for the service host itself are not looked up (for a proxy, as
aiohttp does, they are).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import jwt
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from bot.core import jsonfast

__all__ = [
    "CachingTokenProvider",
    "ConnectorClient",
    "SendResult",
    "TokenProvider",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    """The outcome of one Bot Connector call. `status` 0 means no HTTP answer (network
    error, timeout, no token); `retry_after` is in seconds."""

    ok: bool
    status: int
    activity_id: str | None = None
    retry_after: float | None = None
    error_code: str | None = None
    message: str | None = None


class TokenProvider(Protocol):
    """Source of the bot's outbound bearer token; None sends no Authorization header."""

    async def token(self, service_url: str) -> str | None: ...


class CachingTokenProvider:
    """The bot's outbound token from `fetch`, cached until `refresh_margin` seconds
    before it expires (read from the token's `exp`; `fallback_lifetime` when the token
    is not a readable JWT). One fetch at a time, bounded by `timeout`.

    `fetch` must not block the event loop (the SDKs' credentials run msal in a thread:
    `bot.teams.app_credentials`, `bot.teams.agents.tokens`). `token` raises what `fetch`
    raises (e.g. PermissionError for wrong credentials) or TimeoutError; the
    `ConnectorClient` turns that into a `SendResult`.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[str]],
        *,
        refresh_margin: float = 300.0,
        fallback_lifetime: float = 600.0,
        timeout: float = 30.0,
    ) -> None:
        self._fetch = fetch
        self._refresh_margin = refresh_margin
        self._fallback_lifetime = fallback_lifetime
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock: asyncio.Lock | None = None

    async def token(self, service_url: str) -> str | None:
        if self._is_valid():
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._is_valid():
                token = await asyncio.wait_for(self._fetch(), self._timeout)
                self._token = token
                self._expires_at = self._expiry_of(token)
        return self._token

    def _is_valid(self) -> bool:
        return self._token is not None and time.time() < self._expires_at - self._refresh_margin

    def _expiry_of(self, token: str) -> float:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            return float(claims["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return time.time() + self._fallback_lifetime


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_of(body: bytes) -> tuple[str | None, str | None]:
    """(code, message) from a Bot Connector error body `{"error": {"code", "message"}}`."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def _id_of(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    activity_id = data.get("id") if isinstance(data, dict) else None
    return activity_id if isinstance(activity_id, str) else None


class ConnectorClient:
    """Bot Connector v3 activities API over one keep-alive aiohttp session.

    Never raises for HTTP or network errors (nor for a failing token provider): every
    outcome is a `SendResult`. A `session` passed in is used and left open by `close`.
    `trust_env` (default): send through the proxy the environment names for each service
    URL host (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, as aiohttp reads them), looked up
    once per host for the client's life.
    """

    def __init__(
        self,
        *,
        token_provider: TokenProvider | None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 15.0,
        trust_env: bool = True,
    ) -> None:
        self._token_provider = token_provider
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._trust_env = trust_env
        # (scheme, host) of a service URL -> its proxy and the proxy's credentials
        self._proxies: dict[tuple[str, str | None], _Proxy] = {}

    async def send_activity(
        self, service_url: str, conversation_id: str, activity: dict[str, Any]
    ) -> SendResult:
        """POST {service_url}/v3/conversations/{conversation_id}/activities."""
        return await self._request(
            "POST",
            service_url,
            f"/v3/conversations/{_segment(conversation_id)}/activities",
            activity,
        )

    async def reply_to_activity(
        self, service_url: str, conversation_id: str, reply_to_id: str, activity: dict[str, Any]
    ) -> SendResult:
        """POST {service_url}/v3/conversations/{conversation_id}/activities/{reply_to_id}."""
        path = f"/v3/conversations/{_segment(conversation_id)}/activities/{_segment(reply_to_id)}"
        return await self._request("POST", service_url, path, activity)

    async def update_activity(
        self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> SendResult:
        """PUT {service_url}/v3/conversations/{conversation_id}/activities/{activity_id}."""
        path = f"/v3/conversations/{_segment(conversation_id)}/activities/{_segment(activity_id)}"
        return await self._request("PUT", service_url, path, activity)

    async def close(self) -> None:
        """Close the session this client created."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # no trust_env: the proxy is looked up once per host (`_proxy_for`), not per request
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def _proxy_for(self, url: URL) -> _Proxy:
        """The proxy the environment names for `url`'s host (none when `NO_PROXY` covers
        it), looked up once per scheme and host, as aiohttp's `trust_env` does."""
        if not self._trust_env:
            return _NO_PROXY
        key = (url.scheme, url.host)
        proxy = self._proxies.get(key)
        if proxy is None:
            try:
                # reads the environment and ~/.netrc (a file): in a thread, as aiohttp does
                proxy_url, auth = await asyncio.to_thread(get_env_proxy_for_url, url)
                proxy = _Proxy(proxy_url, auth.encode() if auth is not None else None)
            except LookupError:  # no proxy for this scheme, or NO_PROXY covers the host
                proxy = _NO_PROXY
            self._proxies[key] = proxy
        return proxy

    async def _request(
        self, method: str, service_url: str, path: str, activity: dict[str, Any]
    ) -> SendResult:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self._token_provider is not None:
            try:
                token = await self._token_provider.token(service_url)
            except Exception as exc:  # msal, network, timeout: the caller retries later
                logger.warning("No outbound token for the Bot Connector: %s", type(exc).__name__)
                return SendResult(ok=False, status=0, message=f"token: {type(exc).__name__}")
            if token:
                headers["Authorization"] = f"Bearer {token}"

        # Path segments are quoted like msrest does (':', '@', ';' in Teams ids), and
        # `encoded=True` keeps yarl from re-quoting them.
        url = URL(service_url.rstrip("/") + path, encoded=True)
        data = jsonfast.dumps_bytes(activity)
        try:
            proxy = await self._proxy_for(url)
            proxy_headers = None
            if proxy.authorization is not None:
                # as aiohttp sends `proxy_auth` (deprecated): on the CONNECT of a tunnel to
                # an https URL, else on the request itself, which goes to the proxy
                if url.scheme == "https":
                    proxy_headers = {"Proxy-Authorization": proxy.authorization}
                else:
                    headers["Proxy-Authorization"] = proxy.authorization
            async with self._get_session().request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout,
                proxy=proxy.url,
                proxy_headers=proxy_headers,
            ) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                try:
                    body = await response.read()
                except (aiohttp.ClientError, TimeoutError):
                    body = b""
        except TimeoutError:
            return SendResult(ok=False, status=0, message="timeout")
        except aiohttp.ClientError as exc:
            return SendResult(ok=False, status=0, message=f"network: {type(exc).__name__}")

        if 200 <= status < 300:
            return SendResult(ok=True, status=status, activity_id=_id_of(body))
        code, message = _error_of(body)
        return SendResult(
            ok=False, status=status, retry_after=retry_after, error_code=code, message=message
        )


@dataclass(frozen=True)
class _Proxy:
    url: URL | None
    authorization: str | None  # Proxy-Authorization: the credentials in its URL or ~/.netrc


_NO_PROXY = _Proxy(None, None)


def _segment(value: str) -> str:
    return quote(value, safe="")
