"""A state-changing click is answered once (issue 11, point 2): the same click arriving
again (a Teams retry of the invoke: the same activity id; a double click: the same verb
and data from the same person within 30 seconds) records nothing more and gets the same
card, also when both arrive at once. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.audit.models import AuditEntry
from bot.cases.models import Decision
from bot.clicks.models import Click
from bot.db import transaction
from bot.directory.actor import Actor
from bot.flows.click import answer_once
from bot.flows.data import DecideData
from bot.flows.decide import on_decide
from bot.flows.take_in_answer import ingest
from bot.outbox.models import OutboxMessage
from bot.retention.service import purge
from bot.tasks.models import Task
from bot.teams import actions
from tests.harness import ANNA, MARIA
from tests.helpers import fixture_bytes, ingest_sample

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SAMPLE = "01_osteoporosis_named.json"


def clicked(
    person: dict[str, str], *, at: datetime = NOW, activity_id: str | None = None
) -> actions.Invoke:
    return actions.Invoke(
        actor_aad=person["aad"], now=at, trigger="manual", activity_id=activity_id
    )


async def count(factory: Any, model: Any, *where: Any) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def outcomes(factory: Any, case_id: int, action: str) -> list[str]:
    async with factory() as session:
        rows = await session.scalars(
            select(AuditEntry.outcome)
            .where(AuditEntry.case_id == case_id, AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return list(rows.all())


async def new_case(factory: Any, round_no: int) -> int:
    """A case of the sample under an answer identifier of its own."""
    bundle = json.loads(fixture_bytes(SAMPLE))
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "DiagnosticReport":
            entry["resource"]["identifier"][0]["value"] += f"-race{round_no}"
    result = await ingest(
        factory,
        body=json.dumps(bundle).encode(),
        content_type="application/fhir+json",
        sender="test",
        channel="cli",
        secret="s",
        now=NOW,
    )
    assert result.case_id is not None, result.body
    return result.case_id


async def decide(factory: Any, case_id: int, inv: actions.Invoke) -> actions.Answer:
    data = {"case_id": case_id, "version": 1, "decision": "call_in", "note": "Tolk"}
    return await actions.dispatch(factory, "case.decide", data, inv)


async def assert_decided_once(factory: Any, case_id: int) -> None:
    assert await count(factory, Decision, Decision.case_id == case_id) == 1
    assert await count(factory, Task, Task.case_id == case_id) == 4
    task_cards = (OutboxMessage.case_id == case_id, OutboxMessage.purpose == "task_card")
    assert await count(factory, OutboxMessage, *task_cards) == 1
    assert await outcomes(factory, case_id, "case.decide") == ["ok"]


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (clicked(ANNA, activity_id="f:1"), "a retry of the invoke"),
        (clicked(ANNA, at=NOW + timedelta(minutes=5), activity_id="f:1"), "a late retry"),
        (clicked(ANNA, at=NOW + timedelta(seconds=29), activity_id="f:2"), "a double click"),
        (clicked(ANNA, at=NOW + timedelta(seconds=5)), "no activity id, same data"),
    ],
)
async def test_the_same_click_again_records_once_and_gets_the_same_card(
    factory: Any, second: actions.Invoke, why: str
) -> None:
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    first = await decide(factory, case_id, clicked(ANNA, activity_id="f:1"))
    assert first.card is not None and first.changed and first.decision == "call_in"
    again = await decide(factory, case_id, second)
    assert again.card == first.card, why
    assert (again.changed, again.decision, again.error) == (False, None, None)
    await assert_decided_once(factory, case_id)


async def test_the_same_data_after_the_window_is_a_new_click(factory: Any) -> None:
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    first = await decide(factory, case_id, clicked(ANNA, activity_id="f:1"))
    later = await decide(factory, case_id, clicked(ANNA, at=NOW + timedelta(seconds=30)))
    assert later.card is not None and later.card != first.card
    assert "Redan beslutat av Anna Berg" in str(later.card)
    assert await outcomes(factory, case_id, "case.decide") == ["ok", "stale"]


async def test_another_persons_same_click_is_their_own(factory: Any) -> None:
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    await decide(factory, case_id, clicked(ANNA, activity_id="f:1"))
    other = await decide(factory, case_id, clicked(MARIA, activity_id="f:1"))
    assert other.error == "Endast läkare på enheten kan besluta i ärendet."
    assert await outcomes(factory, case_id, "case.decide") == ["ok", "refused"]


async def test_a_click_again_after_another_click_is_a_new_click(factory: Any) -> None:
    """Tick off, undo the tick, tick off again, within seconds and with one activity id
    (a client that reuses ids): the third click is not the first one again."""
    case_id = await ingest_sample(factory, "02_normal_named.json", now=NOW)
    data = {"case_id": case_id, "version": 1, "decision": "normal_call"}
    assert (await actions.dispatch(factory, "case.decide", data, clicked(ANNA))).changed
    async with factory() as session:
        task_id = await session.scalar(select(Task.id).where(Task.case_id == case_id))
    tick = {"task_id": task_id}
    inv = clicked(ANNA, activity_id="f:1")
    done = await actions.dispatch(factory, "task.complete", tick, inv)
    reopened = await actions.dispatch(factory, "task.reopen", tick, inv)
    again = await actions.dispatch(factory, "task.complete", tick, inv)
    assert done.changed and reopened.changed and again.changed
    async with factory() as session:
        task = await session.get(Task, task_id)
        assert task is not None and task.status == "done"
    assert await outcomes(factory, case_id, "task.complete") == ["ok", "ok"]


async def test_a_refresh_is_never_recorded(factory: Any) -> None:
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    for _ in range(2):
        answer = await actions.dispatch(
            factory, "card.refresh", {"case_id": case_id}, clicked(ANNA, activity_id="f:1")
        )
        assert answer.card is not None
    assert await count(factory, Click) == 0
    assert await outcomes(factory, case_id, "card.shown") == ["ok", "ok"]


async def test_the_same_click_twice_at_once_records_once(factory: Any) -> None:
    """The second waits for the first (on the click's unique keys) and gets its answer."""
    for round_no in range(4):
        case_id = await new_case(factory, round_no)
        inv = clicked(ANNA, activity_id=f"race-{round_no}")
        answers = await asyncio.gather(*(decide(factory, case_id, inv) for _ in range(2)))
        assert answers[0].card is not None and answers[0].card == answers[1].card
        assert sorted(a.changed for a in answers) == [False, True]
        await assert_decided_once(factory, case_id)


async def test_a_failed_click_is_not_remembered(factory: Any) -> None:
    """A click whose transaction fails leaves no row: the same click again runs anew."""
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)

    async def broken(*_args: Any) -> actions.Answer:
        raise RuntimeError("boom")

    data = DecideData(case_id=case_id, version=1, decision="call_in")
    with pytest.raises(RuntimeError):
        await answer_once(factory, "case.decide", data, clicked(ANNA, activity_id="f:1"), broken)
    assert await count(factory, Click) == 0
    assert (await decide(factory, case_id, clicked(ANNA, activity_id="f:1"))).changed


@pytest.mark.parametrize(
    ("errcode", "runs_again"),
    [("40P01", True), ("40001", True), ("P0001", False)],  # deadlock, serialization, other
)
async def test_a_click_the_database_ended_to_break_a_deadlock_runs_again(
    db_url: str, factory: Any, caplog: pytest.LogCaptureFixture, errcode: str, runs_again: bool
) -> None:
    """PostgreSQL ends one of two transactions that wait for each other; the click whose
    transaction it ended runs again (once recorded), any other database error fails it."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: a transaction holds the whole database, no deadlocks")
    caplog.set_level(logging.WARNING, logger="frakturkedjan.clicks")
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    runs = 0

    async def ended_once(made: Any, data: DecideData, invoke: actions.Invoke) -> actions.Answer:
        nonlocal runs
        runs += 1
        if runs == 1:  # the database ends this transaction, as it does to break a deadlock
            assert invoke.claimed is not None
            raise_it = f"DO $$ BEGIN RAISE EXCEPTION 'ended' USING ERRCODE = '{errcode}'; END $$"
            await invoke.claimed.execute(text(raise_it))
        return await on_decide(made, data, invoke)

    data = DecideData(case_id=case_id, version=1, decision="call_in", note="Tolk")
    invoke = clicked(ANNA, activity_id="f:1")
    if not runs_again:
        with pytest.raises(DBAPIError):
            await answer_once(factory, "case.decide", data, invoke, ended_once)
        assert runs == 1 and await count(factory, Click) == 0
        return
    answer = await answer_once(factory, "case.decide", data, invoke, ended_once)
    assert runs == 2 and answer.changed and answer.card is not None
    await assert_decided_once(factory, case_id)
    assert await count(factory, Click) == 1
    warned = [
        r for r in caplog.records if r.getMessage() == "click ran again after a database conflict"
    ]
    assert [getattr(r, "sqlstate", None) for r in warned] == [errcode]


async def test_answered_clicks_are_purged_after_a_day(factory: Any) -> None:
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    await decide(factory, case_id, clicked(ANNA, activity_id="f:1"))
    async with transaction(factory) as session:
        kept = await purge(session, now=NOW + timedelta(hours=23), actor=Actor.named("test"))
    assert kept.clicks == 0 and await count(factory, Click) == 1
    async with transaction(factory) as session:
        later = NOW + timedelta(days=1, seconds=1)
        report = await purge(session, now=later, actor=Actor.named("test"))
    assert report.clicks == 1 and await count(factory, Click) == 0
