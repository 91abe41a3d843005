"""The Teams app package: valid against the official manifest schema (kept in the tests),
filled from settings, with the two icons Teams requires."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from bot import cli
from bot.manifest import (
    SCHEMA_VERSION,
    ManifestError,
    build_package,
    render_english,
    render_manifest,
)

SCHEMAS = Path(__file__).parent.parent / "fixtures" / "teams-manifest-schema" / f"v{SCHEMA_VERSION}"
APP_ID = "8f0c7a2e-1b3d-4c5e-9f60-7a8b9c0d1e2f"
HOST = "frakturkedjan.regionvarmland.se"


def _validator(name: str) -> Draft4Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("http://json-schema.org/draft-04/")
    return Draft4Validator(schema)


MANIFEST_SCHEMA = _validator("MicrosoftTeams.schema.json")
LOCALIZATION_SCHEMA = _validator("MicrosoftTeams.Localization.schema.json")


def _errors(validator: Draft4Validator, document: dict[str, Any]) -> list[str]:
    return [e.message for e in validator.iter_errors(document)]


def test_manifest_is_valid_and_filled_from_settings() -> None:
    manifest = render_manifest(app_id=APP_ID, host=HOST, version="1.2.3")
    assert _errors(MANIFEST_SCHEMA, manifest) == []
    assert manifest["manifestVersion"] == SCHEMA_VERSION
    assert manifest["$schema"].endswith(f"/v{SCHEMA_VERSION}/MicrosoftTeams.schema.json")
    assert manifest["id"] == APP_ID and manifest["version"] == "1.2.3"
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team"]
    assert [c["scopes"] for c in bot["commandLists"]] == [["personal"], ["team"]]
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert titles == ["hjälp", "mina ärenden", "uppgifter", "ärende"]
    assert manifest["validDomains"] == [HOST]
    assert manifest["developer"]["privacyUrl"] == f"https://{HOST}/privacy"
    assert manifest["webApplicationInfo"]["id"] == APP_ID
    assert manifest["localizationInfo"]["defaultLanguageTag"] == "sv-SE"
    assert manifest["name"]["short"] == "Frakturkedjan"


def test_english_strings_are_valid() -> None:
    english = render_english()
    assert _errors(LOCALIZATION_SCHEMA, english) == []
    assert english["name.short"] == "Fracture chain"
    assert english["bots[0].commandLists[1].commands[3].description"].startswith("Show a case")


def test_the_schema_check_can_fail() -> None:
    manifest = render_manifest(app_id=APP_ID, host=HOST, version="1.0.0")
    manifest["name"]["short"] = "F" * 40
    manifest["bots"][0]["scopes"] = ["everywhere"]
    errors = _errors(MANIFEST_SCHEMA, manifest)
    assert len(errors) == 2


@pytest.mark.parametrize(
    ("app_id", "host", "message"),
    [
        (None, HOST, "MicrosoftAppId is not set"),
        ("not-a-guid", HOST, "must be a GUID"),
        (APP_ID, None, "PUBLIC_HOST is not set"),
        (APP_ID, "https://x.se/path", "must be a host name"),
    ],
)
def test_missing_settings_are_clear_errors(
    app_id: str | None, host: str | None, message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        render_manifest(app_id=app_id, host=host, version="1.0.0")


def _png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, colour type, rows of raw pixels) of a non-interlaced 8-bit PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytes(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for x in range(stride):
            left = row[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                row[x] = (row[x] + left) & 255
            elif kind == 2:
                row[x] = (row[x] + up) & 255
            elif kind == 3:
                row[x] = (row[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                row[x] = (row[x] + pred) & 255
        rows.append(bytes(row))
        previous = bytes(row)
    return width, height, colour, rows


def test_package_has_manifest_and_icons(tmp_path: Path) -> None:
    out = build_package(app_id=APP_ID, host=HOST, version="1.0.0", out=tmp_path / "app.zip")
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == [
            "color.png",
            "en-US.json",
            "manifest.json",
            "outline.png",
        ]
        manifest = json.loads(package.read("manifest.json"))
        assert _errors(MANIFEST_SCHEMA, manifest) == []
        assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
        width, height, colour, _ = _png(package.read("color.png"))
        assert (width, height) == (192, 192) and colour in (2, 6)
        width, height, colour, rows = _png(package.read("outline.png"))
    assert (width, height, colour) == (32, 32, 6)  # RGBA: it has an alpha channel
    pixels = [row[i : i + 4] for row in rows for i in range(0, len(row), 4)]
    corners = [rows[0][0:4], rows[0][-4:], rows[-1][0:4], rows[-1][-4:]]
    assert all(c[3] == 0 for c in corners)  # transparent corners
    assert any(p[3] > 0 for p in pixels)  # something is drawn
    assert all(p[:3] == b"\xff\xff\xff" for p in pixels if p[3] > 0)  # white only


def test_cli_builds_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    monkeypatch.setenv("PUBLIC_HOST", HOST)
    out = tmp_path / "build" / "appPackage.zip"
    assert cli.main(["manifest", "build", "--out", str(out), "--version", "2.0.0"]) == 0
    with zipfile.ZipFile(out) as package:
        assert json.loads(package.read("manifest.json"))["version"] == "2.0.0"
    monkeypatch.delenv("MicrosoftAppId")
    assert cli.main(["manifest", "build", "--out", str(out)]) == 2
    assert "MicrosoftAppId is not set" in capsys.readouterr().err
