"""The bot's Azure registration as both Teams runtimes take it. Imports no Teams SDK."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LocalModeRequired", "Registration"]


@dataclass(frozen=True)
class Registration:
    """The bot's Azure registration (MicrosoftAppId, MicrosoftAppPassword,
    MicrosoftAppType, MicrosoftAppTenantId) and the transport policy.

    With no `app_id` an endpoint runs unauthenticated, which both runtimes allow only
    with `local=True` (`LocalModeRequired`). A non-empty `allowed_tenants` refuses
    activities from other tenants (`channelData.tenant.id`) with 403.
    """

    app_id: str | None
    app_password: str | None
    app_type: str = "SingleTenant"
    tenant_id: str | None = None
    local: bool = False
    allowed_tenants: frozenset[str] = frozenset()


class LocalModeRequired(RuntimeError):
    """No app id is configured and local (unauthenticated) mode was not asked for."""
