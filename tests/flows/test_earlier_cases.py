"""A patient's earlier cases on a new decision card (SPEC 2.4, "Tidigare i frakturkedjan"),
and a new answer after an earlier decision counted as a re-fracture. Over loopback HTTP,
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot.cases.models import Case
from bot.db import utcnow
from bot.demo import fresh_answer
from tests.harness import (
    ANNA,
    actions_of,
    card_text,
    check_card,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes

ANNA_CHAT = personal_conversation(ANNA)


async def test_a_new_answer_shows_the_patients_earlier_case(db_url: str, factory: Any) -> None:
    sample = fixture_bytes("01_osteoporosis_named.json")
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        status, first = await teams.intake(sample)
        [card] = await connector.wait_count(ANNA_CHAT, 1)
        assert card.card is not None
        assert "Tidigare i frakturkedjan" not in card_text(card.card)
        # undecided: a second answer shows the first, but is no re-fracture yet
        status, second = await teams.intake(fresh_answer(sample, now=utcnow(), suffix="b"))
        assert status == 201, second
        [_, again] = await connector.wait_count(ANNA_CHAT, 2)
        assert again.card is not None
        text = card_text(again.card)
        assert f"Ärende {first['case_id']} (" in text and "inget beslut" in text
        assert "återfraktur" not in text

        data = next(a["data"] for a in actions_of(card.card) if a["data"]["decision"] == "call_in")
        await teams.invoke(ANNA, "case.decide", data)
        status, third = await teams.intake(fresh_answer(sample, now=utcnow(), suffix="c"))
        assert status == 201, third
        sent = await connector.wait_for(
            lambda: [
                s for s in connector.to(ANNA_CHAT) if s.card and "återfraktur" in card_text(s.card)
            ]
        )
        latest = sent[-1].card
        check_card(latest)
        assert f"Ärende {first['case_id']} (" in card_text(latest)
        assert "Kalla till läkarbesök" in card_text(latest)


async def test_a_protected_patients_earlier_case_shows_without_identity(
    db_url: str, factory: Any
) -> None:
    sample = fixture_bytes("05_protected_identity.json")
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        status, first = await teams.intake(sample)
        await connector.wait_count(ANNA_CHAT, 1)
        status, second = await teams.intake(fresh_answer(sample, now=utcnow(), suffix="b"))
        assert status == 201, second
        [_, again] = await connector.wait_count(ANNA_CHAT, 2)
        assert again.card is not None
        check_card(again.card)
        text = card_text(again.card)
        assert "Tidigare i frakturkedjan" in text and f"Ärende {first['case_id']} (" in text
        assert "Skyddad identitet" in text
    async with factory() as session:
        case = await session.get(Case, first["case_id"])
        assert case is not None and case.protected_identity
        for secret in (case.patient_name, case.patient_number):
            assert secret and secret not in text
