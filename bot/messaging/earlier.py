"""A patient's earlier cases in the product, for a new decision card (SPEC 2.4):
"Tidigare i frakturkedjan: Ärende N (YYYY-MM-DD): beslut, behandling, senaste uppföljning",
and whether the new answer is a re-fracture (an index fracture after an earlier decision).

Matched on the patient pseudonym within retention (purged cases are gone); the lines name
no patient, so they show on a protected identity's card as on any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import queries as case_queries
from bot.cases.enums import DECISION_LABELS
from bot.cases.models import Case
from bot.core.calendar import local_date
from bot.messaging.format import case_ref
from bot.visits.models import FollowUp, Visit
from bot.visits.service import TREATMENTS

__all__ = ["earlier_context", "is_refracture"]


async def earlier_context(session: AsyncSession, case: Case) -> dict[str, Any] | None:
    """`{"lines": [...], "refracture": bool}` for the patient's earlier cases, oldest
    first; None when there are none (two queries besides the cases', whatever their
    number)."""
    earlier = await case_queries.earlier_of_patient(session, case)
    if not earlier:
        return None
    ids = [c.id for c in earlier]
    visits = {
        v.case_id: v for v in await session.scalars(select(Visit).where(Visit.case_id.in_(ids)))
    }
    follow_ups: dict[int, FollowUp] = {}
    for follow_up in await session.scalars(
        select(FollowUp)
        .where(FollowUp.case_id.in_(ids), FollowUp.recorded_at.is_not(None))
        .order_by(FollowUp.number)
    ):
        follow_ups[follow_up.case_id] = follow_up  # the latest recorded
    return {
        "lines": [_line(c, visits.get(c.id), follow_ups.get(c.id)) for c in earlier],
        "refracture": is_refracture(case, earlier),
    }


def is_refracture(case: Case, earlier: Sequence[Case]) -> bool:
    """A new answer with an index fracture, for a patient with an earlier case decided
    before this one arrived: the fracture came after that decision (the referral is
    written after the fracture, and the answer after the referral)."""
    if not case.fracture_code:
        return False
    return any(c.decided_at is not None and c.decided_at < case.received_at for c in earlier)


def _line(case: Case, visit: Visit | None, follow_up: FollowUp | None) -> str:
    parts = [f"{case_ref(case.id)} ({local_date(case.received_at).isoformat()})"]
    details = [DECISION_LABELS.get(case.decision.kind, case.decision.kind)] if case.decision else [
        "inget beslut"
    ]
    drug = (follow_up.treatment_drug if follow_up else None) or (
        visit.treatment_drug if visit else None
    )
    if drug:
        details.append(TREATMENTS.get(drug, drug))
    elif visit is not None and visit.recorded_at is not None:
        details.append("ingen behandling")
    if follow_up is not None and follow_up.recorded_at is not None:
        state = ""
        if follow_up.on_treatment is True:
            state = ", behandling pågår"
        elif follow_up.on_treatment is False:
            state = ", behandling avslutad"
        if follow_up.new_fracture:
            state += ", ny fraktur"
        details.append(
            f"senaste uppföljning {local_date(follow_up.recorded_at).isoformat()}{state}"
        )
    return f"{parts[0]}: {', '.join(details)}"
