"""Retention: identifying fields go after `retention_days`; figures and audit stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.audit.service import patient_key
from bot.cases.models import AnswerMessage, Case
from bot.db import transaction
from bot.directory.actor import Actor
from bot.directory.service import staff_by_aad
from bot.flows import complete_task, decide
from bot.flows.result import Done
from bot.messaging import cards
from bot.retention.service import export_patient, purge
from bot.tasks import queries as task_queries
from tests.helpers import ingest_sample

ANNA = "00000000-0000-0000-0000-000000000101"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def _closed_case(factory: Any) -> int:
    case_id = await ingest_sample(factory, "02_normal_named.json", now=NOW)
    async with transaction(factory) as session:
        anna = await staff_by_aad(session, ANNA)
        outcome = await decide.decide_case(
            session,
            case_id=case_id,
            version=1,
            decision="normal_call",
            note=None,
            visit_physician_aad=None,
            reassign_to_aad=None,
            actor=Actor.clicker(anna, ANNA),
            now=NOW,
        )
        assert isinstance(outcome, Done), outcome
        task_id = (await task_queries.of_case(session, case_id=case_id))[0].id
    async with transaction(factory) as session:
        anna = await staff_by_aad(session, ANNA)
        done = await complete_task.complete_task(
            session, task_id=task_id, note=None, actor=Actor.clicker(anna, ANNA), now=NOW
        )
        assert done.case is not None and done.case.state == "closed"
    return case_id


async def test_purge_after_retention(db_url: str, factory: Any) -> None:
    case_id = await _closed_case(factory)
    async with transaction(factory) as session:
        early = await purge(session, now=NOW + timedelta(days=179), actor=Actor.named("test"))
    assert early.cases == 0
    async with transaction(factory) as session:
        report = await purge(session, now=NOW + timedelta(days=181), actor=Actor.named("test"))
    assert report.cases == 1 and report.answer_messages == 1
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        assert case.patient_number is None and case.patient_name is None
        assert case.conclusion is None and case.purged_at is not None
        assert case.state == "closed" and case.decision is not None  # the figures stay
        assert case.scan_date is not None and case.patient_birth_date is not None
        left = await session.scalar(select(func.count()).select_from(AnswerMessage))
        assert left == 0
        card = await cards.summary_card(session, case, now=NOW)
        assert "Ärende" in str(card) and "195911024171" not in str(card)
    async with transaction(factory) as session:
        again = await purge(session, now=NOW + timedelta(days=400), actor=Actor.named("test"))
    assert again.cases == 0
    async with factory() as session:
        # the export per patient still works from the personal number
        rows = await export_patient(session, key=patient_key("s", "195911024171"))
    assert [r["action"] for r in rows][:2] == ["intake.new", "case.decide"]
    assert rows[-1]["action"] == "case.purged"
