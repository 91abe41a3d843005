"""Writing and reading the audit log. Rows are only ever added."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.models import AuditEntry
from bot.db import utcnow


def patient_key(secret: str, number: str) -> str:
    """A stable pseudonym for a patient: HMAC-SHA256 of the 12-digit number, hex."""
    return hmac.new(secret.encode(), number.encode(), hashlib.sha256).hexdigest()


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    outcome: str = "ok",
    unit_id: int | None = None,
    case_id: int | None = None,
    task_id: int | None = None,
    patient: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit row to the session's transaction (committed with the action it records)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor,
        action=action,
        outcome=outcome,
        unit_id=unit_id,
        case_id=case_id,
        task_id=task_id,
        patient_key=patient,
        detail=detail or {},
    )
    session.add(entry)
    return entry


_AUDIT = cast(Table, AuditEntry.__table__)
_INSERT = insert(_AUDIT)  # built once: every action writes one


async def write(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    outcome: str = "ok",
    unit_id: int | None = None,
    case_id: int | None = None,
    task_id: int | None = None,
    patient: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Insert one audit row now, in the session's transaction (committed with the action
    it records): `record`'s row as one Core statement, for the hot paths, which need no
    `AuditEntry` object."""
    await session.execute(
        _INSERT,
        {
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "outcome": outcome,
            "unit_id": unit_id,
            "case_id": case_id,
            "task_id": task_id,
            "patient_key": patient,
            "detail": detail or {},
        },
    )


async def for_patient(session: AsyncSession, *, key: str) -> Sequence[AuditEntry]:
    """Every audit row about one patient (by pseudonym), oldest first: the per-patient export."""
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.patient_key == key).order_by(AuditEntry.id)
    )
    return rows.all()
