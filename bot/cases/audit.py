"""The audit row of an action on a case: its unit and patient pseudonym filled in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit
from bot.audit.models import AuditEntry
from bot.cases.models import Case
from bot.directory.actor import Actor

__all__ = ["audit_case", "audit_stale", "write_audit"]


def audit_case(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    case: Case,
    task_id: int | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add the audit row of `action` on `case` (and its task `task_id`) by `actor` to the
    session's transaction: who, what, outcome, the case's unit and patient pseudonym."""
    return audit.record(
        session,
        actor=actor.audit_id,
        action=action,
        outcome=outcome,
        unit_id=case.unit_id,
        case_id=case.id,
        task_id=task_id,
        patient=case.patient_key,
        detail=detail,
    )


async def write_audit(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    case: Case,
    task_id: int | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """`audit_case`'s row inserted now, as one Core statement (`bot.audit.service.write`)."""
    await audit.write(
        session,
        actor=actor.audit_id,
        action=action,
        outcome=outcome,
        unit_id=case.unit_id,
        case_id=case.id,
        task_id=task_id,
        patient=case.patient_key,
        detail=detail,
    )


def audit_stale(
    session: AsyncSession, *, actor: Actor, action: str, case: Case, version: int
) -> AuditEntry:
    """Audit a click on a card of the case drawn at `version`, which the case has left:
    outcome ``stale``, with both versions."""
    return audit_case(
        session,
        actor=actor,
        action=action,
        case=case,
        outcome="stale",
        detail={"card_version": version, "case_version": case.version},
    )
