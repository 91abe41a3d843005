"""`mina ärenden`: the physician's cases awaiting their decision, oldest first, then their
visits whose checklist is out and not recorded yet, earliest booked first.

Each case row opens the decision card (verb `card.refresh`), each visit row the checklist
(`card.refresh` with view `visit`): after a reload of the chat, these bring back every card
the physician has still to act on. Cases of a unit where the person is no longer a
physician are left out: their cards would refuse them. Every case shown gets a
`cases.listed` audit row (a visit's with `"card": "visit"`); a refusal gets one with outcome
`refused`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import queries as case_queries
from bot.cases.audit import audit_case
from bot.core.calendar import local_date
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.messaging.list_rows import VISIT_ROW, case_row, rows_without, shown_cases, visit_row
from bot.visits import service as visits
from cards.render import render
from dialogs.replies import STRANGER, Reply, find_sender, refuse_list

__all__ = ["ACTION", "NOT_A_PHYSICIAN", "my_cases"]

ACTION = "cases.listed"
NOT_A_PHYSICIAN = (
    "Kommandot mina ärenden visar DXA-svar som väntar på en läkares beslut, och du är inte "
    "registrerad som läkare. Skriv uppgifter för att se dina öppna uppgifter."
)


async def my_cases(session: AsyncSession, *, actor_aad: str | None, now: datetime) -> Reply:
    """The `case_list_card` of the sender's undecided cases and open visit checklists,
    audited per case shown."""
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
    checklists = [
        (visit, case)
        for visit, case in await visits.open_checklists(session, physician_id=person.id)
        if directory.has_role(person, case.unit_id, Role.PHYSICIAN)
    ]
    today = local_date(now)
    card = render(
        "case_list_card",
        physician={"name": person.name},
        day=today.isoformat(),
        cases=[case_row(case, today=today) for case in cases],
        visits=[visit_row(visit, case) for visit, case in checklists],
    )
    for case in cases[: rows_without(card, VISIT_ROW)]:
        audit_case(session, actor=who, action=ACTION, case=case, detail={"command": "mina ärenden"})
    shown_visits = set(shown_cases(card, VISIT_ROW))
    for _, case in checklists:
        if case.id in shown_visits:
            audit_case(
                session,
                actor=who,
                action=ACTION,
                case=case,
                detail={"command": "mina ärenden", "card": "visit"},
            )
    return Reply(card=card, summary=_summary(len(cases), visits=len(checklists)))


def _summary(count: int, *, visits: int) -> str:
    """The notification line, e.g. "2 svar väntar på ditt beslut, 1 besök att registrera"."""
    text = f"{count} svar väntar på ditt beslut" if count else "Inga svar väntar på ditt beslut"
    return f"{text}, {visits} besök att registrera" if visits else text
