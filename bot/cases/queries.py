"""Read-only case queries (lists, a case's history). No changes, no audit rows: the caller
audits what it shows."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.enums import CaseState
from bot.cases.models import Case, CaseEvent

__all__ = ["awaiting_assignment", "by_ids", "earlier_of_patient", "history", "undecided_for"]


async def undecided_for(session: AsyncSession, *, physician_id: int) -> Sequence[Case]:
    """Cases awaiting this physician's decision, oldest first (received, then id)."""
    rows = await session.scalars(
        select(Case)
        .where(Case.physician_id == physician_id, Case.state == CaseState.AWAITING_DECISION)
        .order_by(Case.received_at, Case.id)
    )
    return rows.all()


async def awaiting_assignment(
    session: AsyncSession, *, unit_ids: Collection[int]
) -> Sequence[Case]:
    """Cases of these units awaiting assignment to a physician, oldest first (received,
    then id)."""
    if not unit_ids:
        return []
    rows = await session.scalars(
        select(Case)
        .where(Case.unit_id.in_(sorted(unit_ids)), Case.state == CaseState.AWAITING_ASSIGNMENT)
        .order_by(Case.received_at, Case.id)
    )
    return rows.all()


async def by_ids(session: AsyncSession, *, case_ids: Collection[int]) -> Sequence[Case]:
    """The cases with these ids, by id; unknown ids are left out."""
    if not case_ids:
        return []
    rows = await session.scalars(
        select(Case).where(Case.id.in_(sorted(case_ids))).order_by(Case.id)
    )
    return rows.all()


_HISTORY = (
    select(CaseEvent).where(CaseEvent.case_id == bindparam("case_id")).order_by(CaseEvent.id)
)  # built once: every case card shows the history


async def history(session: AsyncSession, *, case_id: int) -> Sequence[CaseEvent]:
    """The case's events, oldest first."""
    rows = await session.scalars(_HISTORY, {"case_id": case_id})
    return rows.all()


_KNOWN_HISTORY = "case_history"  # session.info key: case id -> its events, oldest first


def remember_history(session: AsyncSession, case_id: int, events: list[CaseEvent]) -> None:
    """Make `events` (the case's whole history, oldest first, read under the case's lock)
    what `taken_history` gives once in this transaction."""
    session.info.setdefault(_KNOWN_HISTORY, {})[case_id] = events


def add_to_history(session: AsyncSession, case_id: int, event: CaseEvent) -> None:
    """Append an event just written for the case to its remembered history, if any."""
    known: list[CaseEvent] | None = session.info.get(_KNOWN_HISTORY, {}).get(case_id)
    if known is not None:
        known.append(event)


def forget_history(session: AsyncSession, case_id: int) -> None:
    """Drop the case's remembered history (an event was added another way)."""
    session.info.get(_KNOWN_HISTORY, {}).pop(case_id, None)


async def taken_history(session: AsyncSession, *, case_id: int) -> Sequence[CaseEvent]:
    """The case's events, oldest first: the history `remember_history` left (used once),
    else read (`history`)."""
    known: list[CaseEvent] | None = session.info.get(_KNOWN_HISTORY, {}).pop(case_id, None)
    if known is not None:
        return known
    return await history(session, case_id=case_id)


async def earlier_of_patient(session: AsyncSession, case: Case) -> Sequence[Case]:
    """The same patient's earlier cases still kept (not purged), oldest first: matched on
    the patient pseudonym, received before `case`. A case a correction replaced, and
    anything of the same answer's chain, is left out (it is this case, corrected)."""
    rows = await session.scalars(
        select(Case)
        .where(
            Case.patient_key == case.patient_key,
            Case.id != case.id,
            Case.received_at <= case.received_at,
            Case.purged_at.is_(None),
            Case.state.not_in((CaseState.SUPERSEDED, CaseState.CANCELLED)),
        )
        .order_by(Case.received_at, Case.id)
    )
    return rows.all()
