"""What the decision card shows: identity by unit setting, protected identities, the
clinical suggestion (T or Z), and the hip/vertebra rule. Through the loopback harness."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.db import transaction
from bot.directory.service import load_directory
from tests.harness import ANNA, MARIA, card_text, check_card, personal_conversation, running_bot
from tests.helpers import FIXTURES, fixture_bytes

PNR = re.compile(r"\b(19|20)\d{6}[-+]?\d{4}\b")


async def _set_identity(factory: Any, mode: str) -> None:
    text = (FIXTURES / "directory.yaml").read_text(encoding="utf-8")
    text = text.replace("card_identity: full", f"card_identity: {mode}")
    async with transaction(factory) as session:
        await load_directory(session, text, actor="test")


async def _first_card(db_url: str, sample: str) -> tuple[str, list[str]]:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_personal(MARIA)
        status, body = await teams.intake(fixture_bytes(sample))
        assert status == 201, body
        [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert sent.card is not None
        check_card(sent.card)
        status, case = await teams.case(body["case_id"])
        refresh_status, refreshed = await teams.invoke(
            ANNA, "card.refresh", {"case_id": body["case_id"]}, trigger="automatic"
        )
        assert refresh_status == 200
        return card_text(sent.card), [sent.text, json.dumps(refreshed, ensure_ascii=False)]


async def test_full_identity(db_url: str, factory: Any) -> None:
    text, _ = await _first_card(db_url, "01_osteoporosis_named.json")
    assert "Margareta Lindqvist, 19520314-2384" in text


async def test_masked_identity(db_url: str, factory: Any) -> None:
    await _set_identity(factory, "masked")
    text, raw = await _first_card(db_url, "01_osteoporosis_named.json")
    assert "M. L., född 1952-03-14, 19520314-****" in text
    assert "Lindqvist" not in text and "2384" not in text
    assert all("Lindqvist" not in r and "2384" not in r for r in raw)


async def test_reference_identity(db_url: str, factory: Any) -> None:
    await _set_identity(factory, "reference")
    text, raw = await _first_card(db_url, "01_osteoporosis_named.json")
    assert "Lindqvist" not in text and not PNR.search(text)
    assert "Ärende 1" in text


async def test_protected_identity_is_never_shown(db_url: str, factory: Any) -> None:
    sample = json.loads(fixture_bytes("05_protected_identity.json"))
    patient = next(
        e["resource"] for e in sample["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    number = patient["identifier"][0]["value"]
    given = patient["name"][0]["given"][0]  # the sample's family name is "Skyddad"
    text, raw = await _first_card(db_url, "05_protected_identity.json")
    assert "Skyddad identitet" in text
    for blob in [text, *raw]:
        assert given not in blob
        assert number not in blob and number[2:8] not in blob
        assert patient["birthDate"] not in blob


async def test_suggestion_t_score_and_who_category(db_url: str, factory: Any) -> None:
    text, _ = await _first_card(db_url, "01_osteoporosis_named.json")
    assert "−2,9" in text and "Ländrygg" in text and "steoporos" in text
    assert "0,781" in text  # BMD
    assert "behandling bör övervägas oavsett T-score" not in text  # a wrist fracture


async def test_hip_fracture_rule(db_url: str, factory: Any) -> None:
    text, _ = await _first_card(db_url, "04_hip_fracture_osteopenia.json")
    assert "Höftfraktur" in text
    assert "behandling bör övervägas oavsett T-score" in text
    assert "Osteopeni" in text


async def test_under_fifty_shows_z_scores(db_url: str, factory: Any) -> None:
    text, _ = await _first_card(db_url, "09_young_zscore.json")
    assert "Z-score" in text
    assert "förväntat för åldern" in text
