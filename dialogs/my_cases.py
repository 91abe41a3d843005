"""`mina ärenden`: the physician's cases awaiting their decision, oldest first.

Each row opens the decision card (verb `card.refresh`). Cases of a unit where the person
is no longer a physician are left out: their decision card would refuse to open. Every
case shown gets a `cases.listed` audit row; a refusal gets one with outcome `refused`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import queries as case_queries
from bot.cases.audit import audit_case
from bot.cases.clinical import FRACTURE_LABELS, fracture_group
from bot.cases.models import Case
from bot.core.calendar import local_date, working_days_between
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.messaging.cards import shown_rows
from bot.messaging.context import patient_context
from bot.messaging.format import case_ref
from cards.render import render
from dialogs.replies import STRANGER, Reply, find_sender, refuse_list

__all__ = ["ACTION", "NOT_A_PHYSICIAN", "my_cases"]

ACTION = "cases.listed"
NOT_A_PHYSICIAN = (
    "Kommandot mina ärenden visar DXA-svar som väntar på en läkares beslut, och du är inte "
    "registrerad som läkare. Skriv uppgifter för att se dina öppna uppgifter."
)


async def my_cases(session: AsyncSession, *, actor_aad: str | None, now: datetime) -> Reply:
    """The `case_list_card` of the sender's undecided cases, audited per case shown."""
    person = await find_sender(session, actor_aad)
    who = Actor.clicker(person, actor_aad)
    if person is None:
        refuse_list(session, action=ACTION, actor=who, reason="not in the directory")
        return Reply(text=STRANGER)
    if not any(role.role == Role.PHYSICIAN for role in person.roles):
        refuse_list(session, action=ACTION, actor=who, reason="not a physician")
        return Reply(text=NOT_A_PHYSICIAN)
    cases = [
        case
        for case in await case_queries.undecided_for(session, physician_id=person.id)
        if directory.has_role(person, case.unit_id, Role.PHYSICIAN)
    ]
    today = local_date(now)
    card = render(
        "case_list_card",
        physician={"name": person.name},
        day=today.isoformat(),
        cases=[_row(case, today) for case in cases],
    )
    for case in cases[: shown_rows(card)]:
        audit_case(
            session, actor=who, action=ACTION, case=case, detail={"command": "mina ärenden"}
        )
    count = len(cases)
    summary = f"{count} svar väntar på ditt beslut" if count else "Inga svar väntar på ditt beslut"
    return Reply(card=card, summary=summary)


def _row(case: Case, today: date) -> dict[str, Any]:
    received = local_date(case.received_at)
    group = fracture_group(case.fracture_code)
    return {
        "id": case.id,
        "ref": case_ref(case.id),
        "patient": patient_context(case),
        "received": received.isoformat(),
        "waiting_days": working_days_between(received, today),
        "unit": case.unit.name,
        "fracture_label": FRACTURE_LABELS[group] if group else None,
    }
