"""The intake's audit rows (issue 15: a new answer's row goes in with its case, in one
statement on PostgreSQL): one per answer taken in, with who, what, the case, its unit,
the patient pseudonym and the routing, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.audit import service as audit
from bot.audit.models import AuditEntry
from bot.cases.models import Case
from bot.flows.take_in_answer import ingest
from tests.helpers import fixture_bytes

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def _take_in(factory: Any, name: str) -> dict[str, Any]:
    result = await ingest(
        factory,
        body=fixture_bytes(name),
        content_type="application/fhir+json",
        sender="lab",
        channel="cli",
        secret="s",
        now=NOW,
    )
    assert result.status in (200, 201, 202), result.body
    return result.body


async def _rows(factory: Any) -> list[AuditEntry]:
    async with factory() as session:
        return list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.startswith("intake."))
                .order_by(AuditEntry.id)
            )
        )


async def test_intake_audit_rows(factory: Any) -> None:
    named = await _take_in(factory, "01_osteoporosis_named.json")
    triage = await _take_in(factory, "03_osteopenia_jour_vc.json")
    again = await _take_in(factory, "01_osteoporosis_named.json")
    corrected = await _take_in(factory, "07_amended_01.json")
    assert [named["outcome"], triage["outcome"], again["outcome"], corrected["outcome"]] == [
        "created",
        "created",
        "duplicate",
        "correction",
    ]
    rows = await _rows(factory)
    seen = [(r.action, r.case_id, r.outcome, r.actor, r.detail) for r in rows]
    assert seen == [
        (
            "intake.new",
            named["case_id"],
            "ok",
            "intake:lab",
            {"supersedes": None, "routed": "physician"},
        ),
        (
            "intake.new",
            triage["case_id"],
            "ok",
            "intake:lab",
            {"supersedes": None, "routed": "triage"},
        ),
        ("intake.duplicate", named["case_id"], "ok", "intake:lab", {}),
        (
            "intake.correction",
            corrected["case_id"],
            "ok",
            "intake:lab",
            {"supersedes": named["case_id"], "routed": "physician"},
        ),
    ]
    async with factory() as session:
        for row in rows:
            case = await session.get(Case, row.case_id)
            assert case is not None
            assert row.unit_id == case.unit_id and row.task_id is None
            assert row.patient_key == audit.patient_key("s", case.patient_number)
            assert row.at is not None and row.at.tzinfo is not None
