"""The whole loop over loopback HTTP, as Teams drives it: install, intake, decision card,
decision, task cards, tasks ticked off, case closed. Runs on both Teams runtimes, on SQLite
and PostgreSQL (see tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.audit.models import AuditEntry
from bot.core.calendar import add_months, add_working_days, local_date
from bot.db import utcnow
from bot.jobs.checklists import send_due_checklists
from tests.harness import (
    ANNA,
    CHANNEL,
    ERIK,
    MARIA,
    actions_of,
    card_of,
    card_text,
    check_card,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.usefixtures("runtime")


def _action(card: dict[str, Any], decision: str) -> dict[str, Any]:
    for action in actions_of(card):
        if action["data"].get("decision") == decision:
            return action
    raise AssertionError(f"no {decision} action on the card")


async def test_call_in_from_install_to_closed_case(
    db_url: str, factory: Any, runtime: str
) -> None:
    async with running_bot(db_url) as (teams, connector):
        assert teams.runtime == runtime  # the app runs on the runtime of this run
        for person in (ANNA, ERIK, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)

        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 201, body
        case_id = body["case_id"]

        [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
        card = sent.card
        assert card is not None
        check_card(card)
        text = card_text(card)
        assert "Margareta Lindqvist, 19520314-2384" in text
        assert "2026-11-10" in text  # scan date
        assert "Osteoporos" in text
        assert card["refresh"]["userIds"] == [ANNA["id"]]
        assert card["refresh"]["action"]["verb"] == "card.refresh"
        verbs = {(a["verb"], a["data"]["decision"]) for a in actions_of(card)}
        assert verbs == {
            ("case.decide", d)
            for d in ("normal_letter", "normal_call", "call_in", "other", "reassign")
        }

        action = _action(card, "call_in")
        data = {**action["data"], "visit_physician": ERIK["aad"], "note": "Tolk behövs"}
        status, answer = await teams.invoke(ANNA, "case.decide", data)
        assert status == 200
        summary = card_of(answer)
        assert [a["verb"] for a in actions_of(summary)] == ["case.undo"]  # read-only but undo
        assert "Kalla till läkarbesök" in card_text(summary)
        assert "Anna Berg" in card_text(summary)

        # The MVA channel gets the task card with the four call-in tasks.
        [task_sent] = await connector.wait_count(CHANNEL, 1)
        task_card = task_sent.card
        assert task_card is not None
        check_card(task_card)
        completes = [a for a in actions_of(task_card) if a["verb"] == "task.complete"]
        assert len(completes) == 4
        task_text = card_text(task_card)
        assert "Sätt upp på väntelista (VL) till läkare" in task_text
        assert "Boka läkartid" in task_text
        assert "Erik Lund" in task_text and "Tolk behövs" in task_text

        today = local_date(utcnow())
        status, case = await teams.case(case_id)
        assert status == 200
        assert case["state"] == "decided"
        assert case["decision"]["kind"] == "call_in"
        assert case["decision"]["by"] == ANNA["aad"]
        dues = {t["kind"]: t["due"] for t in case["tasks"]}
        three = add_working_days(today, 3).isoformat()
        assert dues == {
            "waitlist": three,
            "invitation_letter": three,
            "lab_package": three,
            "book_visit": add_months(today, 2).isoformat(),
        }
        assert {t["assignee_role"] for t in case["tasks"]} == {"mva"}

        today = local_date(utcnow()).isoformat()
        for number, complete in enumerate(completes, start=1):
            data = complete["data"]
            if number == 4:  # "Boka läkartid" asks for the booked date and time
                data = {**data, "booked_date": today, "booked_time": "23:59"}
            status, answer = await teams.invoke(
                MARIA, "task.complete", data, conversation_id=CHANNEL
            )
            card = card_of(answer)
            remaining = [a for a in actions_of(card) if a["verb"] == "task.complete"]
            assert len(remaining) == 4 - number
            assert "Maria Svensson" in card_text(card)

        status, case = await teams.case(case_id)
        assert case["state"] == "decided"  # a call-in closes with the visit checklist
        assert await send_due_checklists(factory, now=utcnow()) == 1
        [checklist] = await connector.wait_count(personal_conversation(ERIK), 1)
        assert checklist.card is not None
        [record] = actions_of(checklist.card)
        status, answer = await teams.invoke(
            ERIK, "visit.record", {**record["data"], "treatment": "alendronat"}
        )
        assert "Ärendet är avslutat" in card_text(card_of(answer))

        status, case = await teams.case(case_id)
        assert case["state"] == "closed"
        assert all(t["status"] == "done" and t["done_by"] == MARIA["aad"] for t in case["tasks"])
        assert [h["to_state"] for h in case["history"] if h["to_state"] != h["from_state"]] == [
            "awaiting_decision",
            "decided",
            "closed",
        ]

    async with factory() as session:
        actions = dict(
            (
                await session.execute(
                    select(AuditEntry.action, func.count())
                    .where(AuditEntry.case_id == case_id)
                    .group_by(AuditEntry.action)
                )
            ).all()
        )
    assert actions["case.decide"] == 1
    assert actions["task.complete"] == 4
    assert actions["intake.new"] == 1
