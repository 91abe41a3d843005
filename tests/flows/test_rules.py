"""The rules of the core loop, each with its own test, over the loopback harness."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.audit.models import AuditEntry
from bot.cases.models import Case, Decision
from bot.intake.limits import CONCLUSION_MAX
from bot.outbox.models import OutboxMessage
from bot.tasks.models import Task
from tests.harness import (
    ANNA,
    CHANNEL,
    ERIK,
    MARIA,
    STRANGER,
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


async def _decision_card(
    teams: Teams, connector: FakeConnector, sample: str = "01_osteoporosis_named.json"
) -> tuple[int, dict[str, Any]]:
    for person in (ANNA, ERIK, MARIA):
        await teams.install_personal(person)
    await teams.install_channel(MARIA)
    status, body = await teams.intake(fixture_bytes(sample))
    assert status == 201, body
    [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
    assert sent.card is not None
    return body["case_id"], sent.card


def _data(card: dict[str, Any], decision: str, **extra: Any) -> dict[str, Any]:
    for action in actions_of(card):
        if action["data"].get("decision") == decision:
            return {**action["data"], **extra}
    raise AssertionError(decision)


async def _audit(factory: Any, case_id: int | None = None) -> list[tuple[str, str, str]]:
    async with factory() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if case_id is not None:
            query = query.where(AuditEntry.case_id == case_id)
        return [(a.actor, a.action, a.outcome) for a in (await session.scalars(query)).all()]


async def test_only_a_physician_of_the_unit_can_decide(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _decision_card(teams, connector)
        for person in (MARIA, STRANGER):
            status, answer = await teams.invoke(person, "case.decide", _data(card, "normal_letter"))
            assert status == 200
            assert "Endast läkare" in error_of(answer)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and case.state == "awaiting_decision" and case.version == 1
        assert (await session.scalars(select(Decision))).all() == []
        assert (await session.scalars(select(Task))).all() == []
    audit = await _audit(factory, case_id)
    assert (f"staff:{MARIA['aad']}", "case.decide", "refused") in audit
    assert (f"aad:{STRANGER['aad']}", "case.decide", "refused") in audit


async def test_only_mva_completes_mva_tasks(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _decision_card(teams, connector)
        status, answer = await teams.invoke(ANNA, "case.decide", _data(card, "call_in"))
        card_of(answer)
        [task_sent] = await connector.wait_count(CHANNEL, 1)
        assert task_sent.card is not None
        first = actions_of(task_sent.card)[0]
        assert first["verb"] == "task.complete"
        status, answer = await teams.invoke(
            ANNA, "task.complete", first["data"], conversation_id=CHANNEL
        )
        assert "behörighet" in error_of(answer)
        status, answer = await teams.invoke(
            MARIA, "task.complete", first["data"], conversation_id=CHANNEL
        )
        done = card_of(answer)
        assert "Maria Svensson" in card_text(done)
        # the same click again (a retry, a double click) changes nothing: the same card
        status, answer = await teams.invoke(
            MARIA, "task.complete", first["data"], conversation_id=CHANNEL
        )
        assert card_of(answer) == done
        # another click on the done task (here with a note) changes nothing and says who
        status, answer = await teams.invoke(
            MARIA, "task.complete", {**first["data"], "note": "x"}, conversation_id=CHANNEL
        )
        assert "Redan klar" in card_text(card_of(answer))
    audit = await _audit(factory, case_id)
    assert (f"staff:{ANNA['aad']}", "task.complete", "refused") in audit
    maria = [
        outcome
        for actor, action, outcome in audit
        if actor == f"staff:{MARIA['aad']}" and action == "task.complete"
    ]
    assert maria == ["ok", "stale"]


async def test_physician_completes_own_letter_task_and_can_reopen(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _decision_card(teams, connector, "02_normal_named.json")
        status, answer = await teams.invoke(ANNA, "case.decide", _data(card, "normal_letter"))
        card_of(answer)
        sent = await connector.wait_count(personal_conversation(ANNA), 2)
        task_card = sent[1].card
        assert task_card is not None
        check_card(task_card)
        assert "Skicka brevsvar om normal bentäthet" in card_text(task_card)
        [complete] = actions_of(task_card)
        status, answer = await teams.invoke(MARIA, "task.complete", complete["data"])
        assert "behörighet" in error_of(answer)
        status, answer = await teams.invoke(ANNA, "task.complete", complete["data"])
        done = card_of(answer)
        [reopen] = actions_of(done)
        assert reopen["verb"] == "task.reopen"
        status, case = await teams.case(case_id)
        assert case["state"] == "closed"
        status, answer = await teams.invoke(ANNA, "task.reopen", reopen["data"])
        assert [a["verb"] for a in actions_of(card_of(answer))] == ["task.complete"]
        status, case = await teams.case(case_id)
        assert case["state"] == "decided"
        assert case["tasks"][0]["status"] == "open"


async def test_second_decision_and_stale_card_record_nothing(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _decision_card(teams, connector)
        status, answer = await teams.invoke(
            ANNA, "case.decide", _data(card, "normal_call", confirmed=True)
        )
        card_of(answer)
        # the same (now stale) card clicked again, with another decision
        status, answer = await teams.invoke(ANNA, "case.decide", _data(card, "call_in"))
        assert status == 200
        again = card_of(answer)
        assert "Redan beslutat av Anna Berg" in card_text(again)
        # nothing to decide; the decider may only undo (issue 11, point 4)
        assert [a["verb"] for a in actions_of(again)] == ["case.undo"]
        # another physician with the card of an old version
        status, answer = await teams.invoke(
            ERIK, "case.decide", _data(card, "other", other_note="x")
        )
        assert "Redan beslutat av Anna Berg" in card_text(card_of(answer))
    async with factory() as session:
        decisions = (await session.scalars(select(Decision))).all()
        assert [d.kind for d in decisions] == ["normal_call"]
        tasks = (await session.scalars(select(Task))).all()
        assert [t.kind for t in tasks] == ["normal_call"]
    audit = await _audit(factory, case_id)
    assert [a for a in audit if a[1] == "case.decide"] == [
        (f"staff:{ANNA['aad']}", "case.decide", "ok"),
        (f"staff:{ANNA['aad']}", "case.decide", "stale"),
        (f"staff:{ERIK['aad']}", "case.decide", "stale"),
    ]


async def test_stale_version_without_decision_records_nothing(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _decision_card(teams, connector)
        old = _data(card, "normal_letter", version=0)
        status, answer = await teams.invoke(ANNA, "case.decide", old)
        fresh = card_of(answer)
        assert "inaktuellt" in card_text(fresh)
        # the answer is the current decision card, which works
        status, answer = await teams.invoke(ANNA, "case.decide", _data(fresh, "normal_letter"))
        assert "Ingen osteoporos – brevsvar" in card_text(card_of(answer))


async def test_bad_invoke_data_gets_a_swedish_error_never_500(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _decision_card(teams, connector)
        bad: list[tuple[str, Any]] = [
            ("case.decide", {"case_id": "abc", "version": 1, "decision": "call_in"}),
            ("case.decide", {"version": 1}),
            ("case.decide", None),
            ("case.decide", "just a string"),
            ("case.decide", {"case_id": case_id, "version": 1, "decision": "explode"}),
            ("case.decide", {"case_id": 999999, "version": 1, "decision": "call_in"}),
            ("case.decide", _data(card, "other")),  # other without text
            ("case.decide", _data(card, "call_in", visit_physician=MARIA["aad"])),
            ("case.decide", _data(card, "reassign", physician="nobody")),
            ("case.assign", {"case_id": case_id}),
            ("task.complete", {"task_id": "x"}),
            ("task.complete", {"task_id": 424242}),
            ("card.refresh", {}),
            ("no.such.verb", {"case_id": case_id}),
            (None, {}),
        ]
        for verb, data in bad:
            status, answer = await teams.invoke(ANNA, verb, data)  # type: ignore[arg-type]
            assert status == 200, (verb, data)
            message = error_of(answer)
            assert message and message[0].isupper(), (verb, data, message)
        # nothing happened to the case
        status, case = await teams.case(case_id)
        assert case["state"] == "awaiting_decision" and case["tasks"] == []


async def test_refusals_and_actions_all_write_audit_rows(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _decision_card(teams, connector)
        await teams.invoke(STRANGER, "card.refresh", {"case_id": case_id}, trigger="automatic")
        await teams.invoke(ANNA, "card.refresh", {"case_id": case_id}, trigger="automatic")
        await teams.invoke(ANNA, "case.decide", _data(card, "normal_call"))
        await teams.invoke(ANNA, "case.decide", _data(card, "normal_call", confirmed=True))
        await teams.case(case_id)
    audit = await _audit(factory, case_id)
    assert (f"aad:{STRANGER['aad']}", "card.refresh", "refused") in audit
    assert (f"staff:{ANNA['aad']}", "card.shown", "ok") in audit
    decide = [(actor, outcome) for actor, action, outcome in audit if action == "case.decide"]
    assert decide == [(f"staff:{ANNA['aad']}", "confirm"), (f"staff:{ANNA['aad']}", "ok")]
    assert any(a[1] == "api.case.read" for a in audit)
    async with factory() as session:
        shown = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "card.shown"))
        ).one()
        assert shown.detail == {"trigger": "automatic"}
        assert shown.patient_key and len(shown.patient_key) == 64


async def test_refresh_returns_the_current_card_for_each_viewer(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _decision_card(teams, connector)
        status, answer = await teams.invoke(
            ANNA, "card.refresh", {"case_id": case_id}, trigger="automatic"
        )
        assert {a["data"]["decision"] for a in actions_of(card_of(answer))} >= {"call_in"}
        status, answer = await teams.invoke(MARIA, "card.refresh", {"case_id": case_id})
        assert actions_of(card_of(answer)) == []  # MVA sees the read-only summary
        await teams.invoke(ANNA, "case.decide", _data(card, "call_in"))
        status, answer = await teams.invoke(MARIA, "card.refresh", {"case_id": case_id})
        assert actions_of(card_of(answer)) == []
        status, answer = await teams.invoke(ERIK, "card.refresh", {"case_id": case_id})
        assert actions_of(card_of(answer)) == []
        # the deciding physician may undo it, for a while
        status, answer = await teams.invoke(ANNA, "card.refresh", {"case_id": case_id})
        assert [a["verb"] for a in actions_of(card_of(answer))] == ["case.undo"]


async def test_outside_text_cannot_add_links_or_break_the_card(db_url: str, factory: Any) -> None:
    bundle = json.loads(fixture_bytes("01_osteoporosis_named.json"))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource["name"] = [
                {
                    "family": 'Evil"}]} [klicka](https://evil.example)',
                    "given": ["**Fet** # rubrik\n- lista"],
                }
            ]
        if resource["resourceType"] == "DiagnosticReport":
            head = 'Se [här](https://evil.example/x) eller www.evil.example "}], "actions": [] \\ '
            conclusion = head + "x" * (CONCLUSION_MAX - len(head))  # the longest accepted
            resource["conclusion"] = conclusion
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, MARIA):
            await teams.install_personal(person)
        status, body = await teams.intake(json.dumps(bundle))
        assert status == 201, body
        [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
        card = sent.card
        assert card is not None
        check_card(card)  # valid JSON card, under 40 KB
        raw = json.dumps(card, ensure_ascii=False)
        assert "](https://evil.example" not in raw
        assert "[klicka](" not in raw
        assert "https://evil.example" not in raw
        assert "www.evil.example" not in raw
        assert "…" in raw  # the long conclusion was cut
        status, case = await teams.case(body["case_id"])
        assert status == 200
    async with factory() as session:
        stored = await session.get(Case, body["case_id"])
        assert stored is not None and stored.conclusion is not None
        assert stored.conclusion == conclusion  # the whole text stays in the case
    async with factory() as session:
        assert (await session.scalars(select(OutboxMessage))).all()
