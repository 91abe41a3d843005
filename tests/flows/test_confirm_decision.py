"""A decision of no osteoporosis that goes against the answer needs a second click (issue
11, point 3): the first records nothing but its audit row and asks, saying why; only the
confirmation records. Over the loopback harness, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.audit.models import AuditEntry
from bot.cases.models import Case, Decision
from bot.outbox.models import OutboxMessage
from bot.tasks.models import Task
from tests.harness import (
    ANNA,
    FakeConnector,
    Teams,
    actions_of,
    card_of,
    card_text,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes


async def _decision_card(teams: Teams, connector: FakeConnector, sample: str) -> dict[str, Any]:
    await teams.install_personal(ANNA)
    status, body = await teams.intake(fixture_bytes(sample))
    assert status == 201, body
    [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
    assert sent.card is not None
    return sent.card


def _data(card: dict[str, Any], decision: str) -> dict[str, Any]:
    [data] = [a["data"] for a in actions_of(card) if a["data"].get("decision") == decision]
    return dict(data)


async def _recorded(factory: Any, case_id: int) -> tuple[Any, ...]:
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None

        async def count(model: Any) -> int:
            query = select(func.count()).select_from(model).where(model.case_id == case_id)
            return int(await session.scalar(query) or 0)

        return (case.state, case.version, await count(Decision), await count(Task),
                await count(OutboxMessage))


@pytest.mark.parametrize(
    ("sample", "decision", "reasons"),
    [
        (
            "01_osteoporosis_named.json",
            "normal_letter",
            ["Lägsta T-score −2,9 (Ländrygg): osteoporos"],
        ),
        (
            "04_hip_fracture_osteopenia.json",
            "normal_call",
            ["Höftfraktur: behandling bör övervägas oavsett T-score"],
        ),
        (
            "09_young_zscore.json",
            "normal_letter",
            ["Lägsta Z-score −2,1 (Ländrygg): under förväntat för åldern"],
        ),
    ],
)
async def test_a_decision_against_the_answer_asks_first_and_records_on_confirmation(
    db_url: str, factory: Any, sample: str, decision: str, reasons: list[str]
) -> None:
    async with running_bot(db_url) as (teams, connector):
        card = await _decision_card(teams, connector, sample)
        data = _data(card, decision)
        case_id = data["case_id"]
        before = await _recorded(factory, case_id)
        assert before[:4] == ("awaiting_decision", 1, 0, 0)

        status, answer = await teams.invoke(ANNA, "case.decide", data)
        asked = card_of(answer)  # valid Adaptive Card 1.5 (card_of checks it)
        text = card_text(asked)
        assert "Bekräfta beslut" in text and "Beslutet går emot svaret:" in text
        for reason in reasons:
            assert f"• {reason}" in text
        label = {"normal_letter": "Ingen osteoporos – brevsvar",
                 "normal_call": "Ingen osteoporos – ring patienten"}[decision]
        assert [(a["title"], a["verb"], a["data"]) for a in asked["actions"]] == [
            ("Tillbaka", "card.refresh", {"case_id": case_id}),
            (f"Bekräfta: {label}", "case.decide", {**data, "confirmed": True}),
        ]
        assert await _recorded(factory, case_id) == before  # nothing recorded, nothing sent

        # back to the decision card: nothing pre-selected there
        status, answer = await teams.invoke(ANNA, "card.refresh", {"case_id": case_id})
        back = card_of(answer)
        assert {a["data"]["decision"] for a in actions_of(back)} >= {"normal_letter", "call_in"}
        assert all("style" not in a for a in back["actions"])

        status, answer = await teams.invoke(ANNA, "case.decide", {**data, "confirmed": True})
        assert f"Beslut: {label}" in card_text(card_of(answer))
    state, version, decisions, tasks, _ = await _recorded(factory, case_id)
    assert (state, version, decisions, tasks) == ("decided", 2, 1, 1)
    async with factory() as session:
        rows = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.case_id == case_id, AuditEntry.action == "case.decide")
                .order_by(AuditEntry.id)
            )
        ).all()
        assert [(a.outcome, a.detail) for a in rows] == [
            ("confirm", {"decision": decision, "reasons": reasons}),
            ("ok", {"decision": decision, "tasks": [rows[1].detail["tasks"][0]]}),
        ]
        kind = await session.scalar(select(Decision.kind).where(Decision.case_id == case_id))
        assert kind == decision


@pytest.mark.parametrize(
    ("sample", "decision", "extra"),
    [
        ("02_normal_named.json", "normal_letter", {}),  # agrees with the answer
        ("01_osteoporosis_named.json", "call_in", {}),
        ("01_osteoporosis_named.json", "other", {"other_note": "Remiss till reumatolog"}),
    ],
)
async def test_a_decision_that_agrees_records_at_once(
    db_url: str, factory: Any, sample: str, decision: str, extra: dict[str, str]
) -> None:
    async with running_bot(db_url) as (teams, connector):
        card = await _decision_card(teams, connector, sample)
        data = {**_data(card, decision), **extra}
        status, answer = await teams.invoke(ANNA, "case.decide", data)
        assert "Beslut:" in card_text(card_of(answer))
    state, version, decisions, *_ = await _recorded(factory, data["case_id"])
    assert (state, version, decisions) == ("decided", 2, 1)


async def test_a_confirmation_from_a_stale_card_records_nothing(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, connector):
        card = await _decision_card(teams, connector, "01_osteoporosis_named.json")
        data = _data(card, "normal_letter")
        status, answer = await teams.invoke(ANNA, "case.decide", data)
        [_, confirm] = card_of(answer)["actions"]
        status, answer = await teams.invoke(ANNA, "case.decide", _data(card, "call_in"))
        assert "Beslut: Kalla till läkarbesök" in card_text(card_of(answer))
        status, answer = await teams.invoke(ANNA, "case.decide", confirm["data"])
        assert "Redan beslutat av Anna Berg" in card_text(card_of(answer))
    async with factory() as session:
        kinds = (await session.scalars(select(Decision.kind))).all()
        assert kinds == ["call_in"]
