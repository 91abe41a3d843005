"""Loading the YAML directory (SPEC section 7): idempotent, deactivates, never deletes,
and refuses a malformed file with every problem listed. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot.audit.models import AuditEntry
from bot.db import create_engine, session_factory, transaction
from bot.directory.models import DEFAULT_UNIT_SETTINGS, Staff, StaffRole, Unit
from bot.directory.service import (
    DirectoryError,
    LoadReport,
    has_role,
    load_directory,
    parse_directory,
    staff_by_aad,
    unit_by_hsa,
    unit_staff,
)

SAMPLE = (Path(__file__).resolve().parent.parent / "fixtures" / "directory.yaml").read_text(
    encoding="utf-8"
)
TNG = "SE2321000156-7TNG"
ANNA = "00000000-0000-0000-0000-000000000101"
MARIA = "00000000-0000-0000-0000-000000000102"
ERIK = "00000000-0000-0000-0000-000000000103"

Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
async def made(db_url: str) -> AsyncIterator[Factory]:
    """A session factory on a fresh, empty, migrated database (no directory loaded)."""
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


def sample() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SAMPLE)
    return copy.deepcopy(data)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def person(data: dict[str, Any], aad: str) -> dict[str, Any]:
    for item in data["staff"]:
        if item["aad_object_id"] == aad:
            found: dict[str, Any] = item
            return found
    raise AssertionError(aad)


async def load(made: Factory, text: str, actor: str = "test") -> LoadReport:
    async with transaction(made) as session:
        return await load_directory(session, text, actor=actor)


async def snapshot(made: Factory) -> dict[str, Any]:
    """Every directory row with its id and timestamps: what 'nothing changed' compares."""
    async with made() as session:
        units = (await session.scalars(select(Unit).order_by(Unit.id))).all()
        staff = (await session.scalars(
            select(Staff).options(selectinload(Staff.roles)).order_by(Staff.id)
        )).all()
        return {
            "units": [
                (u.id, u.hsa_id, u.name, u.mva_channel, u.settings, u.active, u.updated_at)
                for u in units
            ],
            "staff": [
                (s.id, s.name, s.aad_object_id, s.hsa_id, s.active, s.updated_at,
                 sorted((r.id, r.unit_id, r.role) for r in s.roles))
                for s in staff
            ],
        }


async def roles_of(made: Factory, aad: str) -> set[tuple[str, str]]:
    async with made() as session:
        rows = await session.execute(
            select(Unit.hsa_id, StaffRole.role)
            .join(StaffRole, StaffRole.unit_id == Unit.id)
            .join(Staff, Staff.id == StaffRole.staff_id)
            .where(Staff.aad_object_id == aad)
        )
        return {(hsa, role) for hsa, role in rows.all()}


async def can_act(made: Factory, aad: str, role: str, unit_hsa: str = TNG) -> bool:
    async with made() as session:
        unit = await unit_by_hsa(session, unit_hsa)
        assert unit is not None
        return has_role(await staff_by_aad(session, aad), unit.id, role)


async def audit_loads(made: Factory) -> list[tuple[str, str, dict[str, Any]]]:
    async with made() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "directory.load").order_by(AuditEntry.id)
        )
        return [(a.actor, a.outcome, a.detail) for a in rows.all()]


# -- idempotence -----------------------------------------------------------------------


async def test_first_load_adds_the_sample(made: Factory) -> None:
    report = await load(made, SAMPLE)
    assert (report.units_added, report.units_updated) == (1, 0)
    assert (report.staff_added, report.staff_updated, report.staff_deactivated) == (3, 0, 0)
    assert report.changed is True
    assert await roles_of(made, ANNA) == {(TNG, "physician")}
    assert await roles_of(made, ERIK) == {(TNG, "physician")}
    assert await roles_of(made, MARIA) == {(TNG, "mva")}
    async with made() as session:
        unit = await unit_by_hsa(session, TNG)
        assert unit is not None
        assert unit.name == "Tingvalla vårdcentral"
        assert unit.mva_channel == "19:mva-tingvalla@thread.tacv2"
        assert unit.settings == {"card_identity": "full", "call_in_months": 2,
                                 "letter_tasks_to": "physician"}
        anna = await staff_by_aad(session, ANNA)
        maria = await staff_by_aad(session, MARIA)
        assert anna is not None and anna.hsa_id == "SE2321000156-L1AB" and anna.active
        assert maria is not None and maria.hsa_id is None and maria.active


async def test_loading_the_same_file_twice_changes_nothing(made: Factory) -> None:
    await load(made, SAMPLE)
    before = await snapshot(made)
    report = await load(made, SAMPLE)
    assert report.changed is False
    assert report == LoadReport()
    assert await snapshot(made) == before


async def test_reordered_file_with_same_content_changes_nothing(made: Factory) -> None:
    await load(made, SAMPLE)
    before = await snapshot(made)
    data = sample()
    data["staff"].reverse()
    data["units"][0]["settings"] = dict(reversed(list(data["units"][0]["settings"].items())))
    report = await load(made, dump(data))
    assert report.changed is False
    assert await snapshot(made) == before


# -- staff leaving and coming back ------------------------------------------------------


async def test_person_missing_from_a_new_file_is_deactivated_not_deleted(made: Factory) -> None:
    await load(made, SAMPLE)
    before = await snapshot(made)
    async with made() as session:
        erik = await staff_by_aad(session, ERIK)
        assert erik is not None
        erik_id = erik.id
    assert await can_act(made, ERIK, "physician")

    data = sample()
    data["staff"] = [p for p in data["staff"] if p["aad_object_id"] != ERIK]
    report = await load(made, dump(data))
    assert (report.staff_deactivated, report.staff_updated, report.staff_added) == (1, 0, 0)
    assert report.changed is True

    async with made() as session:
        erik = await staff_by_aad(session, ERIK)
        assert erik is not None, "a person leaving the file must not be deleted"
        assert erik.id == erik_id and erik.active is False
        assert erik.name == "Erik Lund" and erik.hsa_id == "SE2321000156-L1EL"
        unit = await unit_by_hsa(session, TNG)
        assert unit is not None
        assert [p.name for p in await unit_staff(session, unit_id=unit.id, role="physician")] == [
            "Anna Berg"
        ]
    # what the code does: the role rows are kept, but an inactive person holds no role
    assert await roles_of(made, ERIK) == {(TNG, "physician")}
    assert await can_act(made, ERIK, "physician") is False
    # the others are untouched
    after = await snapshot(made)
    assert [s for s in after["staff"] if s[2] != ERIK] == [
        s for s in before["staff"] if s[2] != ERIK
    ]
    assert after["units"] == before["units"]

    # loading the shorter file again: nothing more to deactivate
    again = await load(made, dump(data))
    assert again.changed is False


async def test_person_coming_back_is_reactivated_with_the_same_row(made: Factory) -> None:
    await load(made, SAMPLE)
    data = sample()
    data["staff"] = [p for p in data["staff"] if p["aad_object_id"] != ERIK]
    await load(made, dump(data))
    async with made() as session:
        erik = await staff_by_aad(session, ERIK)
        assert erik is not None and not erik.active
        erik_id = erik.id

    report = await load(made, SAMPLE)
    assert (report.staff_added, report.staff_updated, report.staff_deactivated) == (0, 1, 0)
    async with made() as session:
        erik = await staff_by_aad(session, ERIK)
        assert erik is not None and erik.id == erik_id and erik.active is True
    assert await can_act(made, ERIK, "physician") is True
    assert (await load(made, SAMPLE)).changed is False


async def test_person_coming_back_with_other_roles(made: Factory) -> None:
    await load(made, SAMPLE)
    without = sample()
    without["staff"] = [p for p in without["staff"] if p["aad_object_id"] != MARIA]
    await load(made, dump(without))
    assert await can_act(made, MARIA, "mva") is False

    back = sample()
    person(back, MARIA)["units"] = {TNG: ["mva", "admin"]}
    report = await load(made, dump(back))
    assert report.staff_updated == 1
    assert await roles_of(made, MARIA) == {(TNG, "mva"), (TNG, "admin")}
    assert await can_act(made, MARIA, "mva") and await can_act(made, MARIA, "admin")


# -- roles and units ----------------------------------------------------------------------


async def test_changed_role_set_is_applied(made: Factory) -> None:
    await load(made, SAMPLE)
    before = await snapshot(made)
    maria_role_ids = next(s[6] for s in before["staff"] if s[2] == MARIA)

    data = sample()
    data["units"].append({"hsa_id": "SE2321000156-7NYA", "name": "Nyby vårdcentral",
                          "mva_channel": "19:mva-nyby@thread.tacv2"})
    person(data, ANNA)["units"] = {TNG: ["admin"], "SE2321000156-7NYA": ["physician"]}
    person(data, MARIA)["units"] = {TNG: ["mva", "admin"]}
    person(data, ERIK)["name"] = "Erik Lund-Ek"
    report = await load(made, dump(data))
    assert (report.units_added, report.units_updated) == (1, 0)
    assert (report.staff_added, report.staff_updated, report.staff_deactivated) == (0, 3, 0)

    assert await roles_of(made, ANNA) == {(TNG, "admin"), ("SE2321000156-7NYA", "physician")}
    assert await can_act(made, ANNA, "physician") is False
    assert await can_act(made, ANNA, "admin") is True
    assert await can_act(made, ANNA, "physician", "SE2321000156-7NYA") is True
    assert await roles_of(made, MARIA) == {(TNG, "mva"), (TNG, "admin")}
    assert await roles_of(made, ERIK) == {(TNG, "physician")}

    after = await snapshot(made)
    # the role Maria kept is the same row; only the new one was added
    kept = next(s[6] for s in after["staff"] if s[2] == MARIA)
    assert maria_role_ids[0] in kept and len(kept) == 2
    # the removed role row is gone, not left behind
    async with made() as session:
        count = await session.scalar(select(func.count()).select_from(StaffRole))
        assert count == 5  # Anna 2, Maria 2, Erik 1
        erik = await staff_by_aad(session, ERIK)
        assert erik is not None and erik.name == "Erik Lund-Ek"
    assert (await load(made, dump(data))).changed is False


async def test_unit_settings_are_updated(made: Factory) -> None:
    await load(made, SAMPLE)
    async with made() as session:
        unit = await unit_by_hsa(session, TNG)
        assert unit is not None
        unit_id = unit.id

    data = sample()
    data["units"][0]["name"] = "Tingvalla VC"
    data["units"][0]["mva_channel"] = "19:ny-kanal@thread.tacv2"
    data["units"][0]["settings"] = {"card_identity": "masked", "call_in_months": 3,
                                    "letter_tasks_to": "mva"}
    report = await load(made, dump(data))
    assert (report.units_added, report.units_updated) == (0, 1)
    assert (report.staff_added, report.staff_updated, report.staff_deactivated) == (0, 0, 0)
    async with made() as session:
        unit = await unit_by_hsa(session, TNG)
        assert unit is not None and unit.id == unit_id
        assert unit.name == "Tingvalla VC"
        assert unit.mva_channel == "19:ny-kanal@thread.tacv2"
        assert unit.settings == {"card_identity": "masked", "call_in_months": 3,
                                 "letter_tasks_to": "mva"}
        assert unit.setting("card_identity") == "masked"
        assert unit.setting("retention_days") == DEFAULT_UNIT_SETTINGS["retention_days"]
    # staff roles in the unit are untouched by a settings change
    assert await can_act(made, ANNA, "physician")

    # settings are replaced, not merged: a setting left out falls back to the default
    data["units"][0]["settings"] = {"call_in_months": 3}
    report = await load(made, dump(data))
    assert report.units_updated == 1
    async with made() as session:
        unit = await unit_by_hsa(session, TNG)
        assert unit is not None
        assert unit.settings == {"call_in_months": 3}
        assert unit.setting("card_identity") == "full"
        assert unit.setting("letter_tasks_to") == "physician"
    assert (await load(made, dump(data))).changed is False


async def test_physio_due_working_days_defaults_to_5(made: Factory) -> None:
    await load(made, SAMPLE)
    async with made() as session:
        unit = await unit_by_hsa(session, TNG)
        assert unit is not None and unit.setting("physio_due_working_days") == 5
    data = sample()
    data["units"][0]["settings"]["physio_due_working_days"] = 10
    await load(made, dump(data))
    async with made() as session:
        unit = await unit_by_hsa(session, TNG)
        assert unit is not None and unit.setting("physio_due_working_days") == 10


async def test_settings_may_be_left_out(made: Factory) -> None:
    data = sample()
    del data["units"][0]["settings"]
    await load(made, dump(data))
    async with made() as session:
        unit = await unit_by_hsa(session, TNG)
        assert unit is not None and unit.settings == {}
        assert unit.setting("call_in_months") == 2
    assert (await load(made, dump(data))).changed is False


# -- malformed files --------------------------------------------------------------------


def _bad(mutate: Any) -> str:
    data = sample()
    mutate(data)
    return dump(data)


def _unit_without_hsa(data: dict[str, Any]) -> None:
    del data["units"][0]["hsa_id"]


def _duplicate_unit(data: dict[str, Any]) -> None:
    data["units"].append({**data["units"][0], "name": "Tvilling"})


def _duplicate_aad(data: dict[str, Any]) -> None:
    data["staff"].append({**data["staff"][0], "name": "Anna Kopia", "hsa_id": None})


def _duplicate_staff_hsa(data: dict[str, Any]) -> None:
    person(data, ERIK)["hsa_id"] = "SE2321000156-L1AB"


def _staff_hsa_not_text(data: dict[str, Any]) -> None:
    person(data, MARIA)["hsa_id"] = 12345


def _unknown_role(data: dict[str, Any]) -> None:
    person(data, MARIA)["units"] = {TNG: ["mva", "secretary"]}


def _unknown_unit(data: dict[str, Any]) -> None:
    person(data, ANNA)["units"] = {TNG: ["physician"], "SE0000000000-NONE": ["physician"]}


def _unknown_setting(data: dict[str, Any]) -> None:
    data["units"][0]["settings"]["colour"] = "blue"


def _bad_identity(data: dict[str, Any]) -> None:
    data["units"][0]["settings"]["card_identity"] = "everything"


def _months(value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        data["units"][0]["settings"]["call_in_months"] = value

    return mutate


def _physio_days(value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        data["units"][0]["settings"]["physio_due_working_days"] = value

    return mutate


PHYSIO_DAYS = "units[0].settings.physio_due_working_days: a whole number of working days, 1–60"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("units: [unclosed\n  - {", ["not valid YAML"], id="not-yaml"),
        pytest.param("- just\n- a list\n", ["must be a mapping"], id="not-a-mapping"),
        pytest.param("", ["must be a mapping"], id="empty"),
        pytest.param("units: Tingvalla\nstaff: []\n", ["units: must be a list"], id="units-text"),
        pytest.param(_bad(_unit_without_hsa), ["units[0].hsa_id: required text",
                                                f"staff[0].units.{TNG}: not a unit of this file"],
                     id="unit-without-hsa"),
        pytest.param(_bad(_duplicate_unit), [f"units[1].hsa_id: {TNG} listed twice"],
                     id="duplicate-unit-hsa"),
        pytest.param(_bad(_duplicate_aad), [f"staff[3].aad_object_id: {ANNA} listed twice"],
                     id="duplicate-aad"),
        pytest.param(_bad(_duplicate_staff_hsa),
                     ["staff[1].hsa_id: SE2321000156-L1AB listed twice"],
                     id="duplicate-staff-hsa"),
        pytest.param(_bad(_staff_hsa_not_text), ["staff[2].hsa_id: must be text"],
                     id="staff-hsa-not-text"),
        pytest.param(_bad(_unknown_role), [f"staff[2].units.{TNG}: unknown role 'secretary'"],
                     id="unknown-role"),
        pytest.param(_bad(_unknown_unit),
                     ["staff[0].units.SE0000000000-NONE: not a unit of this file"],
                     id="unknown-unit"),
        pytest.param(_bad(_unknown_setting), ["units[0].settings.colour: unknown setting"],
                     id="unknown-setting"),
        pytest.param(_bad(_bad_identity), ["units[0].settings.card_identity: one of full"],
                     id="bad-card-identity"),
        pytest.param(_bad(_months(0)), ["units[0].settings.call_in_months"], id="months-0"),
        pytest.param(_bad(_months(13)), ["units[0].settings.call_in_months"], id="months-13"),
        pytest.param(_bad(_months("2")), ["units[0].settings.call_in_months"], id="months-text"),
        pytest.param(_bad(_months(True)), ["units[0].settings.call_in_months"], id="months-bool"),
        pytest.param(_bad(_months(2.5)), ["units[0].settings.call_in_months"], id="months-float"),
        pytest.param(_bad(_physio_days(0)), [PHYSIO_DAYS], id="physio-days-0"),
        pytest.param(_bad(_physio_days(61)), [PHYSIO_DAYS], id="physio-days-61"),
        pytest.param(_bad(_physio_days("5")), [PHYSIO_DAYS], id="physio-days-text"),
        pytest.param(_bad(_physio_days(True)), [PHYSIO_DAYS], id="physio-days-bool"),
    ],
)
async def test_malformed_file_is_refused_and_changes_nothing(
    made: Factory, text: str, expected: list[str]
) -> None:
    with pytest.raises(DirectoryError) as raised:
        parse_directory(text)
    problems = raised.value.problems
    for wanted in expected:
        assert any(wanted in p for p in problems), (wanted, problems)
    assert isinstance(raised.value, ValueError)

    await load(made, SAMPLE)
    before = await snapshot(made)
    loads_before = await audit_loads(made)
    with pytest.raises(DirectoryError) as again:
        await load(made, text)
    assert again.value.problems == problems
    assert await snapshot(made) == before
    assert await audit_loads(made) == loads_before


def test_every_problem_is_listed_at_once() -> None:
    data = sample()
    data["units"][0]["settings"] = {"card_identity": "everything", "call_in_months": 24,
                                    "colour": "blue"}
    data["units"].append({"name": "Utan id"})
    data["units"].append({**data["units"][0], "name": "Tvilling", "settings": {}})
    data["staff"].append({**data["staff"][0], "name": "Anna Kopia", "hsa_id": None})
    person(data, MARIA)["units"] = {TNG: ["mva", "secretary"], "SE0000000000-NONE": ["mva"]}
    with pytest.raises(DirectoryError) as raised:
        parse_directory(dump(data))
    problems = raised.value.problems
    expected = [
        "units[0].settings.colour: unknown setting",
        "units[0].settings.card_identity: one of full, masked, reference",
        "units[0].settings.call_in_months: a whole number 1–12",
        "units[1].hsa_id: required text",
        f"units[2].hsa_id: {TNG} listed twice",
        f"staff[2].units.{TNG}: unknown role 'secretary'",
        "staff[2].units.SE0000000000-NONE: not a unit of this file",
        f"staff[3].aad_object_id: {ANNA} listed twice",
    ]
    for wanted in expected:
        assert wanted in problems, (wanted, problems)
    assert len(problems) == len(expected), problems
    # the message names every problem too
    for wanted in expected:
        assert wanted in str(raised.value)


# -- audit ----------------------------------------------------------------------------


async def test_every_load_writes_one_audit_row(made: Factory) -> None:
    await load(made, SAMPLE, actor="cli:first")
    await load(made, SAMPLE, actor="cli:second")
    data = sample()
    data["staff"] = [p for p in data["staff"] if p["aad_object_id"] != ERIK]
    await load(made, dump(data), actor="cli:third")
    nothing = {"units_added": 0, "units_updated": 0, "staff_added": 0, "staff_updated": 0,
               "staff_deactivated": 0}
    assert await audit_loads(made) == [
        ("cli:first", "ok", {**nothing, "units_added": 1, "staff_added": 3}),
        ("cli:second", "ok", nothing),
        ("cli:third", "ok", {**nothing, "staff_deactivated": 1}),
    ]
