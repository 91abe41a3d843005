"""The decision click's writes (issue 15): Core statements run at once, each row once.

`test_statement_budget` counts the rows of one table inserted together once; here every
statement the driver runs counts, so that the call-in's four tasks going in one
statement on SQLite too (one INSERT … VALUES (…), (…) RETURNING) is held. The ids the
statement returns are matched to the tasks by position: the audit row, the task card's
outbox row and the summary card name the tasks the database holds. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.audit.models import AuditEntry
from bot.cases.models import Case, CaseEvent, Decision
from bot.directory import service as directory
from bot.messaging import cards
from bot.messaging.context import event_text
from bot.outbox.models import OutboxMessage
from bot.tasks.models import Task
from bot.teams import actions
from tests.helpers import card_of_row, ingest_sample, statements_run

ANNA = "00000000-0000-0000-0000-000000000101"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SAMPLE = "01_osteoporosis_named.json"

# claim, clicker, (PostgreSQL: lock), case with its history, decision, event, case
# update, tasks, audit, the updates of the posted cards with the task card (one INSERT …
# SELECT), the MVA list, the answer; on PostgreSQL the claim reads the clicker, and the
# decision with its event, the case's update, the tasks and the audit row are one
# statement (data-modifying CTEs)
CALL_IN_STATEMENTS = {"postgresql": 7, "sqlite": 11}
RECORDED_IN_ONE = ["audit_log", "case_events", "cases", "decisions", "tasks"]


def executed(factory: Any) -> AbstractContextManager[list[str]]:
    """Every statement run on the factory's engine, BEGIN and COMMIT left out."""
    return statements_run(factory)


def _writes(statement: str) -> list[str]:
    """The writes a statement names ("INSERT INTO <table>", "UPDATE <table>"), in order."""
    return [" ".join(found) for found in re.findall(r"(INSERT INTO|UPDATE) (\w+)", statement)]


def _tables_written(statement: str) -> list[str]:
    """The tables a statement inserts into or updates, sorted."""
    return sorted(write.rsplit(" ", 1)[1] for write in _writes(statement))


def _task_ids_on(card: dict[str, Any]) -> set[int]:
    """The task ids a card's actions carry (its buttons' data)."""
    found: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("task_id"), int):
                found.add(node["task_id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


async def test_call_in_writes_each_row_once_and_names_the_stored_tasks(factory: Any) -> None:
    dialect = str(factory.kw["bind"].dialect.name)
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    data = {"case_id": case_id, "version": 1, "decision": "call_in", "note": "Tolk"}
    invoke = actions.Invoke(actor_aad=ANNA, now=NOW, trigger="manual")
    with executed(factory) as statements:
        answer = await actions.dispatch(factory, "case.decide", data, invoke)
    assert answer.card is not None and answer.changed, answer.error
    assert len(statements) <= CALL_IN_STATEMENTS[dialect], "\n".join(statements)
    inserts = [s for s in statements if "INSERT INTO tasks" in s]
    assert len(inserts) == 1, inserts  # four tasks, one statement
    posts = [s for s in statements if "INSERT INTO outbox" in s]
    assert len(posts) == 1, posts  # the updates and the task card, one statement
    if dialect == "postgresql":
        assert RECORDED_IN_ONE in [_tables_written(s) for s in statements], statements
    assert _writes(statements[0])[0] == "INSERT INTO clicks"  # the click first
    assert statements[-1].upper().startswith("UPDATE CLICKS")  # its answer last

    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        assert (case.state, case.version, case.decided_at) == ("decided", 2, NOW)
        decision = await session.scalar(select(Decision).where(Decision.case_id == case_id))
        assert decision is not None and decision.kind == "call_in" and decision.note == "Tolk"
        assert decision.by.aad_object_id == ANNA
        assert decision.visit_physician is not None
        assert decision.visit_physician.aad_object_id == ANNA
        tasks = (
            await session.scalars(
                select(Task).where(Task.case_id == case_id).order_by(Task.position)
            )
        ).all()
        assert [t.kind for t in tasks] == [
            "waitlist",
            "invitation_letter",
            "lab_package",
            "book_visit",
        ]
        assert [t.position for t in tasks] == [1, 2, 3, 4]
        ids = [t.id for t in tasks]
        events = (
            await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id))
        ).all()
        decided = [e for e in events if e.action == "decided"]
        assert len(decided) == 1
        assert (decided[0].from_state, decided[0].to_state) == ("awaiting_decision", "decided")
        audit = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.case_id == case_id, AuditEntry.action == "case.decide"
                )
            )
        ).all()
        assert len(audit) == 1
        assert audit[0].detail == {"decision": "call_in", "tasks": ids}
        assert audit[0].outcome == "ok" and audit[0].actor == f"staff:{ANNA}"
        posted = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.case_id == case_id, OutboxMessage.purpose == "task_card"
                )
            )
        ).all()
        assert len(posted) == 1  # the MVA group's card
        updates = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.case_id == case_id, OutboxMessage.update_of.is_not(None)
                )
            )
        ).all()
        # the decision card's update, queued before the new card: it goes out first
        assert [u.purpose for u in updates] == ["decision_card"]
        assert updates[0].id < posted[0].id
        assert posted[0].task_id == ids[0] and posted[0].status == "pending"
        assert posted[0].activity["summary"] == f"Nya uppgifter: Ärende {case_id}"
    # the worker draws it when it sends it: the group's tasks, each with its buttons
    assert _task_ids_on(await card_of_row(factory, posted[0], now=NOW)) == set(ids)
    assert _task_ids_on(answer.card) <= set(ids)


async def test_a_confirmation_asked_is_audited_and_records_nothing(factory: Any) -> None:
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)  # shows osteoporosis
    data = {"case_id": case_id, "version": 1, "decision": "normal_letter"}
    invoke = actions.Invoke(actor_aad=ANNA, now=NOW, trigger="manual")
    with executed(factory) as statements:
        answer = await actions.dispatch(factory, "case.decide", data, invoke)
    assert answer.card is not None and not answer.changed, answer.error
    writes = [write for statement in statements for write in _writes(statement)]
    assert writes == ["INSERT INTO clicks", "INSERT INTO audit_log", "UPDATE clicks"]
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and (case.state, case.version) == ("awaiting_decision", 1)
        audit = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.case_id == case_id, AuditEntry.action == "case.decide"
                )
            )
        ).all()
        assert [(a.outcome, a.detail["decision"]) for a in audit] == [
            ("confirm", "normal_letter")
        ]


async def test_the_answer_shows_the_history_as_stored(factory: Any) -> None:
    """The summary card answering the click shows the history read with the locked case
    and the decision's event added to it: the card drawn from the stored rows afterwards
    is the same, and it lists every stored event."""
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    data = {"case_id": case_id, "version": 1, "decision": "call_in", "note": "Tolk"}
    invoke = actions.Invoke(actor_aad=ANNA, now=NOW, trigger="manual")
    answer = await actions.dispatch(factory, "case.decide", data, invoke)
    assert answer.card is not None and answer.changed, answer.error

    case, events = await _answer_drawn_from_stored(factory, case_id, answer.card)
    assert [e.action for e in events][-1] == "decided" and len(events) >= 2


async def test_a_reassignment_answers_with_its_own_event_in_the_history(factory: Any) -> None:
    """A reassignment adds its event another way (a state transition) than the decision:
    the history read with the locked case is dropped, and the answer shows the event."""
    case_id = await ingest_sample(factory, SAMPLE, now=NOW)
    erik = "00000000-0000-0000-0000-000000000103"
    data = {"case_id": case_id, "version": 1, "decision": "reassign", "physician": erik}
    invoke = actions.Invoke(actor_aad=ANNA, now=NOW, trigger="manual")
    answer = await actions.dispatch(factory, "case.decide", data, invoke)
    assert answer.card is not None and answer.changed, answer.error

    case, events = await _answer_drawn_from_stored(
        factory, case_id, answer.card, notice="Fördelat om till Erik Lund."
    )
    assert case.physician is not None and case.physician.aad_object_id == erik
    assert events[-1].action == "reassigned"


async def _answer_drawn_from_stored(
    factory: Any, case_id: int, card: dict[str, Any], *, notice: str | None = None
) -> tuple[Case, list[CaseEvent]]:
    """Assert that `card`, a click's answer, is the summary card drawn for Anna from the
    stored rows afterwards (with `notice`), and that it shows every stored event of the
    case; the case and its events, in order."""
    async with factory() as session:
        case = await session.get(Case, case_id)
        person = await directory.staff_by_aad(session, ANNA)
        assert case is not None and person is not None
        events = list(
            (
                await session.scalars(
                    select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
                )
            ).all()
        )
        drawn = await cards.summary_card(session, case, now=NOW, notice=notice, undo_for=person)
    assert card == drawn
    # each line as the card writes it, its markdown escapes (backslashes) left out
    shown = json.dumps(card, ensure_ascii=False).replace("\\\\", "")
    for stored in events:
        assert event_text(stored) in shown
    return case, events
