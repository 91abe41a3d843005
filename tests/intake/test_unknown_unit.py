"""An answer for an unknown care unit is refused and changes nothing but the rejected-
message log: the lock row of its answer identity, taken before the unit is read (issue 15:
the unit and the current case are one query), is rolled back with the rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot.cases.models import Case
from bot.flows.take_in_answer import ingest
from bot.intake.models import AnswerKey, RejectedMessage
from tests.helpers import fixture_bytes

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def _take_in(factory: Any, body: bytes) -> Any:
    return await ingest(
        factory,
        body=body,
        content_type="application/fhir+json",
        sender="test",
        channel="cli",
        secret="s",
        now=NOW,
    )


async def test_an_unknown_unit_is_refused_and_nothing_is_kept(factory: Any) -> None:
    bundle = json.loads(fixture_bytes("01_osteoporosis_named.json"))
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Organization":
            entry["resource"]["identifier"][0]["value"] = "SE2321000156-XXXX"
    result = await _take_in(factory, json.dumps(bundle).encode())
    assert result.status == 422
    assert result.body["problems"] == [
        {
            "path": "$.entry[?(@.resource.resourceType=='Organization')].identifier",
            "message": "unknown care unit HSA-id SE2321000156-XXXX",
        }
    ]
    async with factory() as session:
        for model in (Case, AnswerKey):
            assert await session.scalar(select(func.count()).select_from(model)) == 0
        [kept] = (await session.scalars(select(RejectedMessage))).all()
        assert kept.status == 422

    # the same answer for its real unit is then taken in as new
    result = await _take_in(factory, fixture_bytes("01_osteoporosis_named.json"))
    assert result.status == 201 and result.body["outcome"] == "created"
