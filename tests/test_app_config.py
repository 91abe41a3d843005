"""Start-up refusals: no unauthenticated and no tenant-less service outside local mode."""

from __future__ import annotations

import pytest

from bot.app import create_app
from bot.teams.adapter import LocalModeRequired
from tests.harness import settings_for


def test_no_app_id_needs_local_mode(tmp_path: object) -> None:
    with pytest.raises(LocalModeRequired, match="MicrosoftAppId"):
        create_app(settings_for("sqlite+aiosqlite:///:memory:", allowed_tenants_raw="t1"))


def test_allowed_tenants_required_outside_local_mode() -> None:
    settings = settings_for(
        "sqlite+aiosqlite:///:memory:",
        app_id="11111111-0000-0000-0000-000000000001",
        app_password="secret",
        app_tenant_id="t1",
    )
    with pytest.raises(LocalModeRequired, match="ALLOWED_TENANTS"):
        create_app(settings)
    create_app(settings.model_copy(update={"allowed_tenants_raw": "t1"}))
    create_app(settings, local=True)
