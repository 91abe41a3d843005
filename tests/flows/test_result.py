"""Refusals: audited once, with the reason and the case or task they are about, and
answered with the Swedish message; a refusal changes nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.audit.models import AuditEntry
from bot.cases import service as cases
from bot.core.refusal import Refusal
from bot.db import transaction
from bot.directory.actor import Actor
from bot.directory.service import staff_by_aad
from bot.flows.decide import decide_case
from bot.flows.result import Refused, refused
from tests.helpers import ingest_sample

ERIK = "00000000-0000-0000-0000-000000000103"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def _audit(factory: Any) -> list[tuple[Any, ...]]:
    async with factory() as session:
        rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [
            (a.actor, a.action, a.outcome, a.unit_id is not None, a.case_id, a.task_id, a.detail)
            for a in rows.all()
        ]


async def test_a_refusal_about_a_case_is_audited_with_the_case(db_url: str, factory: Any) -> None:
    case_id = await ingest_sample(factory, "01_osteoporosis_named.json", now=NOW)
    async with transaction(factory) as session:
        case = await cases.lock_case(session, case_id=case_id)
        answer = refused(
            session,
            Refusal("role", "Nej.", on_card=True),
            actor=Actor.clicker(None, "aad-1"),
            action="case.decide",
            case=case,
        )
    assert (answer.reason, answer.message, answer.case, answer.task, answer.on_card) == (
        "role", "Nej.", case, None, True,
    )
    assert (await _audit(factory))[-1] == (
        "aad:aad-1", "case.decide", "refused", True, case_id, None, {"reason": "role"},
    )


async def test_an_unknown_case_is_refused_without_one(db_url: str, factory: Any) -> None:
    async with transaction(factory) as session:
        erik = await staff_by_aad(session, ERIK)
        answer = await decide_case(
            session,
            case_id=999,
            version=1,
            decision="normal_call",
            note=None,
            visit_physician_aad=None,
            reassign_to_aad=None,
            actor=Actor.clicker(erik, ERIK),
            now=NOW,
        )
    assert answer == Refused(reason="unknown case", message="Ärende 999 finns inte.")
    assert (await _audit(factory))[1:] == [  # after the directory load
        (f"staff:{ERIK}", "case.decide", "refused", False, None, None, {"reason": "unknown case"})
    ]
