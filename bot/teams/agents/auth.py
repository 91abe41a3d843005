"""Inbound authentication on the Microsoft 365 Agents SDK 1.9, and the bot's connection
settings in the SDK's terms.

The SDK's `CloudAdapter.process` does not authenticate at all (its aiohttp middleware
does), so the endpoint authenticates here, with the SDK's `JwtTokenValidator`, and
handles what the validator leaves open (SPEC section 4, README "Teams SDK traps"):

- a token without `kid` raises KeyError (jwt_token_validator.py, `header["kid"]`):
  every failure of the validator is a refusal here (`Unauthorized`, 401);
- a JWKS outage raises PyJWKClientConnectionError, a PyJWTError, which the SDK's
  middleware answers with 401, and once the key set's 5-minute cache has expired it
  refuses every request: here the key set fetched last stays in use through an outage
  (`KnownKeysJWKClient`, as on botbuilder), and with no key set yet the outage is
  `KeysUnavailable` (503), and so is a key fetch slower than `timeout`;
- the `serviceurl` claim is only compared by host and only logged on mismatch
  (_http_adapter_base.py `_validate_service_url`): here a channel token must carry it
  and it must equal the activity's `serviceUrl`, as botbuilder required;
- issuers are not checked unless `VALIDATE_ISSUER` is set: it is set here, and the
  unverified issuer must be one of the connection's `ISSUERS` (the Bot Framework's and
  the registration tenant's) before any key is fetched, so a token from elsewhere is
  401 without a request to Entra ID;
- an agent-to-agent (skill) token is accepted (the SDK sets `caller_id`); botbuilder
  refused skill calls without a claims validator, and so does this.

The tenant of the activity (`ALLOWED_TENANTS`) is the endpoint's gate, as on botbuilder.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import jwt
from jwt import PyJWKClient, PyJWKClientConnectionError, PyJWKSet
from microsoft_agents.hosting.core import (
    AgentAuthConfiguration,
    AuthenticationConstants,
    ClaimsIdentity,
    JwtTokenValidator,
)
from microsoft_agents.hosting.core.authorization._entra_issuers import BOTFRAMEWORK_JWKS_URIS
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientCacheEntry,
)

from bot.teams.registration import Registration

__all__ = [
    "BOT_CONNECTOR_RESOURCE",
    "BOT_CONNECTOR_SCOPES",
    "ChannelAuthentication",
    "KeysUnavailable",
    "KnownKeysJWKClient",
    "Unauthorized",
    "auth_configuration",
    "connection_settings",
]

# the inbound authentication's logger, the same name as on botbuilder
log = logging.getLogger("bot.teams.adapter")

BOT_CONNECTOR_RESOURCE = AuthenticationConstants.AGENTS_SDK_SCOPE  # https://api.botframework.com
BOT_CONNECTOR_SCOPES = [f"{BOT_CONNECTOR_RESOURCE}/.default"]
# the tenant msal takes for a MultiTenant registration without MicrosoftAppTenantId
MULTI_TENANT_AUTHORITY_TENANT = "botframework.com"


class Unauthorized(Exception):
    """The request's token is missing or not acceptable (401). The message names the
    check that failed, never a claim value."""


class KeysUnavailable(Exception):
    """The channel's signing keys could not be fetched in time (503)."""


def connection_settings(registration: Registration) -> dict[str, str]:
    """The SDK's `CONNECTIONS__SERVICE_CONNECTION__SETTINGS__*` keys for `registration`
    (`CLIENTID`, `CLIENTSECRET`, `TENANTID`, `AUTHTYPE`); empty without an app id.

    MicrosoftAppType SingleTenant and MultiTenant are `AUTHTYPE=ClientSecret` (msal needs
    a tenant: MultiTenant without one takes `botframework.com`), UserAssignedMSI is
    `AUTHTYPE=UserManagedIdentity`. The SDK's own variables reach `Registration` through
    `Settings` (bot/config.py), so both spellings end here.
    """
    if not registration.app_id:
        return {}
    app_type = registration.app_type.lower()
    if app_type == "userassignedmsi":
        settings = {"AUTHTYPE": "UserManagedIdentity"}
    else:
        settings = {"AUTHTYPE": "ClientSecret", "CLIENTSECRET": registration.app_password or ""}
    settings["CLIENTID"] = registration.app_id
    settings["TENANTID"] = registration.tenant_id or MULTI_TENANT_AUTHORITY_TENANT
    return settings


def auth_configuration(registration: Registration) -> AgentAuthConfiguration:
    """The SDK's configuration of the registration's connection, issuer check on."""
    settings: dict[str, Any] = {"VALIDATE_ISSUER": True, **connection_settings(registration)}
    return AgentAuthConfiguration(**settings)


class KnownKeysJWKClient(PyJWKClient):
    """The channel's key set, fetched with a timeout; when a refresh fails, the key set
    fetched last stays in use until the next attempt, one `lifespan` later (PyJWKClient
    alone has no key set once its cache expired, so an outage of the key endpoint would
    refuse every request after 5 minutes). Refreshing for an unknown key id works as in
    PyJWKClient (once per `cooldown_duration`)."""

    def __init__(self, uri: str, *, timeout: float, lifespan: float = 300.0) -> None:
        super().__init__(uri, timeout=timeout, lifespan=lifespan)
        self._known: PyJWKSet | None = None

    def get_jwk_set(self, refresh: bool = False) -> PyJWKSet:
        try:
            jwk_set = super().get_jwk_set(refresh)
        except PyJWKClientConnectionError:
            if self._known is None:
                raise
            log.warning("Bot Framework signing keys not refreshed; the known keys stay in use")
            if self.jwk_set_cache is not None:
                self.jwk_set_cache.put(self._known)  # the next attempt one lifespan later
            return self._known
        self._known = jwk_set
        return jwk_set


class ChannelAuthentication:
    """Validates the `Authorization` header of an activity sent by the Bot Connector."""

    def __init__(self, configuration: AgentAuthConfiguration, *, timeout: float = 10.0) -> None:
        self._validator = JwtTokenValidator(configuration)
        self._issuers = frozenset(issuer.lower() for issuer in configuration.ISSUERS)
        self._timeout = timeout
        self._install_key_client()

    def _install_key_client(self) -> None:
        """Put a `KnownKeysJWKClient` behind the validator for the Bot Framework issuer.

        Reaches into the validator's process-wide client cache (`_jwk_client_manager`, keyed
        by `_entra_issuers.BOTFRAMEWORK_JWKS_URIS`): the SDK has no setting for the key
        client. Once per process (and key set URI).
        """
        uri = BOTFRAMEWORK_JWKS_URIS[AuthenticationConstants.AGENTS_SDK_TOKEN_ISSUER]
        cache = JwtTokenValidator._jwk_client_manager._cache
        entry = cache.get(uri)
        if entry is None or not isinstance(entry.jwk_client, KnownKeysJWKClient):
            client = KnownKeysJWKClient(uri, timeout=self._timeout)
            cache[uri] = _JwkClientCacheEntry(client, threading.Lock())

    async def prefetch(self) -> None:
        """Fetch the Bot Framework channel's key set now (e.g. at start-up) instead of on
        the first request; failures are logged, requests try again.

        The SDK has no public way to warm its key client (see `_install_key_client`).
        """
        uri = BOTFRAMEWORK_JWKS_URIS[AuthenticationConstants.AGENTS_SDK_TOKEN_ISSUER]
        entry = JwtTokenValidator._jwk_client_manager._get_jwk_client(uri)

        def fetch() -> None:
            with entry.lock:
                entry.jwk_client.get_jwk_set()

        try:
            await asyncio.wait_for(asyncio.to_thread(fetch), timeout=self._timeout)
        except Exception as exc:
            log.warning("Bot Framework signing keys not prefetched (%s)", type(exc).__name__)

    async def authenticate(self, authorization: str, service_url: Any) -> ClaimsIdentity:
        """The token's identity; raises `Unauthorized` or `KeysUnavailable`.

        `service_url` is the activity's raw `serviceUrl`, which a channel token's
        `serviceurl` claim must equal.
        """
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("no bearer token")
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except (jwt.PyJWTError, AttributeError) as exc:
            raise Unauthorized(f"not a JWT ({type(exc).__name__})") from None
        if not isinstance(issuer, str) or issuer.lower() not in self._issuers:
            raise Unauthorized("issuer not accepted")
        try:
            identity = await asyncio.wait_for(
                self._validator.validate_token(token), timeout=self._timeout
            )
        except (TimeoutError, jwt.PyJWKClientConnectionError) as exc:
            raise KeysUnavailable(type(exc).__name__) from None
        except Exception as exc:  # PyJWTError, ValueError, KeyError for no kid, ...
            raise Unauthorized(f"token not valid ({type(exc).__name__})") from None
        if identity.is_agent_claim():
            raise Unauthorized("agent-to-agent token")
        claim = identity.get_claim_value(AuthenticationConstants.SERVICE_URL_CLAIM)
        if claim is not None or issuer == AuthenticationConstants.AGENTS_SDK_TOKEN_ISSUER:
            if not _same_url(claim, service_url):
                raise Unauthorized("serviceurl claim does not match the activity")
        return identity


def _same_url(claim: Any, service_url: Any) -> bool:
    if not isinstance(claim, str) or not isinstance(service_url, str):
        return False
    return claim.rstrip("/").lower() == service_url.rstrip("/").lower()
