"""Clinicians never read an internal id (SPEC section 6): a case's history names people by
name and the sending system as "Integrationsmotorn", never "intake:token-…", an AAD
object id or a database id; and its dates and times are YYYY-MM-DD HH:MM. Through the
loopback harness, with a real answer taken in over HTTP, on both databases."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update

from bot.cases.enums import EventKind
from bot.cases.models import CaseEvent
from bot.db import transaction, utcnow
from bot.directory.actor import UNKNOWN_PERSON
from tests.cards.cardtools import odd_dates, shown_texts
from tests.dialogs.test_commands import card_reply
from tests.harness import (
    ANNA,
    CHANNEL,
    ERIK,
    MARIA,
    actions_of,
    card_of,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes

AAD_ID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)
INTERNAL = re.compile(r"intake:|token-|staff:|aad:|cli:|system:|api:|\b29:")
LEGACY_AAD = "00000000-0000-0000-0000-0000000009a1"


def _read(card: dict[str, Any]) -> list[str]:
    """What a person reads on the card, markdown escapes removed."""
    return [re.sub(r"\\(.)", r"\1", text) for text in shown_texts(card)]


def _leaks(texts: list[str]) -> list[str]:
    return [
        text for text in texts if INTERNAL.search(text) or AAD_ID.search(text) or odd_dates(text)
    ]


async def test_history_names_people_and_the_sending_system(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, ERIK, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 201, body
        case_id = body["case_id"]
        [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert sent.card is not None
        data = next(a["data"] for a in actions_of(sent.card) if a["data"]["decision"] == "call_in")
        status, answer = await teams.invoke(
            ANNA, "case.decide", {**data, "visit_physician": ERIK["aad"]}
        )
        decided = card_of(answer)
        [task_sent] = await connector.wait_count(CHANNEL, 1)
        assert task_sent.card is not None
        done = next(a for a in actions_of(task_sent.card) if a["title"] == "Klar")
        status, answer = await teams.invoke(
            MARIA, "task.complete", done["data"], conversation_id=CHANNEL
        )
        task_card = card_of(answer)

        # the history stores the sender's id; rows of older versions and other senders too
        async with factory() as session:
            stored = (
                await session.scalars(select(CaseEvent.actor).where(CaseEvent.case_id == case_id))
            ).all()
        assert any(actor.startswith("intake:token-") for actor in stored), stored
        async with transaction(factory) as session:
            for actor in (f"aad:{LEGACY_AAD}", LEGACY_AAD, "cli:purge", "system:daily"):
                session.add(
                    CaseEvent(
                        case_id=case_id,
                        at=utcnow(),
                        actor=actor,
                        action=EventKind.TASK_DONE,
                        from_state="decided",
                        to_state="decided",
                        reason="test",
                    )
                )

        # the case text command shows the summary card with the history
        summary = await card_reply(teams, connector, ANNA, f"ärende {case_id}")
        texts = _read(summary)
        history = [t for t in texts if re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} – ", t)]
        assert history[0].endswith("Svar mottaget: Väntar på beslut – Integrationsmotorn")
        assert any(t.endswith("– Anna Berg") for t in history), history
        assert any(t.endswith("– Maria Svensson") for t in history), history
        assert sum(t.endswith(f"– {UNKNOWN_PERSON}") for t in history) == 2, history
        assert sum(t.endswith("– systemet") for t in history) == 2, history
        for card in (sent.card, decided, task_sent.card, task_card, summary):
            assert _leaks(_read(card)) == []
        assert "intake:" not in str(summary) and "token-" not in str(summary)


async def test_triage_card_names_who_assigned(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        for person in (ANNA, ERIK, MARIA):
            await teams.install_personal(person)
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        assert status == 201, body
        case_id = body["case_id"]
        [sent] = await connector.wait_count(CHANNEL, 1)
        assert sent.card is not None
        assert _leaks(_read(sent.card)) == []
        [assign] = actions_of(sent.card)
        status, answer = await teams.invoke(
            MARIA,
            "case.assign",
            {**assign["data"], "physician": ERIK["aad"]},
            conversation_id=CHANNEL,
        )
        assigned = _read(card_of(answer))
        assert any("Maria Svensson" in t for t in assigned) and _leaks(assigned) == []

        # an assignment row whose actor is an id (as older versions could store) shows no id
        async with transaction(factory) as session:
            await session.execute(
                update(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.action == EventKind.ASSIGNED)
                .values(actor=f"aad:{LEGACY_AAD}")
            )
        status, answer = await teams.invoke(
            MARIA, "card.refresh", {"case_id": case_id, "view": "triage"}, trigger="automatic"
        )
        refreshed = _read(card_of(answer))
        assert any(UNKNOWN_PERSON in t for t in refreshed), refreshed
        assert _leaks(refreshed) == []
