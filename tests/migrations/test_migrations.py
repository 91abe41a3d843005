"""The schema changes only through Alembic: the migrations produce exactly the models, and
the data migrations rewrite stored rows both ways."""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.cases.enums import EVENT_LABELS, EventKind
from bot.cases.models import CaseEvent
from bot.db import create_engine
from bot.migrate import MIGRATIONS, alembic_config, upgrade_async
from bot.models import Base
from bot.tasks.models import Task
from bot.teams import actions
from tests.helpers import ingest_sample


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(db_url: str) -> None:
    await upgrade_async(db_url)  # already at head: a second upgrade is a no-op
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


# --- 0005: case events stored as codes ---------------------------------------------------

MARIA = "00000000-0000-0000-0000-000000000102"
ERIK = "00000000-0000-0000-0000-000000000103"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _migration(name: str) -> ModuleType:
    path = MIGRATIONS / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Kinds of event added after 0005: never stored as a label, so 0005 need not know them.
LATER_KINDS = {"decision_undone", "follow_up_planned", "follow_up_recorded"}


def test_the_event_migration_knows_every_kind_and_its_label() -> None:
    assert _migration("0005_event_kinds").LABELS_TO_CODES == {
        label: kind for kind, label in EVENT_LABELS.items() if kind not in LATER_KINDS
    }
    assert set(EVENT_LABELS) == set(EventKind)


async def _actions(factory: Any, case_id: int) -> list[str]:
    async with factory() as session:
        rows = await session.scalars(
            select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
        return list(rows.all())


async def _click(factory: Any, actor_aad: str, verb: str, data: dict[str, Any]) -> None:
    answer = await actions.dispatch(
        factory, verb, data, actions.Invoke(actor_aad=actor_aad, now=NOW, trigger="manual")
    )
    assert answer.changed, answer.error


async def test_the_event_migration_rewrites_stored_rows_both_ways(
    db_url: str, factory: Any
) -> None:
    """A case's history written as codes reads as the Swedish labels after a downgrade to
    0004 (what that version stored), and as codes again after the upgrade."""
    case_id = await ingest_sample(factory, "03_osteopenia_jour_vc.json", now=NOW)
    await _click(
        factory, MARIA, "case.assign", {"case_id": case_id, "version": 1, "physician": ERIK}
    )
    await _click(
        factory, ERIK, "case.decide", {"case_id": case_id, "version": 2, "decision": "normal_call"}
    )
    async with factory() as session:
        task_id = await session.scalar(select(Task.id).where(Task.case_id == case_id))
    await _click(factory, ERIK, "task.complete", {"task_id": task_id})
    await _click(factory, ERIK, "task.reopen", {"task_id": task_id})
    codes = ["received", "assigned", "decided", "task_done", "closed", "task_reopened", "reopened"]
    assert await _actions(factory, case_id) == codes

    config = alembic_config(db_url)
    await asyncio.to_thread(command.downgrade, config, "0004")
    assert await _actions(factory, case_id) == [
        "Svar mottaget", "Fördelat", "Beslut", "Uppgift klar", "Avslutat", "Uppgift ångrad",
        "Återöppnat",
    ]
    await upgrade_async(db_url)
    assert await _actions(factory, case_id) == codes
