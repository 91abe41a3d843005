"""Cases without a named physician: the triage card, assignment, and delivery fallback."""

from __future__ import annotations

from typing import Any

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


async def test_triage_assign_and_fallback_to_channel(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(MARIA)
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        assert status == 201
        case_id = body["case_id"]
        [triage] = await connector.wait_count(CHANNEL, 1)
        card = triage.card
        assert card is not None
        check_card(card)
        [assign] = actions_of(card)
        assert assign["verb"] == "case.assign"
        assert assign["data"] == {"case_id": case_id, "version": 1}
        assert "Ingrid Sjöberg" in card_text(card)

        # an MVA assigns the case to Erik, who has not installed the app personally
        status, answer = await teams.invoke(
            MARIA,
            "case.assign",
            {**assign["data"], "physician": ERIK["aad"]},
            conversation_id=CHANNEL,
        )
        assigned = card_of(answer)
        assert actions_of(assigned) == []
        assert "Erik Lund" in card_text(assigned) and "Maria Svensson" in card_text(assigned)

        # everyone else's copy of the triage card refreshes to show who took it
        for viewer in (MARIA, ANNA):
            status, answer = await teams.invoke(
                viewer, "card.refresh", card["refresh"]["action"]["data"],
                trigger="automatic", conversation_id=CHANNEL,
            )
            refreshed = card_of(answer)
            assert actions_of(refreshed) == []
            assert "Fördelat till Erik Lund av Maria Svensson" in card_text(refreshed)

        # a second secretary with the same old card: nothing changes
        status, answer = await teams.invoke(
            ANNA,
            "case.assign",
            {**assign["data"], "physician": ANNA["aad"]},
            conversation_id=CHANNEL,
        )
        assert "Redan fördelat till Erik Lund" in card_text(card_of(answer))

        # Erik's decision card cannot reach his personal chat: it goes to the channel, saying so
        sent = await connector.wait_count(CHANNEL, 2)
        fallback = sent[1]
        assert "kunde inte levereras till Erik Lund personligen" in fallback.activity["text"]
        assert fallback.card is not None
        assert {a["data"]["decision"] for a in actions_of(fallback.card)} >= {"call_in"}

        status, case = await teams.case(case_id)
        assert case["state"] == "awaiting_decision"
        assert case["physician"]["aad_object_id"] == ERIK["aad"]

        # Erik installs the app; a reassignment to him now reaches his chat
        await teams.install_personal(ERIK)
        status, answer = await teams.invoke(
            ERIK,
            "case.decide",
            {
                "case_id": case_id,
                "version": case["version"],
                "decision": "reassign",
                "physician": ANNA["aad"],
            },
        )
        assert "Anna Berg" in card_text(card_of(answer))
        [to_anna] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert to_anna.card is not None
        assert "Fördelat om av Erik Lund" in card_text(to_anna.card)
        status, case = await teams.case(case_id)
        assert case["physician"]["aad_object_id"] == ANNA["aad"]


async def test_assign_needs_a_role_and_a_physician(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        data = {"case_id": body["case_id"], "version": 1}
        stranger = {"aad": "00000000-0000-0000-0000-00000000dead", "id": "29:s", "name": "S"}
        status, answer = await teams.invoke(
            stranger, "case.assign", {**data, "physician": ANNA["aad"]}
        )
        assert "behörighet" in error_of(answer)
        status, answer = await teams.invoke(
            MARIA, "case.assign", {**data, "physician": MARIA["aad"]}
        )
        assert "läkare" in error_of(answer)
        status, case = await teams.case(body["case_id"])
        assert case["state"] == "awaiting_assignment" and case["physician"] is None
