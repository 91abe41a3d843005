"""Retention (SPEC section 6): the bot is not the patient record.

`purge` removes the identifying fields of cases ended (closed, superseded or cancelled)
longer than their unit's `retention_days` ago, with the raw answer bundles, and drops old
rejected-message bodies, stale dialog state and the clicks answered more than a day ago
(`bot.clicks.service.KEEP`: their stored answer is a card, with the patient on it). What
stays: the pseudonymised figures (states, dates, decisions, tasks, visit checklist
answers) for the quality report, and the audit log, whose patient key is a keyed hash
(`audit.patient_key`), so the export per patient still works from the personal number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit
from bot.audit.models import AuditEntry
from bot.botstate.models import BotStateItem
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState
from bot.cases.models import AnswerMessage, Case
from bot.clicks import service as clicks
from bot.directory.actor import Actor
from bot.directory.models import Unit
from bot.intake.models import RejectedMessage

ENDED = (CaseState.CLOSED, CaseState.SUPERSEDED, CaseState.CANCELLED)
REJECTED_KEEP = timedelta(days=90)
DIALOG_STATE_KEEP = timedelta(days=30)
AUDIT_KEEP_YEARS = 5
"""The audit log is kept at least this long (patient data law, SPEC section 6); `purge`
never deletes it."""


@dataclass(frozen=True)
class UnitRetention:
    """How long a unit keeps the identifying fields of an ended case."""

    unit: str
    days: int


@dataclass(frozen=True)
class PurgeReport:
    cases: int
    answer_messages: int
    rejected_bodies: int
    dialog_states: int
    clicks: int = 0


async def purge(session: AsyncSession, *, now: datetime, actor: Actor) -> PurgeReport:
    """Remove what the workflow no longer needs. Idempotent; one audit row per case."""
    purged = 0
    messages = 0
    units = {u.id: u for u in (await session.scalars(select(Unit))).all()}
    candidates = (
        await session.scalars(select(Case).where(Case.state.in_(ENDED), Case.purged_at.is_(None)))
    ).all()
    for case in candidates:
        unit = units.get(case.unit_id)
        days = int(unit.setting("retention_days")) if unit else 180
        ended = case.closed_at or await _last_change(session, case)
        if ended is None or now - ended < timedelta(days=days):
            continue
        case.patient_number = None
        case.patient_name = None
        case.patient_gender = None
        case.conclusion = None
        case.fracture_text = None
        case.purged_at = now
        result = await session.execute(
            delete(AnswerMessage).where(AnswerMessage.case_id == case.id)
        )
        messages += int(getattr(result, "rowcount", 0) or 0)
        audit_case(session, actor=actor, action="case.purged", case=case)
        purged += 1
    rejected = await session.execute(
        update(RejectedMessage)
        .where(RejectedMessage.received_at < now - REJECTED_KEEP, RejectedMessage.body.is_not(None))
        .values(body=None)
    )
    dialogs = await session.execute(
        delete(BotStateItem).where(BotStateItem.updated_at < now - DIALOG_STATE_KEEP)
    )
    answered = await clicks.purge(session, now=now)
    return PurgeReport(
        cases=purged,
        answer_messages=messages,
        rejected_bodies=int(getattr(rejected, "rowcount", 0) or 0),
        dialog_states=int(getattr(dialogs, "rowcount", 0) or 0),
        clicks=answered,
    )


async def retention_by_unit(session: AsyncSession) -> list[UnitRetention]:
    """Each active unit's `retention_days` (the product default where it sets none), by
    unit name."""
    units = (
        await session.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.name))
    ).all()
    return [UnitRetention(unit=u.name, days=int(u.setting("retention_days"))) for u in units]


async def _last_change(session: AsyncSession, case: Case) -> datetime | None:
    from bot.cases.models import CaseEvent

    return await session.scalar(
        select(CaseEvent.at)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.id.desc())
        .limit(1)
    )


async def export_patient(session: AsyncSession, *, key: str) -> Sequence[dict[str, Any]]:
    """Every audit row about one patient, oldest first, as plain data (the per-patient export)."""
    rows: Sequence[AuditEntry] = await audit.for_patient(session, key=key)
    return [
        {
            "at": r.at.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "outcome": r.outcome,
            "unit_id": r.unit_id,
            "case_id": r.case_id,
            "task_id": r.task_id,
            "detail": r.detail,
        }
        for r in rows
    ]
