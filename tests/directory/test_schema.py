"""The directory file's models (bot/directory/schema.py): field sizes match the columns, every
setting is checked, and no file, however mangled, gets past the parser into a database error.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.directory.schema import DirectoryError, DirectoryFile, parse_directory

SAMPLE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "fixtures" / "directory.yaml").read_text(
        encoding="utf-8"
    )
)


def sample() -> dict[str, Any]:
    return copy.deepcopy(SAMPLE)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _rename_unit(data: dict[str, Any], hsa_id: str) -> None:
    """Give the sample's unit another HSA-id, and its staff with it."""
    old = data["units"][0]["hsa_id"]
    data["units"][0]["hsa_id"] = hsa_id
    for person in data["staff"]:
        person["units"] = {hsa_id if k == old else k: v for k, v in person["units"].items()}


def problems_of(data: Any) -> list[str]:
    with pytest.raises(DirectoryError) as raised:
        parse_directory(dump(data))
    return raised.value.problems


def test_the_sample_parses_into_models() -> None:
    parsed = parse_directory(dump(sample()))
    assert isinstance(parsed, DirectoryFile)
    assert [u.hsa_id for u in parsed.units] == ["SE2321000156-7TNG"]
    assert parsed.units[0].settings_given() == {
        "card_identity": "full",
        "call_in_months": 2,
        "letter_tasks_to": "physician",
    }
    assert parsed.units[0].settings.retention_days == 180  # the default, not stored
    assert [p.name for p in parsed.staff] == ["Anna Berg", "Erik Lund", "Maria Svensson"]
    assert parsed.staff[2].units == {"SE2321000156-7TNG": ["mva"]}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda d: d["units"][0].update(name="x" * 201),
            "units[0].name: at most 200 characters",
            id="unit-name-over-column",
        ),
        pytest.param(
            lambda d: _rename_unit(d, "SE" + "1" * 70),
            "units[0].hsa_id: at most 64 characters",
            id="unit-hsa-over-column",
        ),
        pytest.param(
            lambda d: d["units"][0].update(mva_channel="19:" + "c" * 300),
            "units[0].mva_channel: at most 200 characters",
            id="channel-over-column",
        ),
        pytest.param(
            lambda d: d["staff"][0].update(aad_object_id="a" * 65),
            "staff[0].aad_object_id: at most 64 characters",
            id="aad-over-column",
        ),
        pytest.param(
            lambda d: d["staff"][0].update(name=["Anna"]),
            "staff[0].name: required text",
            id="name-a-list",
        ),
        pytest.param(
            lambda d: d["units"][0]["settings"].update(retention_days=0),
            "units[0].settings.retention_days: a whole number of days, 1–36500",
            id="retention-zero",
        ),
        pytest.param(
            lambda d: d["units"][0]["settings"].update(retention_days="180"),
            "units[0].settings.retention_days: a whole number of days, 1–36500",
            id="retention-text",
        ),
        pytest.param(
            lambda d: d["units"][0]["settings"].update(digest_time="7.30"),
            "units[0].settings.digest_time: a time of day as HH:MM",
            id="digest-time-format",
        ),
        pytest.param(
            lambda d: d["units"][0]["settings"].update(digest_time="24:00"),
            "units[0].settings.digest_time: a time of day as HH:MM",
            id="digest-time-range",
        ),
        pytest.param(
            lambda d: d["units"][0].update(mva_chanel="19:typo"),
            "units[0].mva_chanel: unknown key",
            id="misspelt-key",
        ),
        pytest.param(
            lambda d: d["staff"][1].update(units={"SE2321000156-7TNG": []}),
            "staff[1].units.SE2321000156-7TNG: a list of roles",
            id="no-roles",
        ),
        pytest.param(
            lambda d: d["staff"][1].pop("units"),
            "staff[1].units: a mapping of unit HSA-id to a list of roles",
            id="units-missing",
        ),
        pytest.param(
            lambda d: d["units"][0].update(settings=["full"]),
            "units[0].settings: must be a mapping",
            id="settings-a-list",
        ),
        pytest.param(
            lambda d: d.update(staff="Anna"),
            "staff: must be a list",
            id="staff-text",
        ),
    ],
)
def test_each_problem_is_named_with_its_place(change: Any, expected: str) -> None:
    data = sample()
    change(data)
    assert problems_of(data) == [expected]


def test_two_unknown_roles_in_two_units_are_both_listed() -> None:
    data = sample()
    data["units"].append({"hsa_id": "SE2321000156-8XYZ", "name": "Andra"})
    data["staff"][1]["units"] = {
        "SE2321000156-7TNG": ["mva", "secretary"],
        "SE2321000156-8XYZ": ["nurse"],
    }
    assert problems_of(data) == [
        "staff[1].units.SE2321000156-7TNG: unknown role 'secretary'",
        "staff[1].units.SE2321000156-8XYZ: unknown role 'nurse'",
    ]


# -- any mangled file: a DirectoryError or a valid model, never anything else -------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=6,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*path, index)))
    return found


SAMPLE_PATHS = _paths(SAMPLE)[1:]


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLE_PATHS), _VALUES)
def test_a_mangled_file_is_refused_or_fits_the_columns(path: tuple[Any, ...], value: Any) -> None:
    data = _replace(sample(), path, value)
    try:
        parsed = parse_directory(dump(data))
    except DirectoryError as exc:
        assert exc.problems and all(": " in p for p in exc.problems)
        return
    for unit in parsed.units:
        assert unit.hsa_id.strip() and len(unit.hsa_id) <= 64
        assert unit.name.strip() and len(unit.name) <= 200
        assert unit.mva_channel is None or len(unit.mva_channel) <= 200
        assert 1 <= unit.settings.call_in_months <= 12
    for person in parsed.staff:
        assert person.aad_object_id.strip() and len(person.aad_object_id) <= 64
        assert person.hsa_id is None or len(person.hsa_id) <= 64
        assert all(set(roles) <= {"physician", "mva", "admin"} for roles in person.units.values())
