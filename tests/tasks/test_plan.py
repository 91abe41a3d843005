"""The tasks a decision creates (SPEC 2.2), with literal due dates, through
`bot.flows.decide.decide_case`."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select

from bot.cases.models import Case, Decision
from bot.core.calendar import add_working_days, holidays_in
from bot.db import transaction
from bot.directory.actor import Actor
from bot.directory.service import DirectoryError, load_directory, parse_directory, staff_by_aad
from bot.flows.decide import decide_case
from bot.flows.result import Done
from bot.tasks.models import Task
from tests.helpers import ingest_sample

STOCKHOLM = ZoneInfo("Europe/Stockholm")
DIRECTORY = Path(__file__).resolve().parent.parent / "fixtures" / "directory.yaml"
ANNA = "00000000-0000-0000-0000-000000000101"
ERIK = "00000000-0000-0000-0000-000000000103"
RECEIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DECIDED = datetime(2026, 12, 22, 10, 0, tzinfo=STOCKHOLM)
BOOKING = "Frakturkedjepatient – osteoporospaket ska tas före läkarbesöket"


async def _case(factory: Any, sample: str = "01_osteoporosis_named.json") -> int:
    return await ingest_sample(factory, sample, now=RECEIVED)


async def _decide(factory: Any, decision: str, *, now: datetime = DECIDED,
                  note: str | None = None, visit: str | None = None,
                  by: str = ANNA) -> tuple[int, list[Task]]:
    case_id = await _case(factory)
    async with transaction(factory) as session:
        actor = await staff_by_aad(session, by)
        outcome = await decide_case(
            session, case_id=case_id, version=1, decision=decision, note=note,
            visit_physician_aad=visit, reassign_to_aad=None, actor=Actor.clicker(actor, by),
            now=now, confirmed=True,  # the sample is osteoporotic: a "normal" decision confirms
        )
        assert isinstance(outcome, Done), outcome
    async with factory() as session:
        tasks = (
            await session.scalars(
                select(Task).where(Task.case_id == case_id).order_by(Task.position)
            )
        ).all()
    return case_id, list(tasks)


async def _reload_directory(factory: Any, **settings: Any) -> None:
    data = yaml.safe_load(DIRECTORY.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["units"][0]["settings"].update(settings)
    async with transaction(factory) as session:
        report = await load_directory(session, yaml.safe_dump(data, allow_unicode=True),
                                      actor="test")
    assert report.units_updated == 1


def _rows(tasks: list[Task]) -> list[tuple[Any, ...]]:
    return [(t.position, t.kind, t.assignee_role,
             t.assignee.name if t.assignee else None, t.due, t.status) for t in tasks]


# -- the calendar this file relies on -----------------------------------------------------


def test_christmas_2026_in_the_holiday_rules() -> None:
    """2026-12-22 is a Tuesday; the 24th (julafton, de facto) and 25th (juldagen) are
    holidays and the 26th/27th a weekend, so three working days end on Tuesday the 29th."""
    assert date(2026, 12, 22).weekday() == 1
    assert {date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26),
            date(2026, 12, 31)} <= holidays_in(2026)
    assert date(2026, 12, 23) not in holidays_in(2026)
    assert add_working_days(date(2026, 12, 22), 3) == date(2026, 12, 29)


# -- call_in -------------------------------------------------------------------------


async def test_call_in_before_christmas(db_url: str, factory: Any) -> None:
    case_id, tasks = await _decide(factory, "call_in")
    assert _rows(tasks) == [
        (1, "waitlist", "mva", None, date(2026, 12, 29), "open"),
        (2, "invitation_letter", "mva", None, date(2026, 12, 29), "open"),
        (3, "lab_package", "mva", None, date(2026, 12, 29), "open"),
        (4, "book_visit", "mva", None, date(2027, 2, 22), "open"),
    ]
    assert [t.title for t in tasks] == [
        "Sätt upp på väntelista (VL) till läkare",
        "Skicka brev: svar på bentäthetsmätning och kallelse inom 2 månader",
        "Beställ prover: Osteoporospaket",
        "Boka läkartid",
    ]
    assert all(t.assignee_id is None and t.created_at == DECIDED for t in tasks)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and case.state == "decided" and case.version == 2
        assert case.decided_at == DECIDED
        decision = await session.scalar(select(Decision).where(Decision.case_id == case_id))
        assert decision is not None and decision.kind == "call_in"
        assert decision.visit_physician_id == decision.by_id


async def test_booking_note_names_the_visit_physician(db_url: str, factory: Any) -> None:
    _, tasks = await _decide(factory, "call_in", visit=ERIK, note="Tolk behövs")
    waitlist, _, _, book = tasks
    assert waitlist.description is not None
    assert BOOKING in waitlist.description
    assert waitlist.description == (
        f'Bokningsunderlag: "{BOOKING}". Läkare: Erik Lund. Anteckning: Tolk behövs'
    )
    assert book.description == "Läkarbesök hos Erik Lund senast inom 2 månader från beslutet."


async def test_booking_note_defaults_to_the_deciding_physician(db_url: str, factory: Any) -> None:
    _, tasks = await _decide(factory, "call_in")
    assert tasks[0].description == f'Bokningsunderlag: "{BOOKING}". Läkare: Anna Berg.'
    assert tasks[3].description is not None and "Anna Berg" in tasks[3].description


async def test_call_in_months_setting_moves_the_visit(db_url: str, factory: Any) -> None:
    await _reload_directory(factory, call_in_months=3)
    _, tasks = await _decide(factory, "call_in")
    assert [t.due for t in tasks] == [date(2026, 12, 29)] * 3 + [date(2027, 3, 22)]
    assert tasks[1].title == "Skicka brev: svar på bentäthetsmätning och kallelse inom 3 månader"
    assert tasks[3].description == "Läkarbesök hos Anna Berg senast inom 3 månader från beslutet."


async def test_new_years_eve_in_utc_is_new_years_day_in_stockholm(
    db_url: str, factory: Any
) -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 January in Stockholm
    _, tasks = await _decide(factory, "call_in", now=late)
    # 1 Jan (holiday) -> 4, 5 Jan; 6 Jan is trettondedag jul; the third working day is 7 Jan
    assert [t.due for t in tasks] == [date(2027, 1, 7)] * 3 + [date(2027, 3, 1)]


async def test_new_years_eve_letter_is_due_a_week_after_new_years_day(
    db_url: str, factory: Any
) -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    _, [task] = await _decide(factory, "normal_letter", now=late)
    assert task.due == date(2027, 1, 8)


async def test_month_end_is_clamped(db_url: str, factory: Any) -> None:
    _, tasks = await _decide(factory, "call_in",
                             now=datetime(2026, 12, 31, 10, 0, tzinfo=STOCKHOLM))
    assert tasks[3].due == date(2027, 2, 28)


# -- normal_letter, normal_call, other -----------------------------------------------------


async def test_normal_letter_goes_to_the_deciding_physician(db_url: str, factory: Any) -> None:
    _, tasks = await _decide(factory, "normal_letter", by=ERIK)
    assert _rows(tasks) == [(1, "normal_letter", "physician", "Erik Lund", date(2026, 12, 29),
                             "open")]
    assert tasks[0].title == "Skicka brevsvar om normal bentäthet"
    assert tasks[0].description is None


async def test_normal_letter_goes_to_mva_when_the_unit_says_so(db_url: str, factory: Any) -> None:
    await _reload_directory(factory, letter_tasks_to="mva")
    _, tasks = await _decide(factory, "normal_letter")
    assert _rows(tasks) == [(1, "normal_letter", "mva", None, date(2026, 12, 29), "open")]


async def test_normal_call_stays_with_the_physician_even_with_letters_to_mva(
    db_url: str, factory: Any
) -> None:
    await _reload_directory(factory, letter_tasks_to="mva")
    _, tasks = await _decide(factory, "normal_call")
    assert _rows(tasks) == [(1, "normal_call", "physician", "Anna Berg", date(2026, 12, 29),
                             "open")]
    assert tasks[0].title == "Ring patienten om normalt svar"


async def test_other_is_one_task_with_the_physicians_text(db_url: str, factory: Any) -> None:
    _, tasks = await _decide(factory, "other", note="  Remiss till fysioterapeut  ")
    assert _rows(tasks) == [(1, "other", "physician", "Anna Berg", date(2027, 1, 5), "open")]
    assert tasks[0].title == "Remiss till fysioterapeut"
    assert tasks[0].description is None


async def test_other_with_a_long_text_keeps_it_whole(db_url: str, factory: Any) -> None:
    text = "Ring " + "x" * 700
    _, [task] = await _decide(factory, "other", note=text)
    assert task.title == text[:500]
    assert task.description == text


# -- unit task texts -------------------------------------------------------------------


def test_task_texts_is_a_known_unit_setting() -> None:
    data = yaml.safe_load(DIRECTORY.read_text(encoding="utf-8"))
    data["units"][0]["settings"]["task_texts"] = {"book_visit": "Boka tid hos läkare"}
    parsed = parse_directory(yaml.safe_dump(data, allow_unicode=True))
    assert parsed.units[0].settings.task_texts == {"book_visit": "Boka tid hos läkare"}


async def test_task_texts_setting_overrides_titles(db_url: str, factory: Any) -> None:
    await _reload_directory(factory, call_in_months=3, task_texts={
        "waitlist": "VL läkare (frakturkedjan)",
        "invitation_letter": "Kallelse inom {months} mån",
    })
    _, tasks = await _decide(factory, "call_in")
    assert [t.title for t in tasks] == [
        "VL läkare (frakturkedjan)",
        "Kallelse inom 3 mån",
        "Beställ prover: Osteoporospaket",
        "Boka läkartid",
    ]
    # the booking note is not a title and stays as the routine says
    assert tasks[0].description is not None and BOOKING in tasks[0].description


@pytest.mark.parametrize(
    "value",
    [["waitlist"], "Boka", {"waitlist": 3}, {"waitlist": ""}],
)
def test_malformed_task_texts_are_refused(value: Any) -> None:
    data = yaml.safe_load(DIRECTORY.read_text(encoding="utf-8"))
    data["units"][0]["settings"]["task_texts"] = value
    with pytest.raises(DirectoryError) as raised:
        parse_directory(yaml.safe_dump(data, allow_unicode=True))
    assert raised.value.problems == [
        "units[0].settings.task_texts: a mapping of task kind to text"
    ]
