"""The read-only case API: bearer tokens, filters, the documented shape, audited reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.audit.models import AuditEntry
from tests.harness import REPORT_TOKEN, running_bot
from tests.helpers import fixture_bytes


async def test_case_api(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        _, first = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        _, triage = await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        base = teams.bot_url + "/api/cases"
        auth = {"Authorization": f"Bearer {REPORT_TOKEN}"}

        async with teams.http.get(base) as response:
            assert response.status == 401
        async with teams.http.get(
            base, headers={"Authorization": "Bearer intake-secret-token"}
        ) as response:
            assert response.status == 401  # an intake token is not a report token
        status, body = await teams.case(first["case_id"], token="nope")
        assert status == 401
        status, body = await teams.case(987654)
        assert status == 404
        async with teams.http.get(base + "/abc", headers=auth) as response:
            assert response.status == 400

        status, case = await teams.case(first["case_id"])
        assert status == 200
        assert case["id"] == first["case_id"]
        assert case["state"] == "awaiting_decision"
        assert case["version"] == 1
        assert case["unit"]["hsa_id"] == "SE2321000156-7TNG"
        assert case["physician"]["aad_object_id"] == "00000000-0000-0000-0000-000000000101"
        assert case["decision"] is None and case["tasks"] == []
        assert case["history"][0]["to_state"] == "awaiting_decision"
        assert (case["history"][0]["kind"], case["history"][0]["action"]) == (
            "received",
            "Svar mottaget",
        )
        assert "patient" not in case  # no patient identifiers leave through this API

        async with teams.http.get(
            base, params={"state": "awaiting_assignment"}, headers=auth
        ) as response:
            listed = await response.json()
        assert [c["id"] for c in listed["cases"]] == [triage["case_id"]]
        assert listed["cases"][0]["physician"] is None
        async with teams.http.get(
            base, params={"unit": "SE2321000156-7TNG"}, headers=auth
        ) as response:
            assert (await response.json())["count"] == 2
        async with teams.http.get(
            base, params={"unit": "SE0000000000-NONE"}, headers=auth
        ) as response:
            assert (await response.json())["count"] == 0
        async with teams.http.get(base, params={"state": "bogus"}, headers=auth) as response:
            assert response.status == 400
            assert (await response.json())["problems"][0]["path"] == "state"
        async with teams.http.get(base, params={"limit": "0"}, headers=auth) as response:
            assert response.status == 400

    async with factory() as session:
        reads = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "api.case.read"))
        ).all()
    # one per single read (found or not) and one per case listed
    assert len(reads) == 2 + 1 + 2
    assert {r.outcome for r in reads} == {"ok", "not_found"}
    assert all(r.actor.startswith("api:token-") for r in reads)
