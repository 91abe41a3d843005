"""Booking the call-in visit ("Boka läkartid"): a time already passed is refused, in
Swedish and in Stockholm time; a time later the same day is taken."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select

from bot.core.calendar import STOCKHOLM
from bot.db import transaction
from bot.directory.actor import Actor
from bot.directory.service import staff_by_aad
from bot.flows import complete_task, decide
from bot.flows.result import Done, Refused
from bot.tasks.models import Task
from bot.visits.models import Visit
from tests.harness import ANNA, ERIK, MARIA
from tests.helpers import ingest_sample

DAY = date(2026, 12, 4)
NOW = datetime.combine(DAY, time(10, 0), tzinfo=STOCKHOLM)  # 09:00 UTC


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A booking as the card sends it: Stockholm wall time."""
    return datetime.combine(day, time(hour, minute), tzinfo=STOCKHOLM)


async def _booking_task(factory: Any) -> int:
    case_id = await ingest_sample(factory, "01_osteoporosis_named.json", now=NOW)
    async with transaction(factory) as session:
        anna = await staff_by_aad(session, ANNA["aad"])
        decided = await decide.decide_case(
            session,
            case_id=case_id,
            version=1,
            decision="call_in",
            note=None,
            visit_physician_aad=ERIK["aad"],
            reassign_to_aad=None,
            actor=Actor.clicker(anna, ANNA["aad"]),
            now=NOW,
        )
        assert isinstance(decided, Done), decided
        return next(t.id for t in decided.tasks if t.kind == "book_visit")


async def _book(factory: Any, task_id: int, booked_at: datetime) -> Done | Refused:
    async with transaction(factory) as session:
        maria = await staff_by_aad(session, MARIA["aad"])
        result = await complete_task.complete_task(
            session,
            task_id=task_id,
            note=None,
            booked_at=booked_at,
            actor=Actor.clicker(maria, MARIA["aad"]),
            now=NOW,
        )
        assert isinstance(result, Done | Refused), result
        return result


async def test_a_booking_earlier_today_is_refused(db_url: str, factory: Any) -> None:
    task_id = await _booking_task(factory)
    refused = await _book(factory, task_id, at(DAY, 8))
    assert isinstance(refused, Refused)
    assert refused.reason == "booking in the past"
    assert refused.message == "Tiden har redan passerat (2026-12-04 08:00). Välj en senare tid."
    async with factory() as session:
        task = await session.get(Task, task_id)
        assert task is not None and task.status == "open" and task.booked_at is None
        assert (await session.scalars(select(Visit))).all() == []


async def test_a_booking_on_a_past_day_and_a_minute_ago_are_refused(
    db_url: str, factory: Any
) -> None:
    task_id = await _booking_task(factory)
    for booked_at, shown in (
        (at(date(2026, 12, 3), 15, 30), "2026-12-03 15:30"),
        (at(DAY, 9, 59), "2026-12-04 09:59"),
    ):
        refused = await _book(factory, task_id, booked_at)
        assert isinstance(refused, Refused)
        assert refused.message == f"Tiden har redan passerat ({shown}). Välj en senare tid."


async def test_a_booking_later_today_is_taken(db_url: str, factory: Any) -> None:
    task_id = await _booking_task(factory)
    done = await _book(factory, task_id, at(DAY, 10, 30))
    assert isinstance(done, Done)
    async with factory() as session:
        [visit] = (await session.scalars(select(Visit))).all()
        assert visit.booked_at == at(DAY, 10, 30)
        task = await session.get(Task, task_id)
        assert task is not None and task.status == "done"
