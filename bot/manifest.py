"""The Teams app package: `manifest.json` (current schema), the English strings and the
two icons, zipped for upload (`frakturkedjan manifest build`).

Filled from settings: the bot's app id (`MicrosoftAppId`: the app id, the bot id and
`webApplicationInfo.id`) and the host Teams reaches it on (`PUBLIC_HOST`: `validDomains`
and the developer URLs). The templates are in `manifest/` at the repository root; every
`{{ }}` is written as a JSON literal, so no value can break the JSON. Values are checked
before rendering and a missing or malformed one raises `ManifestError`, whose message names
the setting.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import zipfile
from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import jinja2

MANIFEST_DIR = Path(__file__).resolve().parent.parent / "manifest"
SCHEMA_VERSION = "1.30"  # the newest published in @microsoft/app-manifest 1.1.2
SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{SCHEMA_VERSION}/"
ACCENT_COLOR = "#1D6A96"  # the background of color.png (manifest/make_icons.py)
DEVELOPER_NAME = "Frakturkedjan, primärvården"
DEFAULT_OUT = MANIFEST_DIR / "build" / "appPackage.zip"
COMMANDS = [
    {"title": "hjälp", "description": "Visar hjälpen", "description_en": "Shows the help"},
    {
        "title": "mina ärenden",
        "description": "Dina DXA-svar som väntar på beslut och besök att registrera",
        "description_en": "Your DXA answers waiting for a decision and visits to record",
    },
    {
        "title": "uppgifter",
        "description": "Enhetens svar att fördela och öppna uppgifter",
        "description_en": "Your unit's answers to assign and open tasks",
    },
    {
        "title": "uppföljning",
        "description": "Dina uppföljningar som är planerade i dag eller försenade",
        "description_en": "Your follow-ups due today or overdue",
    },
    {
        "title": "ärende",
        "description": "Visa ett ärende: ärende <nummer>",
        "description_en": "Show a case: ärende <number>",
    },
]
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}(:\d{1,5})?$")
# Teams wants MAJOR.MINOR.PATCH (the schema's `semver` definition, without leading zeros).
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
# File name -> (width, height, PNG colour types allowed): RGB or RGBA in colour; the
# outline must carry alpha (white on transparent).
ICONS = {"color.png": (192, 192, (2, 6)), "outline.png": (32, 32, (6,))}


class ManifestError(ValueError):
    """A setting the manifest needs is missing or malformed."""


def _json(value: object) -> str:
    """The `finalize` hook: every `{{ … }}` is written as one JSON value."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


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


def _check(app_id: str | None, host: str | None, version: str) -> tuple[str, str]:
    if not app_id:
        raise ManifestError("MicrosoftAppId is not set: the manifest needs the bot's app id")
    if not _GUID.match(app_id):
        raise ManifestError(f"MicrosoftAppId must be a GUID, got {app_id!r}")
    if not host:
        raise ManifestError("PUBLIC_HOST is not set: the host name Teams reaches the bot on")
    if not _HOST.match(host):
        raise ManifestError(
            f"PUBLIC_HOST must be a host name like bot.region.se (no https://, no path), "
            f"got {host!r}"
        )
    if not _SEMVER.match(version):
        raise ManifestError(
            f"the app version must be MAJOR.MINOR.PATCH like 1.4.0 (Teams), got {version!r}"
        )
    return app_id, host


def default_version() -> str:
    """The installed package's version; raises ManifestError when it is not installed."""
    try:
        return package_version("frakturkedjan")
    except PackageNotFoundError:
        raise ManifestError(
            "the frakturkedjan package is not installed: give the app version with --version"
        ) from None


def render_manifest(*, app_id: str | None, host: str | None, version: str) -> dict[str, Any]:
    """The manifest as data; raises ManifestError for a missing or malformed setting."""
    app_id, host = _check(app_id, host, version)
    return _render(
        "manifest.json.j2",
        schema_url=SCHEMA_URL + "MicrosoftTeams.schema.json",
        schema_version=SCHEMA_VERSION,
        version=version,
        app_id=app_id,
        host=host,
        urls={
            "website": f"https://{host}/",
            "privacy": f"https://{host}/privacy",
            "terms": f"https://{host}/terms",
        },
        developer_name=DEVELOPER_NAME,
        accent_color=ACCENT_COLOR,
        commands=COMMANDS,
    )


def render_english() -> dict[str, Any]:
    """The en-US localization file."""
    return _render(
        "en-US.json.j2",
        schema_url=SCHEMA_URL + "MicrosoftTeams.Localization.schema.json",
        commands=COMMANDS,
    )


def icon_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, PNG colour type) from the IHDR chunk of a PNG file."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ManifestError("not a PNG file")
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def _icon(name: str) -> bytes:
    data = (MANIFEST_DIR / name).read_bytes()
    width, height, colours = ICONS[name]
    try:
        got = icon_size(data)
    except ManifestError:
        raise ManifestError(f"manifest/{name} is not a PNG file") from None
    if got[:2] != (width, height) or got[2] not in colours:
        raise ManifestError(
            f"manifest/{name} must be a {width}x{height} PNG with colour type in {colours}, "
            f"is {got[0]}x{got[1]} with colour type {got[2]}"
        )
    return data


def build_package(*, app_id: str | None, host: str | None, version: str, out: Path) -> Path:
    """Write the app package zip (manifest.json, en-US.json, color.png, outline.png at
    its root) to `out`, replacing it whole; raises ManifestError before writing anything
    when a setting or an icon is wrong."""
    files = {
        "manifest.json": _dump(render_manifest(app_id=app_id, host=host, version=version)),
        "en-US.json": _dump(render_english()),
        **{name: _icon(name) for name in ICONS},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".appPackage-", suffix=".zip", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                # A fixed time and mode: the same settings give the same zip.
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
