"""The Teams app package: valid against the official manifest schema (kept in the tests),
filled from settings, with the two icons Teams requires."""

from __future__ import annotations

import copy
import json
import re
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from referencing.exceptions import Unresolvable

from bot import cli
from bot.manifest import (
    ACCENT_COLOR,
    SCHEMA_VERSION,
    ManifestError,
    build_package,
    icon_size,
    render_english,
    render_manifest,
)

from .manifesttools import (
    localization_errors,
    manifest_errors,
    official_validator,
    pixels,
    read_png,
)

APP_ID = "8f0c7a2e-1b3d-4c5e-9f60-7a8b9c0d1e2f"
HOST = "frakturkedjan.regionvarmland.se"
TITLES = ["hjälp", "mina ärenden", "uppgifter", "uppföljning", "ärende"]


def _manifest(version: str = "1.2.3") -> dict[str, Any]:
    return render_manifest(app_id=APP_ID, host=HOST, version=version)


def test_schema_version_is_the_kept_one() -> None:
    kept = sorted(p.name for p in (Path(__file__).parents[1] / "fixtures").glob("teams-*/v1.*"))
    assert kept == [f"v{SCHEMA_VERSION}"]


def test_manifest_is_valid_and_filled_from_settings() -> None:
    manifest = _manifest()
    assert manifest_errors(manifest) == []
    assert manifest["$schema"] == (
        f"https://developer.microsoft.com/json-schemas/teams/v{SCHEMA_VERSION}"
        "/MicrosoftTeams.schema.json"
    )
    assert manifest["manifestVersion"] == SCHEMA_VERSION == "1.30"
    assert manifest["id"] == APP_ID and manifest["version"] == "1.2.3"
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team"]
    assert bot["supportsFiles"] is False and bot["isNotificationOnly"] is False
    assert [c["scopes"] for c in bot["commandLists"]] == [["personal"], ["team"]]
    for command_list in bot["commandLists"]:
        assert [c["title"] for c in command_list["commands"]] == TITLES
    descriptions = {c["title"]: c["description"] for c in bot["commandLists"][0]["commands"]}
    assert descriptions == {
        "hjälp": "Visar hjälpen",
        "mina ärenden": "Dina DXA-svar som väntar på beslut och besök att registrera",
        "uppgifter": "Enhetens svar att fördela och öppna uppgifter",
        "uppföljning": "Dina uppföljningar som är planerade i dag eller försenade",
        "ärende": "Visa ett ärende: ärende <nummer>",
    }
    assert manifest["validDomains"] == [HOST]
    assert manifest["developer"]["websiteUrl"] == f"https://{HOST}/"
    assert manifest["developer"]["privacyUrl"] == f"https://{HOST}/privacy"
    assert manifest["developer"]["termsOfUseUrl"] == f"https://{HOST}/terms"
    assert manifest["webApplicationInfo"] == {"id": APP_ID}
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]
    assert manifest["localizationInfo"] == {
        "defaultLanguageTag": "sv-SE",
        "additionalLanguages": [{"languageTag": "en-US", "file": "en-US.json"}],
    }
    assert manifest["name"]["short"] == "Frakturkedjan"
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", manifest["accentColor"])


def test_lengths_stay_within_teams_limits() -> None:
    manifest = _manifest()
    english = render_english()
    for names in (manifest["name"], {"short": english["name.short"], "full": english["name.full"]}):
        assert 0 < len(names["short"]) <= 30 and 0 < len(names["full"]) <= 100
    assert 0 < len(manifest["description"]["short"]) <= 80
    assert 0 < len(manifest["description"]["full"]) <= 4000
    assert 0 < len(english["description.short"]) <= 80
    assert 0 < len(english["description.full"]) <= 4000
    for command in manifest["bots"][0]["commandLists"][0]["commands"]:
        # The schema allows 128/4000 since v1.25; older clients showed at most 32/128.
        assert len(command["title"]) <= 32 and len(command["description"]) <= 128


def test_english_strings_are_valid_and_match_the_manifest() -> None:
    english = render_english()
    assert localization_errors(english) == []
    assert english["$schema"] == (
        f"https://developer.microsoft.com/json-schemas/teams/v{SCHEMA_VERSION}"
        "/MicrosoftTeams.Localization.schema.json"
    )
    assert english["name.short"] == "Fracture chain"
    assert english["bots[0].commandLists[1].commands[3].description"] == (
        "Your follow-ups due today or overdue"
    )
    assert english["bots[0].commandLists[1].commands[4].description"].startswith("Show a case")
    # Every command key names a command that exists in the manifest.
    lists = _manifest()["bots"][0]["commandLists"]
    keys = [k for k in english if k.startswith("bots[")]
    assert len(keys) == 2 * len(TITLES)
    for key in keys:
        match = re.fullmatch(r"bots\[0\]\.commandLists\[(\d)\]\.commands\[(\d+)\]\.(\w+)", key)
        assert match, key
        i, j, field = int(match[1]), int(match[2]), match[3]
        assert field in lists[i]["commands"][j]


def _broken(path: str, value: object) -> dict[str, Any]:
    manifest = copy.deepcopy(_manifest())
    *parents, last = path.split("/")
    node: Any = manifest
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return manifest


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("name/short", "F" * 40, "/name/short: 'FFFF"),
        ("bots/0/scopes", ["everywhere"], "/bots/0/scopes/0: 'everywhere' is not one of"),
        ("manifestVersion", "1.29", "/manifestVersion: '1.30' was expected"),  # const
        ("id", "not-a-guid", "/id: 'not-a-guid' does not match"),
        ("accentColor", "blue", "/accentColor: 'blue' does not match"),
        ("description/short", "D" * 81, "/description/short: 'DDDD"),
        ("permissions", ["identity", "readEverything"], "/permissions/1:"),
    ],
)
def test_the_schema_check_can_fail(path: str, value: object, error: str) -> None:
    errors = manifest_errors(_broken(path, value))
    assert len(errors) == 1 and errors[0].startswith(error), errors


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("name.short", "F" * 40, "/name.short: 'FFFF"),  # maxLength beside $ref
        ("name.short", "null", "/name.short: 'null' does not match"),  # the $ref itself
        ("name.nickname", "FK", "/: 'name.nickname' does not match any of the regexes"),
    ],
)
def test_the_localization_check_can_fail(key: str, value: str, error: str) -> None:
    english = render_english() | {key: value}
    errors = localization_errors(english)
    assert len(errors) == 1 and errors[0].startswith(error), errors


def test_remote_refs_fail_without_fetching(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the validator tried to fetch a schema")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "properties": {"a": {"$ref": "https://example.invalid/other.schema.json"}},
    }
    with pytest.raises(Unresolvable):
        official_validator(schema).validate({"a": 1})


@pytest.mark.parametrize(
    ("app_id", "host", "version", "message"),
    [
        (None, HOST, "1.0.0", "MicrosoftAppId is not set"),
        ("", HOST, "1.0.0", "MicrosoftAppId is not set"),
        ("not-a-guid", HOST, "1.0.0", "MicrosoftAppId must be a GUID"),
        (APP_ID, None, "1.0.0", "PUBLIC_HOST is not set"),
        (APP_ID, "https://x.se/path", "1.0.0", "PUBLIC_HOST must be a host name"),
        (APP_ID, 'x.se", "evil": "', "1.0.0", "PUBLIC_HOST must be a host name"),
        (APP_ID, HOST, "0.1.0.dev1", "MAJOR.MINOR.PATCH"),
        (APP_ID, HOST, "01.2.3", "MAJOR.MINOR.PATCH"),
    ],
)
def test_missing_or_malformed_settings_are_clear_errors(
    app_id: str | None, host: str | None, version: str, message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        render_manifest(app_id=app_id, host=host, version=version)


def test_building_without_an_app_id_fails_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "build" / "appPackage.zip"
    with pytest.raises(ManifestError, match="MicrosoftAppId is not set"):
        build_package(app_id="", host=HOST, version="1.0.0", out=out)
    assert not out.parent.exists()


def test_package_has_manifest_and_icons(tmp_path: Path) -> None:
    out = build_package(app_id=APP_ID, host=HOST, version="1.0.0", out=tmp_path / "app.zip")
    with zipfile.ZipFile(out) as package:
        assert package.testzip() is None
        assert sorted(package.namelist()) == [
            "color.png",
            "en-US.json",
            "manifest.json",
            "outline.png",
        ]
        manifest = json.loads(package.read("manifest.json").decode("utf-8"))
        english = json.loads(package.read("en-US.json").decode("utf-8"))
        color, outline = package.read("color.png"), package.read("outline.png")
    assert manifest_errors(manifest) == []
    assert localization_errors(english) == []
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == [HOST]

    assert icon_size(color) == (192, 192, 2)
    width, height, colour, rows = read_png(color)
    assert (width, height, colour) == (192, 192, 2)  # RGB, full colour
    assert len(set(pixels(rows, 3))) > 2
    assert "#" + rows[0][0:3].hex().upper() == ACCENT_COLOR.upper()  # background = accent

    assert icon_size(outline) == (32, 32, 6)
    width, height, colour, rows = read_png(outline)
    assert (width, height, colour) == (32, 32, 6)  # RGBA: it has an alpha channel
    drawn = pixels(rows, 4)
    corners = [rows[0][0:4], rows[0][-4:], rows[-1][0:4], rows[-1][-4:]]
    assert all(c[3] == 0 for c in corners)  # transparent corners
    assert sum(p[3] == 255 for p in drawn) > 50  # something solid is drawn
    assert all(p[:3] == b"\xff\xff\xff" for p in drawn if p[3] > 0)  # white only


def test_package_is_the_same_for_the_same_settings(tmp_path: Path) -> None:
    first = build_package(app_id=APP_ID, host=HOST, version="1.0.0", out=tmp_path / "a.zip")
    second = build_package(app_id=APP_ID, host=HOST, version="1.0.0", out=tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "b.zip"]  # no temp files


def test_cli_builds_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working copy
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    monkeypatch.setenv("PUBLIC_HOST", HOST)
    out = tmp_path / "build" / "appPackage.zip"
    assert cli.main(["manifest", "build", "--out", str(out), "--version", "2.0.0"]) == 0
    assert str(out) in capsys.readouterr().out
    with zipfile.ZipFile(out) as package:
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["version"] == "2.0.0"
    assert manifest["id"] == APP_ID and manifest["validDomains"] == [HOST]
    assert manifest_errors(manifest) == []

    assert cli.main(["manifest", "build", "--out", str(out), "--host", "other.region.se"]) == 0
    with zipfile.ZipFile(out) as package:
        manifest = json.loads(package.read("manifest.json"))
    assert manifest["validDomains"] == ["other.region.se"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])  # the package's version

    monkeypatch.delenv("MicrosoftAppId")
    assert cli.main(["manifest", "build", "--out", str(tmp_path / "none.zip")]) == 2
    assert "MicrosoftAppId is not set" in capsys.readouterr().err
    assert not (tmp_path / "none.zip").exists()
