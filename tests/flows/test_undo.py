"""Undoing a decision, "Ångra beslut" (issue 11, point 4): only the deciding physician,
within 30 minutes, while none of its tasks is done. The case awaits a decision again, its
open tasks are cancelled, every posted card of it follows, the undo is audited and the
report no longer counts the decision. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.audit.models import AuditEntry
from bot.cases.models import Case, CaseEvent, Decision
from bot.outbox.models import OutboxMessage
from bot.reports.service import quality_figures
from bot.tasks.models import Task
from bot.teams import actions
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
from tests.helpers import card_of_row, fixture_bytes, ingest_sample

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 10:00 in Stockholm
SAMPLE = "01_osteoporosis_named.json"
UNIT = "SE2321000156-7TNG"
ANNA_CHAT = personal_conversation(ANNA)


def verbs(card: dict[str, Any]) -> list[str]:
    return [a["verb"] for a in actions_of(card)]


async def click(
    factory: Any, person: dict[str, str], verb: str, data: dict[str, Any], at: datetime
) -> actions.Answer:
    invoke = actions.Invoke(actor_aad=person["aad"], now=at, trigger="manual")
    return await actions.dispatch(factory, verb, data, invoke)


async def decided_case(factory: Any, decision: str = "call_in") -> int:
    case_id = await ingest_sample(factory, SAMPLE, now=NOW - timedelta(days=1))
    data = {"case_id": case_id, "version": 1, "decision": decision}
    answer = await click(factory, ANNA, "case.decide", data, NOW)
    assert answer.changed, answer.error
    return case_id


async def state_of(factory: Any, case_id: int) -> tuple[str, int, list[str], list[str]]:
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        decisions = await session.scalars(select(Decision.kind).where(Decision.case_id == case_id))
        tasks = await session.scalars(
            select(Task.status).where(Task.case_id == case_id).order_by(Task.id)
        )
        return case.state, case.version, list(decisions.all()), list(tasks.all())


async def refused_reasons(factory: Any, case_id: int) -> list[str]:
    async with factory() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.case_id == case_id, AuditEntry.action == "case.undo")
            .order_by(AuditEntry.id)
        )
        return [a.detail.get("reason", a.outcome) for a in rows.all()]


async def _shows(connector: FakeConnector, message: Sent, predicate: Any) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        card = connector.showing(message.conversation_id, message.activity_id or "")
        return card if card is not None and predicate(card) else None

    card: dict[str, Any] = await connector.wait_for(current)
    check_card(card)
    return card


async def test_the_decider_undoes_and_every_posted_card_follows(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes(SAMPLE))
        case_id = body["case_id"]
        [decision_message] = await connector.wait_count(ANNA_CHAT, 1)
        assert decision_message.card is not None
        [call_in] = [a for a in actions_of(decision_message.card) if "call_in" in str(a["data"])]

        status, answer = await teams.invoke(ANNA, "case.decide", call_in["data"])
        summary = card_of(answer)
        [undo] = actions_of(summary)
        assert (undo["title"], undo["verb"], undo["data"]) == (
            "Ångra beslut", "case.undo", {"case_id": case_id, "version": 2},
        )
        assert "Du kan ångra beslutet till " in card_text(summary)
        [task_message] = await connector.wait_count(CHANNEL, 1)
        assert task_message.card is not None and "task.complete" in verbs(task_message.card)
        # the physician's own chat shows the undo; the secretary's view never does
        await _shows(connector, decision_message, lambda c: verbs(c) == ["case.undo"])
        status, answer = await teams.invoke(
            MARIA, "card.refresh", {"case_id": case_id}, conversation_id=CHANNEL
        )
        assert verbs(card_of(answer)) == []

        status, answer = await teams.invoke(ANNA, "case.undo", undo["data"])
        again = card_of(answer)
        assert "Beslutet är ångrat. Välj åtgärd igen." in card_text(again)
        assert {a["data"].get("decision") for a in actions_of(again)} >= {"call_in", "other"}

        # every posted message follows: the tasks are cancelled, the decision card is back
        tasks_now = await _shows(connector, task_message, lambda c: verbs(c) == [])
        assert card_text(tasks_now).count("Avbruten") == 4
        decision_now = await _shows(
            connector, decision_message, lambda c: "case.decide" in verbs(c)
        )
        assert "Väntar på beslut" in card_text(decision_now)

        status, answer = await teams.invoke(
            MARIA, "card.refresh", {"case_id": case_id}, conversation_id=CHANNEL
        )
        history = card_text(card_of(answer))
        assert "Beslut ångrat: Väntar på beslut (Kalla till läkarbesök) – Anna Berg" in history

        # and the case can be decided again, from the card the undo answered with
        [letter] = [a for a in actions_of(again) if a["data"].get("decision") == "other"]
        status, answer = await teams.invoke(
            ANNA, "case.decide", {**letter["data"], "other_note": "Remiss till reumatolog"}
        )
        assert "Beslut: Annan åtgärd" in card_text(card_of(answer))
        # the new decision's task is the physician's own: its card, drawn by the worker when
        # it sends it, goes to her chat and lists her group's task alone
        [new_message] = await connector.wait_for(
            lambda: [s for s in connector.to(ANNA_CHAT) if s.method == "POST"][1:]
        )
        assert new_message.card is not None
        assert new_message.activity["summary"] == f"Nya uppgifter: Ärende {case_id}"
        assert "Remiss till reumatolog" in card_text(new_message.card)
        assert "Avbruten" not in card_text(new_message.card)
        assert verbs(new_message.card).count("task.complete") == 1

    state, version, decisions, tasks = await state_of(factory, case_id)
    assert (state, version, decisions) == ("decided", 4, ["other"])
    assert tasks == ["cancelled"] * 4 + ["open"]
    async with factory() as session:
        events = await session.scalars(
            select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
        assert list(events.all()) == ["received", "decided", "decision_undone", "decided"]
        [audit] = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.case_id == case_id, AuditEntry.action == "case.undo"
                )
            )
        ).all()
        assert (audit.actor, audit.outcome) == (f"staff:{ANNA['aad']}", "ok")
        assert audit.detail["decision"] == "call_in" and len(audit.detail["tasks_cancelled"]) == 4
        notes = await session.scalars(
            select(Task.note).where(Task.case_id == case_id, Task.status == "cancelled")
        )
        assert set(notes.all()) == {"Beslutet ångrades."}


async def test_an_undone_decision_is_not_counted_by_the_report(factory: Any) -> None:
    case_id = await decided_case(factory)
    period = {"unit_hsa": UNIT, "start": date(2026, 11, 1), "end": date(2026, 11, 30)}

    async def decisions_counted() -> tuple[int | None, int | None]:
        async with factory() as session:
            report = await quality_figures(session, **period, today=date(2026, 11, 30))
        return (
            report.median_days_answer_to_decision.denominator,
            report.call_ins_without_visit.denominator,
        )

    assert await decisions_counted() == (1, 1)
    undo = await click(factory, ANNA, "case.undo", {"case_id": case_id, "version": 2}, NOW)
    assert undo.changed, undo.error
    assert await decisions_counted() == (0, 0)
    data = {"case_id": case_id, "version": 3, "decision": "call_in"}
    assert (await click(factory, ANNA, "case.decide", data, NOW + timedelta(minutes=1))).changed
    assert await decisions_counted() == (1, 1)


async def test_after_an_undo_the_new_decision_s_task_card_shows_the_group_as_it_stands(
    factory: Any,
) -> None:
    """The worker draws a task card when it sends it (issue 15): after an undo and the same
    decision again, the new card of the MVA group lists the group's tasks as its updates
    and a secretary's click show them, the cancelled four with the new four, and only the
    new ones can be ticked off."""
    case_id = await decided_case(factory)
    undo = await click(factory, ANNA, "case.undo", {"case_id": case_id, "version": 2}, NOW)
    assert undo.changed, undo.error
    data = {"case_id": case_id, "version": 3, "decision": "call_in"}
    assert (await click(factory, ANNA, "case.decide", data, NOW + timedelta(minutes=1))).changed
    async with factory() as session:
        first, second = (
            await session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.case_id == case_id,
                    OutboxMessage.purpose == "task_card",
                    OutboxMessage.update_of.is_(None),
                )
                .order_by(OutboxMessage.id)
            )
        ).all()
        new = (
            await session.scalars(
                select(Task.id).where(Task.case_id == case_id, Task.status == "open")
            )
        ).all()
    assert second.task_id == min(new)
    card = await card_of_row(factory, second, now=NOW + timedelta(minutes=1))
    check_card(card)
    assert card_text(card).count("Avbruten") == 4
    ticks = [a["data"]["task_id"] for a in actions_of(card) if a["verb"] == "task.complete"]
    assert sorted(ticks) == sorted(new)
    # the first card, drawn now, is the same card
    assert await card_of_row(factory, first, now=NOW + timedelta(minutes=1)) == card


async def test_only_the_decider_may_undo(factory: Any) -> None:
    case_id = await decided_case(factory)
    for person in (ERIK, MARIA):
        answer = await click(factory, person, "case.undo", {"case_id": case_id, "version": 2}, NOW)
        assert answer.error == "Endast läkaren som fattade beslutet kan ångra det."
    assert await state_of(factory, case_id) == ("decided", 2, ["call_in"], ["open"] * 4)
    assert await refused_reasons(factory, case_id) == ["role", "role"]


async def test_an_undo_after_the_window_is_refused_with_the_reason(factory: Any) -> None:
    case_id = await decided_case(factory)
    data = {"case_id": case_id, "version": 2}
    late = await click(factory, ANNA, "case.undo", data, NOW + timedelta(minutes=30))
    assert late.card is not None and not late.changed
    assert (
        "Ett beslut kan bara ångras inom 30 minuter; det här fattades 2026-11-20 10:00."
        in card_text(late.card)
    )
    assert verbs(late.card) == []  # the current card: the button is gone
    assert await state_of(factory, case_id) == ("decided", 2, ["call_in"], ["open"] * 4)
    assert await refused_reasons(factory, case_id) == ["window"]


async def test_an_undo_after_a_task_is_done_is_refused_with_the_reason(factory: Any) -> None:
    case_id = await decided_case(factory)
    async with factory() as session:
        first = await session.scalar(
            select(Task.id).where(Task.case_id == case_id).order_by(Task.position)
        )
    done = await click(factory, MARIA, "task.complete", {"task_id": first}, NOW)
    assert done.changed, done.error
    answer = await click(
        factory, ANNA, "case.undo", {"case_id": case_id, "version": 2}, NOW + timedelta(minutes=1)
    )
    assert answer.card is not None and verbs(answer.card) == []
    assert (
        'Uppgiften "Sätt upp på väntelista (VL) till läkare" är redan klar; '
        "beslutet kan inte ångras." in card_text(answer.card)
    )
    state, version, decisions, tasks = await state_of(factory, case_id)
    assert (state, version, decisions, tasks.count("done")) == ("decided", 2, ["call_in"], 1)
    assert await refused_reasons(factory, case_id) == ["task done"]


async def test_a_stale_undo_records_nothing(factory: Any) -> None:
    case_id = await decided_case(factory)
    old = {"case_id": case_id, "version": 2}
    assert (await click(factory, ANNA, "case.undo", old, NOW)).changed
    # undone already (a click of its own, after the window of a double click)
    answer = await click(factory, ANNA, "case.undo", old, NOW + timedelta(minutes=1))
    assert answer.card is not None and not answer.changed
    assert "Beslutet är redan ångrat; inget ändrades." in card_text(answer.card)
    # decided again: the first summary's undo is for a decision that is gone
    data = {"case_id": case_id, "version": 3, "decision": "call_in"}
    assert (await click(factory, ANNA, "case.decide", data, NOW + timedelta(minutes=2))).changed
    answer = await click(factory, ANNA, "case.undo", old, NOW + timedelta(minutes=3))
    assert answer.card is not None and not answer.changed
    assert "Beslutet har ändrats sedan kortet visades; inget ångrades." in card_text(answer.card)
    assert verbs(answer.card) == ["case.undo"]  # the current decision's own undo
    state, version, decisions, _ = await state_of(factory, case_id)
    assert (state, version, decisions) == ("decided", 4, ["call_in"])


async def test_the_summary_offers_undo_only_in_the_window(factory: Any) -> None:
    case_id = await decided_case(factory)
    refresh = {"case_id": case_id}

    async def offered(person: dict[str, str], at: datetime, **data: Any) -> list[str]:
        answer = await click(factory, person, "card.refresh", {**refresh, **data}, at)
        assert answer.card is not None, answer.error
        return verbs(answer.card)

    assert await offered(ANNA, NOW + timedelta(minutes=29)) == ["case.undo"]
    assert await offered(ANNA, NOW + timedelta(minutes=30)) == []
    assert await offered(ERIK, NOW) == []
    assert await offered(MARIA, NOW) == []
    # a card of the MVA channel, as the decider sees it there
    assert await offered(ANNA, NOW, view="channel") == []
    assert await offered(ANNA, NOW, view="triage") == []


async def test_a_card_in_the_channel_never_offers_undo(db_url: str, factory: Any) -> None:
    """Anna has no chat with the bot: her decision card went to the MVA channel. She
    decides there; her own answer may offer the undo, the channel's message never does."""
    async with running_bot(db_url) as (teams, connector):
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes(SAMPLE))
        [rerouted] = await connector.wait_count(CHANNEL, 1)
        status, answer = await teams.invoke(
            ANNA, "card.refresh", {"case_id": body["case_id"], "view": "rerouted"},
            conversation_id=CHANNEL,
        )
        [call_in] = [a for a in actions_of(card_of(answer)) if "call_in" in str(a["data"])]
        status, answer = await teams.invoke(
            ANNA, "case.decide", call_in["data"], conversation_id=CHANNEL
        )
        assert verbs(card_of(answer)) == ["case.undo"]  # the clicker's own card
        shown = await _shows(connector, rerouted, lambda c: "Kalla till läkarbesök" in str(c))
        assert verbs(shown) == []
        refresh = shown["refresh"]["action"]["data"]
        assert refresh == {"case_id": body["case_id"], "view": "channel"}
        status, answer = await teams.invoke(
            ANNA, "card.refresh", refresh, conversation_id=CHANNEL
        )
        assert verbs(card_of(answer)) == []
        for sent in await connector.wait_count(CHANNEL, 2):
            assert sent.card is not None and "case.undo" not in verbs(sent.card)
