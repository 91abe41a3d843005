"""The Playground's mock tenant matches the demo directory, and keeps the rules of the
config schema in @microsoft/m365agentsplayground 0.2.28 (the Playground refuses to start
otherwise). No browser, no Node: runs everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND = ROOT / "tools" / "playground"
CONFIGS = {
    "physician": PLAYGROUND / ".m365agentsplayground.yml",
    "mva": PLAYGROUND / "mva" / ".m365agentsplayground.yml",
}
USER_FIELDS = {"id", "name", "userPrincipleName", "aadObjectId", "givenName", "surname", "email"}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def directory() -> dict[str, Any]:
    return _load(ROOT / "demo" / "directory.yaml")


def _roles(directory: dict[str, Any], aad: str) -> set[str]:
    [person] = [p for p in directory["staff"] if p["aad_object_id"] == aad]
    return {role for roles in person["units"].values() for role in roles}


@pytest.mark.parametrize("who", sorted(CONFIGS))
def test_config_keeps_the_playground_schema_rules(who: str) -> None:
    config = _load(CONFIGS[who])
    assert config["version"] in ("0.1.0", "0.1.1")
    assert set(config) == {
        "version",
        "tenantId",
        "bot",
        "currentUser",
        "users",
        "personalChat",
        "groupChat",
        "team",
    }
    assert len(config["bot"]["name"]) <= 42
    assert len(config["users"]) == 5
    people = [config["currentUser"], *config["users"]]
    for person in people:
        assert set(person) == USER_FIELDS, person
    assert len({p["id"] for p in people}) == 6
    assert len({p["aadObjectId"] for p in people}) == 6
    assert len(config["team"]["channels"]) <= 1


@pytest.mark.parametrize("who", sorted(CONFIGS))
def test_config_people_and_channel_are_the_demo_directory(
    who: str, directory: dict[str, Any]
) -> None:
    config = _load(CONFIGS[who])
    [unit] = directory["units"]
    staff = {p["aad_object_id"]: p["name"] for p in directory["staff"]}
    for person in [config["currentUser"], *config["users"]]:
        assert staff.get(person["aadObjectId"]) == person["name"], person
    [channel] = config["team"]["channels"]
    assert channel["id"] == unit["mva_channel"]
    assert config["team"]["id"] != unit["mva_channel"]  # General's id is the team id


def test_current_users_are_the_physician_and_the_mva(directory: dict[str, Any]) -> None:
    physician = _load(CONFIGS["physician"])["currentUser"]
    mva = _load(CONFIGS["mva"])["currentUser"]
    assert "physician" in _roles(directory, physician["aadObjectId"])
    assert "mva" in _roles(directory, mva["aadObjectId"])
    # Anna Berg is the physician the sample DXA answers name (HSA-id SE2321000156-L1AB).
    [anna] = [p for p in directory["staff"] if p["aad_object_id"] == physician["aadObjectId"]]
    assert anna["hsa_id"] == "SE2321000156-L1AB"


def test_both_playgrounds_share_one_tenant_and_team() -> None:
    physician, mva = _load(CONFIGS["physician"]), _load(CONFIGS["mva"])
    for key in ("tenantId", "bot", "groupChat", "team"):
        assert physician[key] == mva[key], key
    people = {p["aadObjectId"] for p in [physician["currentUser"], *physician["users"]]}
    assert people == {p["aadObjectId"] for p in [mva["currentUser"], *mva["users"]]}
    assert physician["personalChat"]["id"] != mva["personalChat"]["id"]


def test_playground_is_pinned_with_a_lock_file() -> None:
    package = json.loads((PLAYGROUND / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((PLAYGROUND / "package-lock.json").read_text(encoding="utf-8"))
    wanted = package["dependencies"]["@microsoft/m365agentsplayground"]
    assert wanted[0].isdigit(), "pin an exact version"
    locked = lock["packages"]["node_modules/@microsoft/m365agentsplayground"]["version"]
    assert locked == wanted
    assert tuple(int(x) for x in wanted.split(".")) >= (0, 2, 28)
