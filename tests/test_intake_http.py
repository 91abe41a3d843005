"""`POST /api/dxa-answers` over HTTP: every answer code of the intake contract."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from bot.cases.models import Case
from bot.intake.models import RejectedMessage
from bot.outbox.models import OutboxMessage
from tests.conftest import fixture_bytes
from tests.harness import ANNA, CHANNEL, MARIA, card_text, personal_conversation, running_bot


async def _count(factory: Any, model: Any) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_rejections_store_nothing_but_the_rejected_log(db_url: str, factory: Any) -> None:
    sample = fixture_bytes("01_osteoporosis_named.json")
    async with running_bot(db_url) as (teams, _connector):
        status, body = await teams.intake(sample, token=None)
        assert status == 401
        status, body = await teams.intake(sample, token="wrong")
        assert status == 401
        status, body = await teams.intake(sample, content_type="text/plain")
        assert status == 415
        assert body["problems"][0]["path"] == "$"
        status, body = await teams.intake(b"{not json")
        assert status == 400
        assert body["problems"][0]["message"].startswith("not valid JSON")
        status, body = await teams.intake(b"\xff\xfe\x00garbage")
        assert status == 400
        status, body = await teams.intake(b"x" * (5 * 1024 * 1024 + 10))
        assert status == 413
        status, body = await teams.intake(json.dumps({"resourceType": "Patient"}))
        assert status == 422
        assert body["problems"]
        status, body = await teams.intake(fixture_bytes("08_invalid_check_digit.json"))
        assert status == 422
        assert body["problems"] == [
            {
                "path": "$.entry[0].resource.identifier[0].value",
                "message": body["problems"][0]["message"],
            }
        ]
        assert "check digit" in body["problems"][0]["message"]
        unknown = json.loads(sample)
        for entry in unknown["entry"]:
            if entry["resource"]["resourceType"] == "Organization":
                entry["resource"]["identifier"][0]["value"] = "SE2321000156-XXXX"
        status, body = await teams.intake(json.dumps(unknown))
        assert status == 422
        assert "SE2321000156-XXXX" in body["problems"][0]["message"]
        # plain application/json is accepted too
        status, body = await teams.intake(
            sample, content_type="application/json", token="second-sender-token"
        )
        assert status == 201
    assert await _count(factory, Case) == 1
    async with factory() as session:
        rejected = (
            await session.scalars(select(RejectedMessage).order_by(RejectedMessage.id))
        ).all()
    assert [r.status for r in rejected] == [415, 400, 400, 413, 422, 422, 422]
    assert rejected[1].body == "{not json"
    assert all(r.problems for r in rejected)


async def test_duplicate_returns_200_and_changes_nothing(db_url: str, factory: Any) -> None:
    sample = json.loads(fixture_bytes("01_osteoporosis_named.json"))
    async with running_bot(db_url) as (teams, _connector):
        status, first = await teams.intake(json.dumps(sample))
        assert status == 201
        outbox_rows = await _count(factory, OutboxMessage)
        sample["id"] = "another-bundle-id"
        sample["timestamp"] = "2026-11-13T10:00:00+01:00"
        status, second = await teams.intake(json.dumps(sample))
        assert status == 200
        assert second["case_id"] == first["case_id"]
    assert await _count(factory, Case) == 1
    assert await _count(factory, OutboxMessage) == outbox_rows


async def test_correction_supersedes_and_tells_the_physician(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        status, first = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 201
        [card1] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert card1.card is not None
        decide = next(a for a in _actions(card1.card) if a["data"].get("decision") == "call_in")
        await teams.invoke(ANNA, "case.decide", decide["data"])
        await connector.wait_count(CHANNEL, 1)

        status, second = await teams.intake(fixture_bytes("07_amended_01.json"))
        assert status == 202, second
        assert second["supersedes"] == first["case_id"]
        sent = await connector.wait_count(personal_conversation(ANNA), 2)
        assert sent[1].card is not None
        told = card_text(sent[1].card)
        assert f"ersätter Ärende {first['case_id']}" in told
        assert "Tidigare beslut: Kalla till läkarbesök" in told
        channel = await connector.wait_count(CHANNEL, 2)
        assert "Korrigerat svar" in channel[1].text

        status, old = await teams.case(first["case_id"])
        assert old["state"] == "superseded"
        assert old["superseded_by"] == second["case_id"]
        assert {t["status"] for t in old["tasks"]} == {"cancelled"}
        status, new = await teams.case(second["case_id"])
        assert new["state"] == "awaiting_decision"
        assert new["supersedes"] == first["case_id"]
        assert new["physician"]["aad_object_id"] == ANNA["aad"]
        # the old card can no longer decide anything
        status, answer = await teams.invoke(ANNA, "case.decide", decide["data"])
        assert "Redan beslutat" in card_text(answer["value"]) or "Ersatt" in card_text(
            answer["value"]
        )
        # the same correction again is a duplicate
        status, again = await teams.intake(fixture_bytes("07_amended_01.json"))
        assert status == 200 and again["case_id"] == second["case_id"]


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    from tests.harness import actions_of

    return actions_of(card)


async def test_every_sample_is_routed(db_url: str, factory: Any) -> None:
    expected = {
        "01_osteoporosis_named.json": "awaiting_decision",
        "02_normal_named.json": "awaiting_decision",
        "03_osteopenia_jour_vc.json": "awaiting_assignment",
        "04_hip_fracture_osteopenia.json": "awaiting_decision",
        "05_protected_identity.json": "awaiting_decision",
        "06_samordningsnummer.json": "awaiting_decision",
        "09_young_zscore.json": "awaiting_decision",
    }
    async with running_bot(db_url) as (teams, _connector):
        for name, state in expected.items():
            status, body = await teams.intake(fixture_bytes(name))
            assert status == 201, (name, body)
            status, case = await teams.case(body["case_id"])
            assert case["state"] == state, name
