"""Every posted card message stays current for everyone (SPEC section 4): after each change
of a case or a task, each message that shows it is updated in place (Bot Connector update
activity) through the outbox, while the clicker's card is replaced by the invoke answer.
Runs on both Teams runtimes, on SQLite and PostgreSQL, over loopback HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from bot.outbox.models import OutboxMessage
from tests.harness import (
    ANNA,
    CHANNEL,
    ERIK,
    MARIA,
    FakeConnector,
    Sent,
    actions_of,
    card_of,
    card_text,
    check_card,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.usefixtures("runtime")

ANNA_CHAT = personal_conversation(ANNA)


def _decide(card: dict[str, Any], decision: str) -> dict[str, Any]:
    [action] = [a for a in actions_of(card) if a["data"].get("decision") == decision]
    return dict(action["data"])


async def _shows(
    connector: FakeConnector, message: Sent, predicate: Any, timeout: float = 10.0
) -> dict[str, Any]:
    """Wait until `message` shows a card for which `predicate(card)` holds; that card."""

    def current() -> dict[str, Any] | None:
        card = connector.showing(message.conversation_id, message.activity_id or "")
        return card if card is not None and predicate(card) else None

    card: dict[str, Any] = await connector.wait_for(current, timeout)
    check_card(card)
    return card


async def _rows(factory: Any) -> list[OutboxMessage]:
    async with factory() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def _settled(factory: Any, timeout: float = 10.0) -> list[OutboxMessage]:
    """The outbox once nothing in it is pending any more."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await _rows(factory)
        if all(r.status != "pending" for r in rows):
            return rows
        assert loop.time() < deadline, [(r.id, r.purpose, r.status) for r in rows]
        await asyncio.sleep(0.05)


async def test_a_decision_updates_the_decision_card_everywhere(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        [posted] = await connector.wait_count(ANNA_CHAT, 1)
        assert posted.card is not None

        status, answer = await teams.invoke(ANNA, "case.decide", _decide(posted.card, "call_in"))
        # the clicker's card is replaced at once by the answer
        assert "Kalla till läkarbesök" in card_text(card_of(answer))
        # the update is in the outbox, written with the decision
        updates = [r for r in await _rows(factory) if r.update_of is not None]
        assert [r.case_id for r in updates] == [body["case_id"]]
        # ... and the message (Anna's phone, her other devices) shows the decision too
        card = await _shows(connector, posted, lambda c: not any(
            a.get("verb") == "case.decide" for a in actions_of(c)
        ))
        assert "Kalla till läkarbesök" in card_text(card)
        [update] = connector.updates(ANNA_CHAT, posted.activity_id)
        assert update.activity["id"] == posted.activity_id


async def test_other_secretaries_see_a_task_ticked_off(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)
        await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        [posted] = await connector.wait_count(ANNA_CHAT, 1)
        assert posted.card is not None
        await teams.invoke(ANNA, "case.decide", _decide(posted.card, "call_in"))
        [task_message] = await connector.wait_count(CHANNEL, 1)
        assert task_message.card is not None
        [first, *_] = [a for a in actions_of(task_message.card) if a["verb"] == "task.complete"]
        await connector.wait_for(lambda: connector.updates(ANNA_CHAT, posted.activity_id))

        status, answer = await teams.invoke(
            MARIA, "task.complete", first["data"], conversation_id=CHANNEL
        )
        assert "Maria Svensson" in card_text(card_of(answer))
        # the channel's message, as every other secretary sees it: the task is done
        card = await _shows(connector, task_message, lambda c: "Maria Svensson" in card_text(c))
        shown = [(a["verb"], a["data"]) for a in actions_of(card)]
        assert ("task.complete", first["data"]) not in shown
        assert ("task.reopen", first["data"]) in shown
        # the physician's summary lists it as done as well
        summary = await _shows(connector, posted, lambda c: "Maria Svensson" in card_text(c))
        assert "case.decide" not in [a.get("verb") for a in actions_of(summary)]


async def test_a_correction_updates_the_superseded_card(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        status, first = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        [old] = await connector.wait_count(ANNA_CHAT, 1)
        status, second = await teams.intake(fixture_bytes("07_amended_01.json"))
        assert status == 202, second
        await connector.wait_count(ANNA_CHAT, 2)
        # the old card no longer waits for a decision: no live buttons, says it was replaced
        card = await _shows(connector, old, lambda c: actions_of(c) == [])
        assert f"Ärende {second['case_id']}" in card_text(card)


async def test_a_deleted_message_is_recorded_and_never_updated_again(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        await teams.intake(fixture_bytes("02_normal_named.json"))
        [posted] = await connector.wait_count(ANNA_CHAT, 1)
        assert posted.card is not None
        connector.fail_next(404, code="NotFound")  # Anna deleted the message meanwhile
        await teams.invoke(ANNA, "case.decide", _decide(posted.card, "normal_letter"))
        await connector.wait_count(ANNA_CHAT, 2)  # the letter task
        rows = await _settled(factory)
        statuses = {(r.purpose, r.update_of is not None): r.status for r in rows}
        assert statuses[("decision_card", False)] == "gone"
        assert statuses[("decision_card", True)] == "gone"
        assert connector.updates(ANNA_CHAT) == []
        attempts = connector.attempts
        # a later change of the case adds no update of the deleted message
        [_, task_message] = await connector.wait_count(ANNA_CHAT, 2)
        assert task_message.card is not None
        [tick, *_] = [a for a in actions_of(task_message.card) if a["verb"] == "task.complete"]
        await teams.invoke(ANNA, "task.complete", tick["data"])
        await connector.wait_for(lambda: connector.updates(ANNA_CHAT, task_message.activity_id))
        later = [r for r in await _rows(factory) if r.update_of is not None]
        assert {r.update_of for r in later if r.status != "gone"} == {
            next(r.id for r in rows if r.purpose == "task_card")
        }
        assert connector.attempts == attempts + 1


async def test_a_card_that_did_not_change_is_not_sent_again(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, ERIK, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)
        await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        [triage] = await connector.wait_count(CHANNEL, 1)
        assert triage.card is not None
        [assign] = actions_of(triage.card)
        await teams.invoke(
            MARIA, "case.assign", {**assign["data"], "physician": ANNA["aad"]},
            conversation_id=CHANNEL,
        )
        # the channel's triage card shows who took it, for everyone
        await _shows(connector, triage, lambda c: "Fördelat till Anna Berg" in card_text(c))
        [decision] = await connector.wait_count(ANNA_CHAT, 1)
        assert decision.card is not None
        await teams.invoke(ANNA, "case.decide", _decide(decision.card, "call_in"))
        await _shows(connector, decision, lambda c: "Kalla till läkarbesök" in card_text(c))
        [_, tasks] = await connector.wait_count(CHANNEL, 2)  # the booking tasks
        await _settled(factory)
        assert tasks.card is not None
        [tick, *_] = [a for a in actions_of(tasks.card) if a["verb"] == "task.complete"]
        await teams.invoke(MARIA, "task.complete", tick["data"], conversation_id=CHANNEL)
        rows = await _settled(factory)
        triage_row = next(r for r in rows if r.purpose == "triage_card" and r.update_of is None)
        triage_updates = [r for r in rows if r.update_of == triage_row.id]
        # after the assignment and the decision the triage card changed (who took it, the
        # state); a task ticked off changes nothing on it, and that update is not sent
        assert [r.status for r in triage_updates] == ["sent", "sent", "skipped"]
        assert len(connector.updates(CHANNEL, triage.activity_id)) == 2


async def test_a_case_card_a_command_answered_with_is_kept_current(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        [posted] = await connector.wait_count(ANNA_CHAT, 1)
        assert posted.card is not None
        maria_chat = personal_conversation(MARIA)
        await teams.message(MARIA, f"ärende {body['case_id']}")
        [reply] = await connector.wait_count(maria_chat, 1)
        header = f"Ärende {body['case_id']} · "
        assert reply.card is not None and header + "Väntar på beslut" in card_text(reply.card)

        await teams.invoke(ANNA, "case.decide", _decide(posted.card, "call_in"))
        card = await _shows(connector, reply, lambda c: "Kalla till läkarbesök" in card_text(c))
        assert header + "Beslutat" in card_text(card)


async def test_a_task_reopened_shows_open_again_for_everyone(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        [posted] = await connector.wait_count(ANNA_CHAT, 1)
        assert posted.card is not None
        await teams.invoke(ANNA, "case.decide", _decide(posted.card, "call_in"))
        [task_message] = await connector.wait_count(CHANNEL, 1)
        assert task_message.card is not None
        [first, *_] = [a for a in actions_of(task_message.card) if a["verb"] == "task.complete"]
        await teams.invoke(MARIA, "task.complete", first["data"], conversation_id=CHANNEL)
        await _shows(connector, task_message, lambda c: ("task.reopen", first["data"]) in [
            (a["verb"], a["data"]) for a in actions_of(c)
        ])
        status, answer = await teams.invoke(
            MARIA, "task.reopen", first["data"], conversation_id=CHANNEL
        )
        card_of(answer)
        await _shows(connector, task_message, lambda c: ("task.complete", first["data"]) in [
            (a["verb"], a["data"]) for a in actions_of(c)
        ])
