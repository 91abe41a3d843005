"""The domain events of `bot.logs`: one line each, with ids and codes only (issue 11,
point 7), written when the transaction commits, and none for one rolled back."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import text

from bot.db import transaction
from bot.logs import Event, JsonFormatter, log_on_commit
from tests.harness import (
    ANNA,
    CHANNEL,
    MARIA,
    actions_of,
    card_of,
    error_of,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes, personal_numbers_in

EVENTS = "frakturkedjan.events"
# keys an event line may carry besides the logging's own: ids and codes
ID_KEYS = {
    "event", "case_id", "unit_id", "task_id", "outbox_id", "physician_id", "supersedes",
    "outcome", "routed", "by", "decision", "tasks", "task_kind", "purpose", "to", "action",
    "reason", "status", "problems", "channel", "update_of", "posted_id",
}  # fmt: skip
NAMES = ("Anna Berg", "Maria Svensson", "Erik Lund", "Margareta", "Lindqvist", "Ingrid", "Sjöberg")


def event_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The event records captured, as the JSON objects the log writes."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == EVENTS]


def ids_of(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in ("time", "level", "logger", "message")}


def _decision(card: dict[str, Any], decision: str) -> dict[str, Any]:
    return next(a for a in actions_of(card) if a["data"].get("decision") == decision)


async def test_each_event_once_with_its_ids_and_no_personal_data(
    db_url: str, factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=EVENTS)
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)

        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 201
        case_id = body["case_id"]
        status, _ = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 200  # a duplicate: logged as received, no card
        status, body = await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        assert status == 201
        triage_id = body["case_id"]
        status, _ = await teams.intake(b"{}")
        assert status == 422

        [decision_sent] = await connector.wait_count(personal_conversation(ANNA), 1)
        [triage_sent] = await connector.wait_count(CHANNEL, 1)
        assert decision_sent.card is not None and triage_sent.card is not None
        [assign] = actions_of(triage_sent.card)
        status, answer = await teams.invoke(
            MARIA, "case.assign", {**assign["data"], "physician": ANNA["aad"]},
            conversation_id=CHANNEL,
        )  # fmt: skip
        card_of(answer)

        call_in = _decision(decision_sent.card, "call_in")["data"]
        status, answer = await teams.invoke(MARIA, "case.decide", call_in)
        error_of(answer)  # a secretary may not decide: refused
        status, answer = await teams.invoke(ANNA, "case.decide", call_in)
        card_of(answer)

        tasks = await connector.wait_for(
            lambda: [s for s in connector.to(CHANNEL) if s.method == "POST"][1:]
        )
        assert tasks[0].card is not None
        first = next(a for a in actions_of(tasks[0].card) if a["verb"] == "task.complete")
        task_id = first["data"]["task_id"]
        status, answer = await teams.invoke(
            MARIA, "task.complete", first["data"], conversation_id=CHANNEL
        )
        card_of(answer)
        status, answer = await teams.invoke(
            MARIA, "task.reopen", {"task_id": task_id}, conversation_id=CHANNEL
        )
        card_of(answer)
        # four cards: two decision cards (one of the triaged case), triage and tasks
        await connector.wait_for(
            lambda: sum(line["event"] == "card.sent" for line in event_lines(caplog)) >= 4
        )
        # the cards posted are kept current: the triage card after the assignment, …
        await connector.wait_for(
            lambda: any(line["event"] == "card.updated" for line in event_lines(caplog))
        )

    # read once the bot has stopped: an update may still go out after the wait above
    updates = [s for s in connector.sent if s.method == "PUT"]
    lines = event_lines(caplog)
    cards = ("card.sent", "card.updated")
    events = [ids_of(line) for line in lines if line["event"] not in cards]
    assert events == [
        {"event": "answer.received", "case_id": case_id, "unit_id": 1, "outcome": "created",
         "routed": "physician"},
        {"event": "answer.received", "case_id": case_id, "unit_id": 1, "outcome": "duplicate"},
        {"event": "answer.received", "case_id": triage_id, "unit_id": 1, "outcome": "created",
         "routed": "mva"},
        {"event": "answer.rejected", "status": 422, "problems": events[3]["problems"],
         "channel": "http"},
        {"event": "case.routed", "case_id": triage_id, "unit_id": 1,
         "physician_id": events[4]["physician_id"], "by": "assign"},
        {"event": "action.refused", "action": "case.decide", "reason": "role",
         "case_id": case_id},
        {"event": "decision.recorded", "case_id": case_id, "unit_id": 1, "decision": "call_in",
         "tasks": 4},
        {"event": "task.done", "task_id": task_id, "case_id": case_id, "task_kind": "waitlist"},
        {"event": "task.reopened", "task_id": task_id, "case_id": case_id,
         "task_kind": "waitlist"},
    ]  # fmt: skip
    sent = [ids_of(line) for line in lines if line["event"] == "card.sent"]
    assert sorted((s["purpose"], s["case_id"], s["to"]) for s in sent) == sorted(
        [
            ("decision_card", case_id, "user"),
            ("triage_card", triage_id, "channel"),
            ("decision_card", triage_id, "user"),
            ("task_card", case_id, "channel"),
        ]
    )
    assert len({s["outbox_id"] for s in sent}) == len(sent)  # each send once
    updated = [ids_of(line) for line in lines if line["event"] == "card.updated"]
    assert 1 <= len(updated) <= len(updates)
    assert len({u["outbox_id"] for u in updated}) == len(updated)
    by_id = {s["outbox_id"]: s for s in sent}
    for update in updated:
        posted = by_id[update["update_of"]]  # an update names the row that posted the card
        assert (update["purpose"], update["case_id"]) == (posted["purpose"], posted["case_id"])
        assert set(update) == {"event", "outbox_id", "purpose", "case_id", "update_of"}

    for line in lines:
        assert set(line) - {"time", "level", "logger", "message"} <= ID_KEYS, line
        assert line["level"] == "INFO"
    raw = [json.dumps(line, ensure_ascii=False) for line in lines]
    assert personal_numbers_in(raw) == []
    assert [line for line in raw if any(name in line for name in NAMES)] == []


async def test_an_event_of_a_rolled_back_transaction_is_not_logged(
    factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=EVENTS)
    with pytest.raises(RuntimeError):
        async with transaction(factory) as session:
            await session.execute(text("SELECT 1"))
            log_on_commit(session, Event.TASK_DONE, task_id=1, case_id=2)
            raise RuntimeError("rolled back")
    assert event_lines(caplog) == []
    async with transaction(factory) as session:
        await session.execute(text("SELECT 1"))
        log_on_commit(session, Event.TASK_DONE, task_id=1, case_id=2)
        assert event_lines(caplog) == []  # not before the commit
    assert [ids_of(line) for line in event_lines(caplog)] == [
        {"event": "task.done", "task_id": 1, "case_id": 2}
    ]
