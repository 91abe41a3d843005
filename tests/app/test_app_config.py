"""Start-up refusals: no unauthenticated and no tenant-less service outside local mode,
and no registration the SDK would take in a way the operator did not mean."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import create_app
from bot.preflight import PreflightError
from tests.harness import settings_for

APP = {
    "app_id": "11111111-0000-0000-0000-000000000001",
    "app_password": "secret",
    "app_tenant_id": "t1",
    "allowed_tenants_raw": "t1",
}


def test_no_app_id_needs_local_mode(tmp_path: object) -> None:
    with pytest.raises(PreflightError, match=r"^setting MicrosoftAppId: missing"):
        create_app(settings_for("sqlite+aiosqlite:///:memory:", allowed_tenants_raw="t1"))


def test_allowed_tenants_required_outside_local_mode() -> None:
    settings = settings_for("sqlite+aiosqlite:///:memory:", **{**APP, "allowed_tenants_raw": ""})
    with pytest.raises(PreflightError, match=r"^setting ALLOWED_TENANTS: missing"):
        create_app(settings)
    create_app(settings.model_copy(update={"allowed_tenants_raw": "t1"}))
    create_app(settings, local=True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"app_password": None}, "setting MicrosoftAppPassword: missing while MicrosoftAppId"),
        ({"app_tenant_id": None}, "setting MicrosoftAppTenantId: missing for MicrosoftAppType "
         "SingleTenant"),
        ({"app_type": "UserAssignedMSI", "app_tenant_id": None, "app_password": None},
         "setting MicrosoftAppTenantId: missing for MicrosoftAppType UserAssignedMSI"),
        ({"app_type": "SingelTenant"}, "setting MicrosoftAppType: 'SingelTenant' is not an app "
         "type; set it to one of SingleTenant, MultiTenant, UserAssignedMSI"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("local", [False, True])
def test_an_incomplete_registration_is_refused_in_either_mode(
    changes: dict[str, Any], message: str, local: bool
) -> None:
    settings = settings_for("sqlite+aiosqlite:///:memory:", **{**APP, **changes})
    with pytest.raises(PreflightError) as refused:
        create_app(settings, local=local)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    "changes",
    [
        {"app_type": "multitenant", "app_tenant_id": None},
        {"app_type": "UserAssignedMSI", "app_password": None},
    ],
)
def test_a_complete_registration_of_each_kind_is_taken(changes: dict[str, Any]) -> None:
    create_app(settings_for("sqlite+aiosqlite:///:memory:", **{**APP, **changes}))
