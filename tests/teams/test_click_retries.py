"""Teams retrying a card click (`adaptiveCard/action`) it got no answer to in time: the
invoke's activity id reaches the click, with and without the SDK's turn, and the retry
gets the same card while the action is recorded once (issue 11, point 2)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cases.models import Case, Decision
from bot.clicks.models import Click
from bot.clicks.service import keys_of
from bot.db import utcnow
from bot.flows.data import DecideData
from bot.tasks.models import Task
from tests.harness import ANNA
from tests.helpers import ingest_sample
from tests.teams.clicks import invoke, product


@pytest.mark.usefixtures("click_path")
async def test_teams_retrying_an_invoke_gets_the_same_card(db_url: str, factory: Any) -> None:
    """Through `POST /api/messages`, with and without the SDK's turn: the activity id of
    the invoke reaches the click."""
    case_id = await ingest_sample(factory, "01_osteoporosis_named.json", now=utcnow())
    data = {"case_id": case_id, "version": 1, "decision": "call_in", "note": "Tolk"}
    value = {"action": {"type": "Action.Execute", "verb": "case.decide", "data": data}}
    async with product(db_url) as p:
        answers = [await p.post(invoke(value, person=ANNA, id="retried")) for _ in range(2)]
    assert [status for status, _ in answers] == [200, 200]
    assert answers[0][1] == answers[1][1]
    assert answers[0][1]["type"] == "application/vnd.microsoft.card.adaptive"
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and case.state == "decided"
        decided = select(func.count()).select_from(Decision).where(Decision.case_id == case_id)
        assert await session.scalar(decided) == 1
        tasks = select(func.count()).select_from(Task).where(Task.case_id == case_id)
        assert await session.scalar(tasks) == 4
        [key] = (await session.scalars(select(Click.activity_key))).all()
    # told apart by the activity id, not only by its content
    content = DecideData.model_validate(data).model_dump(mode="json")
    keys = keys_of(clicker=ANNA["aad"], activity_id="retried", verb="case.decide", data=content)
    assert key == keys.activity is not None
