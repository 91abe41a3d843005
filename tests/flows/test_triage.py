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
        check_card(fallback.card)
        # the secretaries see whom it was meant for and can hand it on, not decide
        assert "Kortet var avsett för Erik Lund" in card_text(fallback.card)
        [hand_on] = actions_of(fallback.card)
        assert (hand_on["verb"], hand_on["title"]) == ("case.assign", "Fördela om")
        # the unit's physicians get the decision card on view (a user-specific view)
        refresh = fallback.card["refresh"]
        assert ANNA["id"] in refresh["userIds"] and MARIA["id"] not in refresh["userIds"]
        status, answer = await teams.invoke(
            ANNA, "card.refresh", refresh["action"]["data"],
            trigger="automatic", conversation_id=CHANNEL,
        )
        assert {"call_in", "normal_letter"} <= {
            a["data"].get("decision") for a in actions_of(card_of(answer))
        }
        status, answer = await teams.invoke(
            MARIA, "card.refresh", refresh["action"]["data"],
            trigger="automatic", conversation_id=CHANNEL,
        )
        assert [a["verb"] for a in actions_of(card_of(answer))] == ["case.assign"]

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


async def test_secretary_hands_on_a_card_that_went_to_the_channel(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        status, body = await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        case_id = body["case_id"]
        [triage] = await connector.wait_count(CHANNEL, 1)
        assert triage.card is not None
        [assign] = actions_of(triage.card)
        await teams.invoke(
            MARIA, "case.assign", {**assign["data"], "physician": ERIK["aad"]},
            conversation_id=CHANNEL,
        )
        rerouted = (await connector.wait_count(CHANNEL, 2))[1]
        assert rerouted.card is not None
        [hand_on] = actions_of(rerouted.card)
        # handing it back to the physician it was meant for is no choice on the card
        [choices] = [
            item for item in rerouted.card["body"] if item.get("id") == "physician"
        ]
        assert ERIK["aad"] not in {c["value"] for c in choices["choices"]}

        status, answer = await teams.invoke(
            MARIA, "case.assign", {**hand_on["data"], "physician": ANNA["aad"]},
            conversation_id=CHANNEL,
        )
        assert "Fördelat till Anna Berg av Maria Svensson" in card_text(card_of(answer))
        status, case = await teams.case(case_id)
        assert case["physician"]["aad_object_id"] == ANNA["aad"]
        assert case["state"] == "awaiting_decision"
        [to_anna] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert to_anna.card is not None
        assert {a["data"].get("decision") for a in actions_of(to_anna.card)} >= {"call_in"}
        # the re-routed message in the channel is updated for everyone: no live buttons
        await connector.wait_for(lambda: connector.updates(CHANNEL, rerouted.activity_id))
        shown = connector.showing(CHANNEL, rerouted.activity_id or "")
        assert shown is not None and actions_of(shown) == []
        check_card(shown)
        # the same (now stale) card clicked again, for another physician, records nothing
        status, answer = await teams.invoke(
            MARIA, "case.assign", {**hand_on["data"], "physician": ERIK["aad"]},
            conversation_id=CHANNEL,
        )
        assert "Redan fördelat till Anna Berg" in card_text(card_of(answer))
