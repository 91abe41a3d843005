"""The intake reads the receiving unit's physicians with the unit (issue 15): the same
people, in the same order, as `directory.unit_staff` lists; the named physician found
among them; the decision card's choices are they."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.cases import answers
from bot.cases.models import Case
from bot.directory import service as directory
from bot.directory.enums import Role
from bot.directory.models import Staff, StaffRole, Unit
from bot.outbox.models import OutboxMessage
from tests.helpers import card_of_row, ingest_sample

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
UNIT = "SE2321000156-7TNG"
OTHER_UNIT = "SE2321000156-9OTH"


async def _more_people(factory: Any) -> None:
    """Beside Anna and Erik: an inactive physician, a physician of another unit only, an
    MVA and physician of the unit sorting first, a unit without physicians."""
    async with factory() as session, session.begin():
        unit = await session.scalar(select(Unit).where(Unit.hsa_id == UNIT))
        other = Unit(hsa_id=OTHER_UNIT, name="Annan enhet", settings={})
        session.add(other)
        await session.flush()
        people = [
            ("Bo Borta", "aad-bo", "HSA-BO", False, [(unit.id, Role.PHYSICIAN)]),
            ("Cecilia Annan", "aad-ce", "HSA-CE", True, [(other.id, Role.PHYSICIAN)]),
            (
                "Aina Ahl",
                "aad-ai",
                "HSA-AI",
                True,
                [(unit.id, Role.MVA), (unit.id, Role.PHYSICIAN), (other.id, Role.MVA)],
            ),
        ]
        for name, aad, hsa, active, roles in people:
            person = Staff(name=name, aad_object_id=aad, hsa_id=hsa, active=active)
            person.roles = [StaffRole(unit_id=u, role=r) for u, r in roles]
            session.add(person)


def _people(staff: Any) -> list[tuple[int, str, str, str | None, bool]]:
    return [(p.id, p.name, p.aad_object_id, p.hsa_id, p.active) for p in staff]


async def test_physicians_read_with_the_unit_are_unit_staff(factory: Any) -> None:
    await _more_people(factory)
    async with factory() as session:
        found = await answers.current_answer(session, unit_hsa=UNIT, system="s", value="v")
        assert found is not None and found.current is None
        assert found.unit.hsa_id == UNIT
        listed = await directory.unit_staff(session, unit_id=found.unit.id, role=Role.PHYSICIAN)
        assert _people(found.physicians) == _people(listed)
        assert [p.name for p in found.physicians] == ["Aina Ahl", "Anna Berg", "Erik Lund"]

        other = await answers.current_answer(session, unit_hsa=OTHER_UNIT, system="s", value="v")
        assert other is not None and other.unit.hsa_id == OTHER_UNIT
        assert [p.name for p in other.physicians] == ["Cecilia Annan"]
        assert await answers.current_answer(session, unit_hsa="nope", system="s", value="v") is None


async def test_decision_card_lists_the_units_physicians(factory: Any) -> None:
    await _more_people(factory)
    case_id = await ingest_sample(factory, "01_osteoporosis_named.json", now=NOW)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and case.physician_id is not None
        named = await session.get(Staff, case.physician_id)
        assert named is not None and named.name == "Anna Berg"
        card_row = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.case_id == case_id, OutboxMessage.purpose == "decision_card"
            )
        )
        assert card_row is not None and card_row.target == named.aad_object_id
    card = await card_of_row(factory, card_row, now=NOW)  # after: SQLite has one connection
    choices = _choice_set(card, "visit_physician")
    assert [c["title"] for c in choices] == ["Aina Ahl", "Anna Berg", "Erik Lund"]
    assert choices[1]["value"] == named.aad_object_id
    others = _choice_set(card, "physician")  # "Fördela om": all but the named one
    assert [c["title"] for c in others] == ["Aina Ahl", "Erik Lund"]


def _choice_set(items: Any, wanted: str) -> list[dict[str, str]]:
    """The choices of the Input.ChoiceSet with id `wanted`, anywhere in the card."""
    stack = [items]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "Input.ChoiceSet" and item.get("id") == wanted:
                return list(item["choices"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    raise AssertionError(f"no choice set {wanted}")
