"""How many SQL statements the two hot paths run (issue 5): a decision click and one
intake bundle. Each statement is a round trip and ORM work; the benchmark showed them to be
most of the CPU a request costs, so a change that adds one shows up here first.

The counts are of the action's own transaction (the outbox worker is not running), on
SQLite and on PostgreSQL, with BEGIN and COMMIT left out. Rows of one table inserted
together count once: PostgreSQL gets them in one multi-row INSERT, SQLite (whose RETURNING
order SQLAlchemy does not rely on) one by one in a row.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine.interfaces import CacheStats

from bot.cases.models import Case
from bot.outbox.models import OutboxMessage
from bot.teams import actions
from tests.helpers import fixture_bytes, ingest_body, ingest_sample, statements_run

ANNA = "00000000-0000-0000-0000-000000000101"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SAMPLE = "01_osteoporosis_named.json"

# What each path needs, and no more:
# click: the click's row (first: a duplicate click waits on its unique keys); the actor
#        with roles (one statement with the row on PostgreSQL); the case lock; the case
#        (with unit, physician, decision) and its history for the summary card (one
#        query); case event, case update, decision, tasks (one multi-row insert), audit
#        (one statement on PostgreSQL: data-modifying CTEs); the updates of the case's
#        posted cards, however many, with the new task cards (one INSERT … SELECT … UNION
#        ALL); the MVA list (refresh ids); the click's answer (last, so that the same
#        click again gets it: issue 11).
# intake: the answer lock; the unit with the identity's current case, the unit's
#         physicians (the named physician and the decision card's choices) and the
#         patient's earlier cases ("Tidigare i frakturkedjan": the latest few with their
#         visits and follow-ups), one query; case, case event, answer message and audit
#         (one statement on PostgreSQL: data-modifying CTEs); outbox.
# SQLite takes no lock statements: its transactions begin with BEGIN IMMEDIATE.
CLICK_BUDGET = {"postgresql": 7, "sqlite": 11}
INTAKE_BUDGET = {"postgresql": 4, "sqlite": 6}


def _dialect(factory: Any) -> str:
    return str(factory.kw["bind"].dialect.name)


def counted(factory: Any) -> AbstractContextManager[list[str]]:
    return statements_run(factory, rows_once=True)


async def test_intake_statement_budget(factory: Any) -> None:
    with counted(factory) as statements:
        case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    assert len(statements) <= INTAKE_BUDGET[_dialect(factory)], "\n".join(statements)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and case.state == "awaiting_decision"
        sent = select(OutboxMessage.id).where(OutboxMessage.case_id == case_id)
        assert await session.scalar(sent) is not None


@pytest.mark.parametrize(
    ("decision", "extra"),
    [
        ("call_in", {"note": "Tolk"}),
        ("normal_letter", {"confirmed": True}),  # the sample shows osteoporosis
        ("other", {"other_note": "Röntgen"}),
    ],
)
async def test_decision_click_statement_budget(
    factory: Any, decision: str, extra: dict[str, str]
) -> None:
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    data = {"case_id": case_id, "version": 1, "decision": decision, **extra}
    invoke = actions.Invoke(actor_aad=ANNA, now=NOW, trigger="manual")
    with counted(factory) as statements:
        answer = await actions.dispatch(factory, "case.decide", data, invoke)
    assert answer.card is not None, answer.error
    assert answer.decision == decision
    assert len(statements) <= CLICK_BUDGET[_dialect(factory)], "\n".join(statements)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and case.state == "decided"


@pytest.mark.parametrize("decision", ["call_in", "normal_call"])
async def test_the_hot_paths_compile_their_statements_once(factory: Any, decision: str) -> None:
    """A second bundle and a second decision click run only statements SQLAlchemy compiled
    for the first (its compiled cache; a construct it cannot cache, such as a multi-row
    VALUES, is compiled again on every click)."""
    engine = factory.kw["bind"].sync_engine
    compiled_anew: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, _p: Any, context: Any, _m: Any) -> None:
        if context.compiled is not None and context.cache_hit is not CacheStats.CACHE_HIT:
            compiled_anew.append(f"{context.cache_hit}: {statement}")

    invoke = actions.Invoke(actor_aad=ANNA, now=NOW, trigger="manual")
    try:
        for round_ in range(2):
            if round_ == 1:
                event.listen(engine, "before_cursor_execute", before)
            bundle = json.loads(fixture_bytes(SAMPLE))
            for entry in bundle["entry"]:
                if entry["resource"]["resourceType"] == "DiagnosticReport":  # its own answer
                    entry["resource"]["identifier"][0]["value"] += f"-{round_}"
            case_id = await ingest_body(factory, json.dumps(bundle).encode(), now=NOW)
            data = {"case_id": case_id, "version": 1, "decision": decision, "confirmed": True}
            answer = await actions.dispatch(factory, "case.decide", data, invoke)
            assert answer.card is not None and answer.changed, answer.error
    finally:
        if event.contains(engine, "before_cursor_execute", before):
            event.remove(engine, "before_cursor_execute", before)
    assert compiled_anew == []
