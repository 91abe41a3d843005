"""The Teams app package: `manifest.json` (current schema), the English strings and the
two icons, zipped for upload (`frakturkedjan manifest build`).

Filled from settings: the bot's app id (`MicrosoftAppId`) and the host Teams reaches it on
(`PUBLIC_HOST`). The templates are in `manifest/` at the repository root; every `{{ }}`
is written as a JSON literal, so no value can break the JSON.
"""

from __future__ import annotations

import json
import re
import zipfile
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import jinja2

MANIFEST_DIR = Path(__file__).resolve().parent.parent / "manifest"
SCHEMA_VERSION = "1.30"  # the newest published in @microsoft/app-manifest 1.1.2
ACCENT_COLOR = "#2B6A8E"
DEVELOPER_NAME = "Frakturkedjan, primärvården"
DEFAULT_OUT = MANIFEST_DIR / "build" / "appPackage.zip"
COMMANDS = [
    {"title": "hjälp", "description": "Visar hjälpen", "description_en": "Shows the help"},
    {
        "title": "mina ärenden",
        "description": "Dina DXA-svar som väntar på beslut",
        "description_en": "Your DXA answers waiting for a decision",
    },
    {
        "title": "uppgifter",
        "description": "Öppna uppgifter du kan bocka av",
        "description_en": "Open tasks you can tick off",
    },
    {
        "title": "ärende",
        "description": "Visa ett ärende: ärende <nummer>",
        "description_en": "Show a case: ärende <number>",
    },
]
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}(:\d{1,5})?$")


class ManifestError(ValueError):
    """A setting the manifest needs is missing or malformed."""


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(MANIFEST_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - JSON output: every value is dumped as JSON
        finalize=_json,
    )


def _render(name: str, **ctx: Any) -> dict[str, Any]:
    text = _environment().get_template(name).render(**ctx)
    data: dict[str, Any] = json.loads(text)
    return data


def _check(app_id: str | None, host: str | None) -> tuple[str, str]:
    if not app_id:
        raise ManifestError("MicrosoftAppId is not set: the manifest needs the bot's app id")
    if not _GUID.match(app_id):
        raise ManifestError(f"MicrosoftAppId must be a GUID, got {app_id!r}")
    if not host:
        raise ManifestError("PUBLIC_HOST is not set: the host name Teams reaches the bot on")
    if not _HOST.match(host):
        raise ManifestError(f"PUBLIC_HOST must be a host name like bot.region.se, got {host!r}")
    return app_id, host


def default_version() -> str:
    return package_version("frakturkedjan")


def render_manifest(*, app_id: str | None, host: str | None, version: str) -> dict[str, Any]:
    """The manifest as data; raises ManifestError for a missing or malformed setting."""
    app_id, host = _check(app_id, host)
    return _render(
        "manifest.json.j2",
        schema_version=SCHEMA_VERSION,
        version=version,
        app_id=app_id,
        host=host,
        developer_name=DEVELOPER_NAME,
        accent_color=ACCENT_COLOR,
        commands=COMMANDS,
    )


def render_english() -> dict[str, Any]:
    """The en-US localization file."""
    return _render("en-US.json.j2", schema_version=SCHEMA_VERSION, commands=COMMANDS)


def build_package(*, app_id: str | None, host: str | None, version: str, out: Path) -> Path:
    """Write the app package zip (manifest.json, en-US.json, color.png, outline.png)."""
    manifest = render_manifest(app_id=app_id, host=host, version=version)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        package.writestr("en-US.json", json.dumps(render_english(), ensure_ascii=False, indent=2))
        for icon in ("color.png", "outline.png"):
            package.write(MANIFEST_DIR / icon, icon)
    return out
