"""Booking the call-in visit, the checklist on the day, recording it, and the letters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.core.calendar import local_date
from bot.db import utcnow
from bot.jobs.checklists import send_due_checklists
from bot.visits.models import Visit
from tests.harness import (
    ANNA,
    CHANNEL,
    ERIK,
    MARIA,
    actions_of,
    card_of,
    card_text,
    check_card,
    error_of,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes


def _show_cards(card: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.ShowCard":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


async def test_booking_checklist_and_closing(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, ERIK, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        case_id = body["case_id"]
        [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert sent.card is not None
        data = next(a["data"] for a in actions_of(sent.card) if a["data"]["decision"] == "call_in")
        await teams.invoke(ANNA, "case.decide", {**data, "visit_physician": ERIK["aad"]})
        [task_sent] = await connector.wait_count(CHANNEL, 1)
        card = task_sent.card
        assert card is not None

        # the letter task shows a draft in plain Swedish, to copy into the record
        shows = _show_cards(card)
        letter = next(s for s in shows if s["title"] == "Visa brevutkast")
        draft = letter["card"]["body"][1]["value"]
        assert "Till Margareta Lindqvist" in draft
        assert "inom 2 månader" in draft and "blodprover" in draft and "Anna Berg" in draft
        assert "VL" not in draft and "MVA" not in draft

        # three tasks done; the booking asks for the booked date and time
        plain = [
            a for a in actions_of(card) if a["verb"] == "task.complete" and a["title"] == "Klar"
        ]
        assert len(plain) == 3
        for action in plain:
            card_of(
                (
                    await teams.invoke(
                        MARIA, "task.complete", action["data"], conversation_id=CHANNEL
                    )
                )[1]
            )
        booking = next(s for s in shows if s["title"] == "Klar – ange bokad tid")
        inputs = {i["id"]: i["type"] for i in booking["card"]["body"]}
        assert inputs == {"booked_date": "Input.Date", "booked_time": "Input.Time"}
        book = booking["card"]["actions"][0]
        assert book["verb"] == "task.complete"
        status, answer = await teams.invoke(
            MARIA, "task.complete", book["data"], conversation_id=CHANNEL
        )
        assert "datum och klockslag" in error_of(answer)
        yesterday = (local_date(utcnow()) - timedelta(days=1)).isoformat()
        status, answer = await teams.invoke(
            MARIA,
            "task.complete",
            {**book["data"], "booked_date": yesterday, "booked_time": "09:00"},
            conversation_id=CHANNEL,
        )
        assert "redan passerat" in error_of(answer)
        today = local_date(utcnow()).isoformat()
        status, answer = await teams.invoke(
            MARIA,
            "task.complete",
            {**book["data"], "booked_date": today, "booked_time": "23:59"},
            conversation_id=CHANNEL,
        )
        assert f"Bokad tid: {today} 23:59" in card_text(card_of(answer))
        status, case = await teams.case(case_id)
        assert case["state"] == "decided"  # a call-in closes when the visit is recorded

        # on the day, the visit physician gets the checklist
        assert await send_due_checklists(factory, now=utcnow()) == 1
        assert await send_due_checklists(factory, now=utcnow()) == 0
        [checklist_sent] = await connector.wait_count(personal_conversation(ERIK), 1)
        checklist = checklist_sent.card
        assert checklist is not None
        check_card(checklist)
        ids = {i.get("id") for i in checklist["body"] if isinstance(i, dict)}
        assert {
            "patient_informed",
            "investigation",
            "treatment",
            "no_treatment_reason",
            "followup_date",
            "physio_contact",
        } <= ids
        [record] = actions_of(checklist)
        assert record["verb"] == "visit.record" and record["data"] == {"case_id": case_id}
        status, answer = await teams.invoke(
            ERIK, "card.refresh", checklist["refresh"]["action"]["data"], trigger="automatic"
        )
        assert actions_of(card_of(answer))[0]["verb"] == "visit.record"

        status, answer = await teams.invoke(
            MARIA, "visit.record", {**record["data"], "treatment": "denosumab"}
        )
        assert "Endast ärendets läkare" in error_of(answer)
        status, answer = await teams.invoke(
            ERIK, "visit.record", {**record["data"], "treatment": "none"}
        )
        assert "skälet" in error_of(answer)
        status, answer = await teams.invoke(
            ERIK,
            "visit.record",
            {
                **record["data"],
                "patient_informed": "true",
                "treatment": "denosumab",
                "followup_date": (local_date(utcnow()) + timedelta(days=90)).isoformat(),
                "physio_contact": "true",
                "investigation": "",
            },
        )
        assert "Besöket registrerat av Erik Lund" in card_text(card_of(answer))
        status, again = await teams.invoke(
            ERIK, "visit.record", {**record["data"], "treatment": "none"}
        )
        assert "redan registrerat" in card_text(card_of(again))

        status, case = await teams.case(case_id)
        assert case["state"] == "follow_up"  # the checklist planned a follow-up
        physio = [t for t in case["tasks"] if t["kind"] == "physio"]
        assert len(physio) == 1 and physio[0]["title"] == "Fysioterapikontakt"
        assert physio[0]["assignee_role"] == "mva" and physio[0]["status"] == "open"
        channel = await connector.wait_count(CHANNEL, 2)
        assert "Fysioterapikontakt" in card_text(channel[1].card or {})

    async with factory() as session:
        visit = await session.scalar(select(Visit))
        assert visit is not None
        assert visit.treatment_started is True and visit.treatment_drug == "denosumab"
        assert visit.patient_informed is True and visit.physio_contact is True
        assert visit.investigation is None


async def test_protected_letter_has_no_name(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        status, body = await teams.intake(fixture_bytes("05_protected_identity.json"))
        [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert sent.card is not None
        data = next(
            a["data"] for a in actions_of(sent.card) if a["data"]["decision"] == "normal_letter"
        )
        await teams.invoke(ANNA, "case.decide", {**data, "confirmed": True})  # T −2.5 or lower
        sent_all = await connector.wait_count(personal_conversation(ANNA), 2)
        task_card = sent_all[1].card
        assert task_card is not None
        letter = next(s for s in _show_cards(task_card) if s["title"] == "Visa brevutkast")
        draft = letter["card"]["body"][1]["value"]
        assert "Till [Patientens namn]" in draft
        assert "Uppgift" not in draft and "inte har benskörhet" in draft
