"""Writing and reading the audit log. Rows are only ever added."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict, Unpack, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.models import AuditEntry
from bot.db import utcnow


def patient_key(secret: str, number: str) -> str:
    """A stable pseudonym for a patient: HMAC-SHA256 of the 12-digit number, hex."""
    return hmac.new(secret.encode(), number.encode(), hashlib.sha256).hexdigest()


class AuditFields(TypedDict):
    """What one audit row says: who, what, the outcome, and what it was about."""

    actor: str
    action: str
    outcome: NotRequired[str]  # "ok" when not given
    unit_id: NotRequired[int | None]
    case_id: NotRequired[int | None]
    task_id: NotRequired[int | None]
    patient: NotRequired[str | None]
    detail: NotRequired[dict[str, Any] | None]


def row_of(fields: AuditFields) -> dict[str, Any]:
    """The audit row of `fields`, column by column, stamped now (as `record` adds it)."""
    return {
        "at": utcnow(),
        "actor": fields["actor"],
        "action": fields["action"],
        "outcome": fields.get("outcome", "ok"),
        "unit_id": fields.get("unit_id"),
        "case_id": fields.get("case_id"),
        "task_id": fields.get("task_id"),
        "patient_key": fields.get("patient"),
        "detail": fields.get("detail") or {},
    }


def record(session: AsyncSession, **fields: Unpack[AuditFields]) -> AuditEntry:
    """Add one audit row to the session's transaction (committed with the action it records)."""
    entry = AuditEntry(**row_of(fields))
    session.add(entry)
    return entry


_AUDIT = cast(Table, AuditEntry.__table__)
_INSERT = insert(_AUDIT)  # built once: every action writes one


async def write(session: AsyncSession, **fields: Unpack[AuditFields]) -> None:
    """Insert one audit row now, in the session's transaction (committed with the action
    it records): `record`'s row as one Core statement, for the hot paths, which need no
    `AuditEntry` object."""
    await session.execute(_INSERT, row_of(fields))


async def for_patient(session: AsyncSession, *, key: str) -> Sequence[AuditEntry]:
    """Every audit row about one patient (by pseudonym), oldest first: the per-patient export."""
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.patient_key == key).order_by(AuditEntry.id)
    )
    return rows.all()
