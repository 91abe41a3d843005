"""What the daily job shows on its cards, audited: one `card.shown` row per case a card
shows, so that the per-patient audit export lists the digest and the reminder too."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.audit import audit_case
from bot.cases.models import Case
from bot.directory.actor import Actor

__all__ = ["ACTOR", "audit_shown", "cases_by_ids"]

ACTOR = Actor.job("daily")
"""Who sends the digest and the reminders, in the audit log."""


async def cases_by_ids(session: AsyncSession, ids: set[int]) -> Sequence[Case]:
    """The cases with these ids, by id."""
    if not ids:
        return []
    return (await session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id))).all()


def audit_shown(
    session: AsyncSession, cases: Sequence[Case], *, card: str, to: str, today: date
) -> None:
    """One `card.shown` row per case on the card, with the patient pseudonym, so that the
    per-patient audit export lists the digest and the reminder too."""
    for case in cases:
        audit_case(
            session,
            actor=ACTOR,
            action="card.shown",
            case=case,
            detail={"card": card, "to": to, "day": today.isoformat()},
        )
