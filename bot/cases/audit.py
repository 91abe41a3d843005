"""The audit row of an action on a case: its unit and patient pseudonym filled in."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit
from bot.audit.models import AuditEntry
from bot.cases.models import Case
from bot.directory.actor import Actor

__all__ = ["audit_case", "audit_row", "audit_stale", "write_audit"]


class CaseAudit(TypedDict):
    """The audit row of an action on a case: by whom, what, on which case (and task)."""

    actor: Actor
    action: str
    case: Case
    task_id: NotRequired[int | None]
    outcome: NotRequired[str]  # "ok" when not given
    detail: NotRequired[dict[str, Any] | None]


def _fields(row: CaseAudit) -> audit.AuditFields:
    case = row["case"]
    return {
        "actor": row["actor"].audit_id,
        "action": row["action"],
        "outcome": row.get("outcome", "ok"),
        "unit_id": case.unit_id,
        "case_id": case.id,
        "task_id": row.get("task_id"),
        "patient": case.patient_key,
        "detail": row.get("detail"),
    }


def audit_case(session: AsyncSession, **row: Unpack[CaseAudit]) -> AuditEntry:
    """Add the audit row of `action` on `case` (and its task `task_id`) by `actor` to the
    session's transaction: who, what, outcome, the case's unit and patient pseudonym."""
    return audit.record(session, **_fields(row))


def audit_row(**row: Unpack[CaseAudit]) -> dict[str, Any]:
    """`audit_case`'s row, column by column, for a statement that writes it with others."""
    return audit.row_of(_fields(row))


async def write_audit(session: AsyncSession, **row: Unpack[CaseAudit]) -> None:
    """`audit_case`'s row inserted now, as one Core statement (`bot.audit.service.write`)."""
    await audit.write(session, **_fields(row))


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
