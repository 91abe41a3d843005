"""Settings: read once from the environment (and `.env`), then passed in."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.intake.limits import MAX_BODY_BYTES
from bot.preflight import PreflightError, check_database_url, check_teams_sdk

# The Agents SDK's own names for the registration, accepted beside MicrosoftApp* (which
# win when both are set); see `bot.teams.agents.auth.connection_settings`.
SDK_CONNECTION = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
# the Agents SDK's AUTHTYPE values frakturkedjan takes, and the MicrosoftAppType of each
# (None: MicrosoftAppType decides between SingleTenant and MultiTenant)
SDK_AUTH_TYPES: dict[str, str | None] = {
    "clientsecret": None,
    "usermanagedidentity": "UserAssignedMSI",
}


ANY_CPU: Literal["any"] = "any"


def parse_cpu(value: object) -> int | Literal["any"] | None:
    """A `serve` CPU setting (`--cpu`, `SERVE_CPU`): a core number, `any` (every core the
    process may use: no pinning) or None (unset: `bot.cli.serve_cpu` decides). Raises
    ValueError for anything else."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        if value is not None and value < 0:
            raise ValueError(f"{value} is not a CPU core number (0, 1, ...) or 'any'")
        return value
    text = str(value).strip()
    if not text:
        return None
    if text.lower() == ANY_CPU:
        return ANY_CPU
    if text.isascii() and text.isdigit():
        return int(text)
    raise ValueError(f"{text!r} is not a CPU core number (0, 1, ...) or 'any'")


OUTBOX_WORKERS = ("process", "inline")


def parse_outbox_worker(value: object) -> Literal["process", "inline"] | None:
    """Where `serve` runs the outbox worker (`--worker`, `OUTBOX_WORKER`): `process` (a
    child process of its own, `bot.outbox.child`), `inline` (in the serving process) or None
    (unset: `process`). Raises ValueError for anything else."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    if text == "process":
        return "process"
    if text == "inline":
        return "inline"
    raise ValueError(f"{str(value).strip()!r} is not one of {', '.join(OUTBOX_WORKERS)}")


def _split(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


class Settings(BaseSettings):
    """Every setting of the service. Names follow SPEC section 7."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="sqlite+aiosqlite:///./frakturkedjan.db",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    app_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MicrosoftAppId", f"{SDK_CONNECTION}CLIENTID", "app_id"),
    )
    app_password: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "MicrosoftAppPassword", f"{SDK_CONNECTION}CLIENTSECRET", "app_password"
        ),
    )
    app_type: str = Field(
        default="SingleTenant", validation_alias=AliasChoices("MicrosoftAppType", "app_type")
    )
    app_tenant_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "MicrosoftAppTenantId", f"{SDK_CONNECTION}TENANTID", "app_tenant_id"
        ),
    )
    sdk_auth_type: str | None = Field(
        default=None, validation_alias=AliasChoices(f"{SDK_CONNECTION}AUTHTYPE", "sdk_auth_type")
    )
    """The Agents SDK's AUTHTYPE: ClientSecret or UserManagedIdentity (which stands for
    MicrosoftAppType UserAssignedMSI); other SDK auth types are not supported."""
    teams_sdk: str = Field(
        default="botbuilder", validation_alias=AliasChoices("TEAMS_SDK", "teams_sdk")
    )
    """The Teams runtime (`bot.teams.runtime`): botbuilder (the default) or agents."""
    intake_tokens_raw: str = Field(
        default="", validation_alias=AliasChoices("INTAKE_TOKENS", "intake_tokens_raw")
    )
    report_tokens_raw: str = Field(
        default="", validation_alias=AliasChoices("REPORT_TOKENS", "report_tokens_raw")
    )
    allowed_tenants_raw: str = Field(
        default="", validation_alias=AliasChoices("ALLOWED_TENANTS", "allowed_tenants_raw")
    )
    public_host: str | None = Field(
        default=None, validation_alias=AliasChoices("PUBLIC_HOST", "public_host")
    )
    data_controller: str = Field(
        default="Regionen (vårdgivaren)",
        min_length=1,
        max_length=200,
        validation_alias=AliasChoices("DATA_CONTROLLER", "data_controller"),
    )
    """Who is responsible for the personal data (personuppgiftsansvarig), on /privacy and
    /terms."""
    privacy_contact: str = Field(
        default="Regionens dataskyddsombud",
        min_length=1,
        max_length=200,
        validation_alias=AliasChoices("PRIVACY_CONTACT", "privacy_contact"),
    )
    """Whom to ask about the personal data, on /privacy and /terms."""
    privacy_email: str = Field(
        default="",
        max_length=254,
        pattern=r"^$|^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$",
        validation_alias=AliasChoices("PRIVACY_EMAIL", "privacy_email"),
    )
    """The contact's e-mail address (none shown when empty)."""
    port: int = Field(default=3978, validation_alias=AliasChoices("PORT", "port"))
    host: str = Field(default="0.0.0.0", validation_alias=AliasChoices("HOST", "host"))  # noqa: S104
    patient_key_secret: str = Field(
        default="frakturkedjan-local",
        validation_alias=AliasChoices("PATIENT_KEY_SECRET", "patient_key_secret"),
    )
    outbox_poll_seconds: float = Field(
        default=1.0, validation_alias=AliasChoices("OUTBOX_POLL_SECONDS", "outbox_poll_seconds")
    )
    jobs_poll_seconds: float = Field(
        default=60.0, validation_alias=AliasChoices("JOBS_POLL_SECONDS", "jobs_poll_seconds")
    )
    serve_cpu: int | Literal["any"] | None = Field(
        default=None, validation_alias=AliasChoices("SERVE_CPU", "serve_cpu")
    )
    """`serve`'s CPU core: a number, `any` (no pinning), or unset: one core on SQLite,
    any on PostgreSQL (`bot.cli.serve_cpu`). `--cpu` wins."""
    outbox_worker: Literal["process", "inline"] | None = Field(
        default=None, validation_alias=AliasChoices("OUTBOX_WORKER", "outbox_worker")
    )
    """Where `serve` runs the outbox worker: `process` (its own child process, the default)
    or `inline` (in the serving process). `--worker` wins."""
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, gt=0)
    """The largest intake body read (`MAX_BODY_BYTES`); one byte more is 413."""

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        """A URL without a driver gets ours (`postgresql://` -> `postgresql+asyncpg://`);
        another database or driver is refused (see `check_database_url`)."""
        try:
            return check_database_url(value)
        except PreflightError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("serve_cpu", mode="before")
    @classmethod
    def _cpu_or_any(cls, value: object) -> int | Literal["any"] | None:
        return parse_cpu(value)

    @field_validator("outbox_worker", mode="before")
    @classmethod
    def _process_or_inline(cls, value: object) -> Literal["process", "inline"] | None:
        return parse_outbox_worker(value)

    @field_validator("teams_sdk")
    @classmethod
    def _known_teams_sdk(cls, value: str) -> str:
        try:
            return check_teams_sdk(value)
        except PreflightError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("sdk_auth_type")
    @classmethod
    def _supported_sdk_auth_type(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in SDK_AUTH_TYPES:
            raise ValueError(
                f"{value!r} is not an auth type frakturkedjan supports; set it to ClientSecret "
                "or UserManagedIdentity, or leave it out and set MicrosoftAppType"
            )
        return value

    @model_validator(mode="after")
    def _app_type_of_sdk_auth_type(self) -> Settings:
        """The SDK's AUTHTYPE, when set, decides the MicrosoftAppType it stands for."""
        if self.sdk_auth_type is not None:
            app_type = SDK_AUTH_TYPES[self.sdk_auth_type.strip().lower()]
            if app_type is not None:
                self.app_type = app_type
        return self

    @property
    def intake_tokens(self) -> frozenset[str]:
        return _split(self.intake_tokens_raw)

    @property
    def report_tokens(self) -> frozenset[str]:
        return _split(self.report_tokens_raw)

    @property
    def allowed_tenants(self) -> frozenset[str]:
        return _split(self.allowed_tenants_raw)
