"""The Bot Framework OpenID metadata (channel signing keys), fetched without blocking.

Works around botframework/connector/auth/jwt_token_extractor.py (4.17.1):
`_OpenIdMetadata._refresh` calls `requests.get` without a timeout inside the event loop
(:140-147), on the first request and every 24 hours, so a slow metadata server stalls
every request; and `_OpenIdMetadata._find` (:152) raises `IndexError` for an unknown key
id. `install_nonblocking_openid_metadata` replaces the SDK's metadata objects, once per
process, with ones that fetch with aiohttp, a timeout and one fetch at a time, and raise
`OpenIdMetadataUnavailable` when no keys can be had (the adapter answers 503).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from botframework.connector.auth import AuthenticationConstants, ChannelValidation
from botframework.connector.auth.jwt_token_extractor import (
    JwtTokenExtractor,
    _OpenIdConfig,
    _OpenIdMetadata,
)
from jwt.algorithms import RSAAlgorithm

__all__ = [
    "OpenIdMetadataUnavailable",
    "install_nonblocking_openid_metadata",
    "prefetch_channel_metadata",
]

# the inbound authentication's logger, named as before this module was split out of the
# adapter (log filters and tests select it by name)
logger = logging.getLogger("bot.teams.adapter")

_METADATA_FAILURE_BACKOFF = 30.0  # seconds between metadata attempts after a failure


class OpenIdMetadataUnavailable(RuntimeError):
    """The Bot Framework OpenID configuration or key set could not be fetched."""


class _NonBlockingOpenIdMetadata(_OpenIdMetadata):  # type: ignore[misc]
    """The SDK's per-URL OpenID metadata cache entry, fetched without blocking.

    Works around botframework/connector/auth/jwt_token_extractor.py (4.17.1):
    - `_OpenIdMetadata._refresh` (:140-147) calls `requests.get` twice, without a
      timeout, inside the event loop; a slow metadata server stalls every request.
      Here: aiohttp with a total timeout, one fetch at a time (concurrent requests
      wait for the same fetch), and after a failure a pause before the next attempt.
      When a refresh fails but keys are known, the known keys stay in use.
    - `_OpenIdMetadata._find` (:152) indexes `[0]` into the matching keys, so an unknown
      key id raises `IndexError` before `get` (:134) can refresh for a rotated key.
      Here `_find` returns None, which lets key rotation work and makes the SDK fail
      the token (our adapter answers 401).
    The SDK's `get` (when to refresh: after 24 h, or for an unknown key id after 1 h)
    is kept as it is.
    """

    keys: list[Any]
    last_updated: datetime

    def __init__(self, url: str, cache: _NonBlockingMetadataCache) -> None:
        super().__init__(url)
        self._cache = cache
        self._fetch_task: asyncio.Task[None] | None = None
        self._retry_not_before = 0.0
        self._parsed: dict[str, Any] = {}

    async def _refresh(self) -> None:
        task = self._fetch_task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            if time.monotonic() < self._retry_not_before:
                if self.keys:
                    return  # keep the last good keys until the pause is over
                raise OpenIdMetadataUnavailable(f"OpenID metadata unavailable: {self.url}")
            task = asyncio.get_running_loop().create_task(self._fetch())
            # retrieve the outcome even when every waiting request was cancelled
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._fetch_task = task
        # shield: a cancelled request must not cancel the fetch other requests wait for
        await asyncio.shield(task)

    async def _fetch(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._cache.timeout)
        try:
            # trust_env: honour HTTPS_PROXY / NO_PROXY like `requests` in the SDK does
            async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
                async with session.get(self.url) as response:
                    response.raise_for_status()
                    configuration = await response.json(content_type=None)
                async with session.get(configuration["jwks_uri"]) as response:
                    response.raise_for_status()
                    keys = (await response.json(content_type=None))["keys"]
            if not isinstance(keys, list):
                raise TypeError("keys is not a list")
        except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError) as exc:
            self._retry_not_before = time.monotonic() + _METADATA_FAILURE_BACKOFF
            if self.keys:
                logger.warning(
                    "OpenID metadata refresh failed (%s: %s); keeping the known keys",
                    type(exc).__name__,
                    self.url,
                )
                return
            raise OpenIdMetadataUnavailable(f"OpenID metadata unavailable: {self.url}") from exc
        self.keys = keys
        self._parsed = {}
        self.last_updated = datetime.now()  # naive local time, as the SDK's `get` compares

    def _find(self, key_id: str) -> Any:
        if key_id in self._parsed:
            return self._parsed[key_id]
        for key in self.keys:
            if isinstance(key, dict) and key.get("kid") == key_id:
                config = _OpenIdConfig(
                    RSAAlgorithm.from_jwk(json.dumps(key)), key.get("endorsements", [])
                )
                self._parsed[key_id] = config
                return config
        return None

    def is_fresh(self) -> bool:
        """Whether the SDK's `get` would use the keys without refreshing."""
        return bool(self.keys) and self.last_updated >= datetime.now() - timedelta(days=1)


class _NonBlockingMetadataCache(dict[str, _OpenIdMetadata]):
    """Replacement for `JwtTokenExtractor.metadataCache` that hands out
    `_NonBlockingOpenIdMetadata` for every metadata URL.

    `JwtTokenExtractor.get_open_id_metadata` (jwt_token_extractor.py:29-34) looks up
    `metadataCache.get(url)` and builds a plain `_OpenIdMetadata` on a miss; the
    extractor itself is built inside static validation methods (channel, emulator, skill,
    government, enterprise), so this class-level cache is the only place where the
    metadata object can be chosen. Overriding `get` covers every URL, including ones set
    later (`ChannelValidation.open_id_metadata_endpoint`).
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def get(self, url: str, default: Any = None) -> _OpenIdMetadata:
        metadata = super().get(url)
        if not isinstance(metadata, _NonBlockingOpenIdMetadata):
            metadata = _NonBlockingOpenIdMetadata(url, self)
            self[url] = metadata
        return metadata


def install_nonblocking_openid_metadata(timeout: float) -> None:
    """Make every OpenID metadata fetch of the SDK non-blocking, bounded by `timeout`
    seconds. Installs once per process; a later call only sets the timeout."""
    cache = JwtTokenExtractor.metadataCache
    if not isinstance(cache, _NonBlockingMetadataCache):
        cache = _NonBlockingMetadataCache(timeout)
        JwtTokenExtractor.metadataCache = cache
    cache.timeout = timeout


async def prefetch_channel_metadata() -> None:
    """Fetch the channel's signing keys now unless fresh ones are known. Never raises for
    an unreachable metadata server: the failure is logged and requests try again."""
    url = ChannelValidation.open_id_metadata_endpoint
    metadata = JwtTokenExtractor.get_open_id_metadata(
        str(url or AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL)
    )
    if isinstance(metadata, _NonBlockingOpenIdMetadata) and metadata.is_fresh():
        return
    try:
        await metadata._refresh()
    except OpenIdMetadataUnavailable:
        logger.warning("Could not prefetch the Bot Framework OpenID metadata")
