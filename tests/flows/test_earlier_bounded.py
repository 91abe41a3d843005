"""A patient with many earlier cases (issue 15): the decision card lists the latest
`EARLIER_SHOWN` of them and counts the others, and the re-fracture flag still weighs every
earlier case, shown or not. In process, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.db import transaction
from bot.demo import fresh_answer
from bot.messaging.earlier import EARLIER_SHOWN, more_line
from bot.outbox.models import OutboxMessage
from bot.teams import actions
from bot.visits.models import FollowUp, Visit
from tests.harness import card_text, check_card
from tests.helpers import card_of_row, fixture_bytes, ingest_body

ANNA = "00000000-0000-0000-0000-000000000101"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SAMPLE = fixture_bytes("01_osteoporosis_named.json")  # with an index fracture


async def _answer(factory: Any, n: int) -> int:
    """The sample for the same patient with fresh identifiers, received on day `n`."""
    now = T0 + timedelta(days=n)
    return await ingest_body(factory, fresh_answer(SAMPLE, now=now, suffix=f"n{n}"), now=now)


async def _decision_card_text(factory: Any, case_id: int) -> str:
    async with factory() as session:
        message = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.case_id == case_id, OutboxMessage.purpose == "decision_card"
            )
        )
    assert message is not None
    card = await card_of_row(factory, message, now=T0 + timedelta(days=30))
    check_card(card)
    return card_text(card)


def _earlier_lines(text: str) -> list[str]:
    """The lines of "Tidigare i frakturkedjan": one per listed case, then the count."""
    return [line for line in text.splitlines() if re.match(r"Ärende \d+ \(|… och ", line)]


async def test_the_card_lists_the_latest_earlier_cases_and_counts_the_others(
    factory: Any,
) -> None:
    assert EARLIER_SHOWN == 3
    ids = [await _answer(factory, n) for n in range(5)]

    # five answers, none decided: the fifth lists the 2nd-4th and counts the first
    text = await _decision_card_text(factory, ids[4])
    assert "Tidigare i frakturkedjan" in text and "återfraktur" not in text
    assert _earlier_lines(text) == [
        f"Ärende {ids[1]} (2026-11-21): inget beslut",
        f"Ärende {ids[2]} (2026-11-22): inget beslut",
        f"Ärende {ids[3]} (2026-11-23): inget beslut",
        "… och 1 äldre ärende",
    ]

    # the first case is decided, then two more answers come: the seventh has six earlier
    # cases; the decided one is not listed, yet it makes the new fracture a re-fracture
    data = {"case_id": ids[0], "version": 1, "decision": "call_in", "note": "Tolk"}
    invoke = actions.Invoke(actor_aad=ANNA, now=T0 + timedelta(days=5), trigger="manual")
    answer = await actions.dispatch(factory, "case.decide", data, invoke)
    assert answer.decision == "call_in", answer.error
    ids += [await _answer(factory, n) for n in (6, 7)]
    text = await _decision_card_text(factory, ids[6])
    assert "Tidigare i frakturkedjan – ny fraktur efter tidigare beslut (återfraktur)" in text
    assert _earlier_lines(text) == [
        f"Ärende {ids[3]} (2026-11-23): inget beslut",
        f"Ärende {ids[4]} (2026-11-24): inget beslut",
        f"Ärende {ids[5]} (2026-11-26): inget beslut",
        "… och 3 äldre ärenden",
    ]
    assert f"Ärende {ids[0]} (" not in text  # the decided case is among the counted


async def test_a_decision_after_the_answer_arrived_is_no_refracture(factory: Any) -> None:
    first = await _answer(factory, 0)
    second = await _answer(factory, 1)
    # the second answer's card as the worker draws it on sending, before the decision
    text = await _decision_card_text(factory, second)
    assert _earlier_lines(text) == [f"Ärende {first} (2026-11-20): inget beslut"]
    assert "återfraktur" not in text
    data = {"case_id": first, "version": 1, "decision": "call_in", "note": "Tolk"}
    invoke = actions.Invoke(actor_aad=ANNA, now=T0 + timedelta(days=2), trigger="manual")
    assert (await actions.dispatch(factory, "case.decide", data, invoke)).decision == "call_in"
    # drawn again after it (an update): the decision listed, still no re-fracture, as
    # the first case was decided after the second answer arrived
    text = await _decision_card_text(factory, second)
    assert _earlier_lines(text) == [f"Ärende {first} (2026-11-20): Kalla till läkarbesök"]
    assert "återfraktur" not in text


def test_the_count_line_is_swedish_and_names_no_one() -> None:
    assert more_line(1) == "… och 1 äldre ärende"
    assert more_line(12) == "… och 12 äldre ärenden"


async def test_a_listed_case_shows_its_treatment_and_latest_recorded_follow_up(
    factory: Any,
) -> None:
    first = await _answer(factory, 0)
    data = {"case_id": first, "version": 1, "decision": "call_in", "note": "Tolk"}
    invoke = actions.Invoke(actor_aad=ANNA, now=T0 + timedelta(hours=1), trigger="manual")
    assert (await actions.dispatch(factory, "case.decide", data, invoke)).decision == "call_in"
    day = T0 + timedelta(days=1)
    async with transaction(factory) as session:  # the visit and follow-ups as recorded
        session.add(
            Visit(case_id=first, booked_at=day, recorded_at=day, treatment_drug="alendronat")
        )
        for number, recorded, on_treatment in ((1, 2, True), (2, 3, False), (3, None, None)):
            session.add(
                FollowUp(
                    case_id=first,
                    number=number,
                    due=(day + timedelta(days=number)).date(),
                    created_at=day,
                    recorded_at=T0 + timedelta(days=recorded) if recorded else None,
                    on_treatment=on_treatment,
                    new_fracture=number == 2,
                )
            )
    second = await _answer(factory, 5)
    text = await _decision_card_text(factory, second)
    assert _earlier_lines(text) == [
        f"Ärende {first} (2026-11-20): Kalla till läkarbesök, Alendronat, "
        "senaste uppföljning 2026-11-23, behandling avslutad, ny fraktur"
    ]
    assert "återfraktur" in text
