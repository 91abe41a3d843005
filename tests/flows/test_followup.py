"""Follow-up after the visit (SPEC 2.4, verb `followup.record`): the case goes to
`follow_up`, the physician gets the follow-up card on the planned date, recording it plans
the next or closes the case. Over loopback HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from bot.core.calendar import STOCKHOLM, add_working_days, local_date
from bot.db import utcnow
from bot.jobs.checklists import send_due_checklists
from bot.jobs.service import run_daily
from bot.visits.models import FollowUp
from tests.harness import (
    ANNA,
    CHANNEL,
    ERIK,
    MARIA,
    FakeConnector,
    Teams,
    actions_of,
    card_of,
    card_text,
    check_card,
    error_of,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes

ANNA_CHAT = personal_conversation(ANNA)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=STOCKHOLM)


async def _visit_recorded(
    teams: Teams, connector: FakeConnector, factory: Any, **checklist: Any
) -> int:
    """A call-in case of Anna's, its tasks done and its visit recorded by her with
    `checklist`; its id."""
    for person in (ANNA, ERIK, MARIA):
        await teams.install_personal(person)
    await teams.install_channel(MARIA)
    status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
    [decision] = await connector.wait_count(ANNA_CHAT, 1)
    assert decision.card is not None
    data = next(a["data"] for a in actions_of(decision.card) if a["data"]["decision"] == "call_in")
    await teams.invoke(ANNA, "case.decide", data)
    [tasks] = await connector.wait_count(CHANNEL, 1)
    assert tasks.card is not None
    today = local_date(utcnow()).isoformat()
    for action in actions_of(tasks.card):
        if action["verb"] != "task.complete":
            continue
        booking = {"booked_date": today, "booked_time": "23:59"}
        await teams.invoke(
            MARIA, "task.complete", {**action["data"], **booking}, conversation_id=CHANNEL
        )
    assert await send_due_checklists(factory, now=utcnow()) == 1
    status, answer = await teams.invoke(
        ANNA, "visit.record", {"case_id": body["case_id"], "patient_informed": "true", **checklist}
    )
    card_of(answer)
    return int(body["case_id"])


async def _followup_card(connector: FakeConnector, number: int) -> dict[str, Any]:
    """The card of follow-up `number` posted to Anna."""
    heading = f"Uppföljning {number} – frakturkedjan"

    def posted() -> dict[str, Any] | None:
        cards = [s.card for s in connector.to(ANNA_CHAT) if s.card is not None]
        return next((c for c in cards if heading in card_text(c)), None)

    card: dict[str, Any] = await connector.wait_for(posted)
    check_card(card)
    return card


async def test_a_visit_without_follow_up_closes_the_case(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id = await _visit_recorded(teams, connector, factory, treatment="alendronat")
        status, case = await teams.case(case_id)
        assert case["state"] == "closed"


async def test_follow_up_card_on_the_day_then_the_next_then_closed(
    db_url: str, factory: Any
) -> None:
    today = local_date(utcnow())
    first = add_working_days(today, 1)
    async with running_bot(db_url) as (teams, connector):
        case_id = await _visit_recorded(
            teams, connector, factory, treatment="alendronat", followup_date=first.isoformat()
        )
        status, case = await teams.case(case_id)
        assert case["state"] == "follow_up"

        # nothing before the day; on the day, at the digest time, the card goes out once
        assert (await run_daily(factory, now=_at(today, 23), force_time=True)).followups_sent == 0
        result = await run_daily(factory, now=_at(first), force_time=True)
        assert result.followups_sent == 1
        assert (await run_daily(factory, now=_at(first, 13), force_time=True)).followups_sent == 0
        card = await _followup_card(connector, 1)
        ids = {item.get("id"): item for item in card["body"] if isinstance(item, dict)}
        assert ids["treatment"]["value"] == "alendronat"  # started at the visit
        decided = local_date(datetime.fromisoformat(case["decision"]["at"]))
        assert ids["next_due"]["value"] == (decided + timedelta(weeks=52)).isoformat()
        [record] = actions_of(card)
        assert record["verb"] == "followup.record"
        assert record["data"] == {"case_id": case_id, "version": case["version"]}

        # only the case's physicians; every answer checked
        answers = {"treatment": "alendronat", "on_treatment": "true", "falls": "false",
                   "new_fracture": "false"}
        status, answer = await teams.invoke(ERIK, "followup.record", {**record["data"], **answers})
        assert "Endast ärendets läkare" in error_of(answer)
        status, answer = await teams.invoke(
            ANNA, "followup.record", {**record["data"], "treatment": "alendronat"}
        )
        assert "fallit" in error_of(answer)
        status, answer = await teams.invoke(
            ANNA, "followup.record",
            {**record["data"], **answers, "on_treatment": "false"},
        )
        assert "varför behandlingen avslutades" in error_of(answer)

        nxt = today + timedelta(days=200)
        status, answer = await teams.invoke(
            ANNA, "followup.record",
            {**record["data"], **answers, "next_due": nxt.isoformat(),
             "dxa_planned": (today + timedelta(days=700)).isoformat()},
        )
        assert f"Nästa uppföljning {nxt.isoformat()}" in card_text(card_of(answer))
        status, case = await teams.case(case_id)
        assert case["state"] == "follow_up"
        # the same card again records nothing
        status, again = await teams.invoke(
            ANNA, "followup.record", {**record["data"], **answers}
        )
        assert "Redan registrerad av Anna Berg" in card_text(card_of(again))

        # the next one on its day; recording it without a next date closes the case
        result = await run_daily(factory, now=_at(nxt), force_time=True)
        if result.working_day:
            assert result.followups_sent == 1
        else:
            result = await run_daily(
                factory, now=_at(add_working_days(nxt, 1)), force_time=True
            )
            assert result.followups_sent == 1
        second = await _followup_card(connector, 2)
        assert "Uppföljning 2" in card_text(second)
        [record] = actions_of(second)
        status, answer = await teams.invoke(
            ANNA, "followup.record",
            {**record["data"], "treatment": "alendronat", "on_treatment": "false",
             "stopped_reason": "side_effects", "falls": "true", "new_fracture": "true"},
        )
        assert "Ärendet är avslutat" in card_text(card_of(answer))
        status, case = await teams.case(case_id)
        assert case["state"] == "closed"

    async with factory() as session:
        rows = (await session.scalars(select(FollowUp).order_by(FollowUp.number))).all()
    assert [(f.number, f.on_treatment, f.stopped_reason, f.new_fracture) for f in rows] == [
        (1, True, None, False),
        (2, False, "side_effects", True),
    ]
    assert rows[0].next_due == nxt and rows[1].next_due is None
    assert rows[0].dxa_planned == today + timedelta(days=700)


async def test_the_physiotherapy_assessment_is_recorded_from_the_follow_up_card(
    db_url: str, factory: Any
) -> None:
    today = local_date(utcnow())
    first = add_working_days(today, 1)
    async with running_bot(db_url) as (teams, connector):
        case_id = await _visit_recorded(
            teams, connector, factory, treatment="none", no_treatment_reason="Avböjer",
            followup_date=first.isoformat(), physio_contact="true",
        )
        await run_daily(factory, now=_at(first), force_time=True)
        card = await _followup_card(connector, 1)
        text = card_text(card)
        assert "Fysioterapiremiss" in text and "ej skickad ännu" in text
        ids = {item.get("id") for item in card["body"] if isinstance(item, dict)}
        assert "physio_assessed_on" in ids
        [record] = actions_of(card)
        answers = {"treatment": "none", "not_started_reason": "Avböjer fortfarande",
                   "falls": "false", "new_fracture": "false"}
        tomorrow = (today + timedelta(days=1)).isoformat()
        status, answer = await teams.invoke(
            ANNA, "followup.record", {**record["data"], **answers, "physio_assessed_on": tomorrow}
        )
        assert "i framtiden" in error_of(answer)
        status, answer = await teams.invoke(
            ANNA, "followup.record",
            {**record["data"], **answers, "physio_assessed_on": today.isoformat()},
        )
        card_of(answer)
        status, case = await teams.case(case_id)
        assert case["state"] == "closed"
        assert case["follow_ups"][0]["physio_assessed_on"] == today.isoformat()
        assert case["follow_ups"][0]["treatment_started"] is False
        reasons = [e["reason"] or "" for e in case["history"]]
        assert any(f"fysioterapibedömning genomförd {today.isoformat()}" in r for r in reasons)
