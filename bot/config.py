"""Settings: read once from the environment (and `.env`), then passed in."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.intake.limits import MAX_BODY_BYTES
from bot.preflight import PreflightError, check_database_url


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
        default=None, validation_alias=AliasChoices("MicrosoftAppId", "app_id")
    )
    app_password: str | None = Field(
        default=None, validation_alias=AliasChoices("MicrosoftAppPassword", "app_password")
    )
    app_type: str = Field(
        default="SingleTenant", validation_alias=AliasChoices("MicrosoftAppType", "app_type")
    )
    app_tenant_id: str | None = Field(
        default=None, validation_alias=AliasChoices("MicrosoftAppTenantId", "app_tenant_id")
    )
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
    serve_cpu: int | None = Field(
        default=None, validation_alias=AliasChoices("SERVE_CPU", "serve_cpu")
    )
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

    @property
    def intake_tokens(self) -> frozenset[str]:
        return _split(self.intake_tokens_raw)

    @property
    def report_tokens(self) -> frozenset[str]:
        return _split(self.report_tokens_raw)

    @property
    def allowed_tenants(self) -> frozenset[str]:
        return _split(self.allowed_tenants_raw)
