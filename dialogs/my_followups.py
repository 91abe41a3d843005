"""`uppföljning`: the physician's follow-ups after the visit that are due today or overdue,
earliest due first.

A follow-up is the physician's when they are its physician, or the case's physician when
it names none (`bot.visits.followups.due_for`). Each row opens the follow-up card (verb
`card.refresh` with view `followup`). Follow-ups of a unit where the person is no longer a
physician are left out: they could not record them. Every case shown gets a
`followups.listed` audit row; a refusal gets one with outcome `refused`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.audit import audit_case
from bot.core.calendar import local_date
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.messaging.followup_rows import followup_row, shown_followups
from bot.visits import followups
from cards.render import render
from dialogs.replies import STRANGER, Reply, find_sender, refuse_list

__all__ = ["ACTION", "NOT_A_PHYSICIAN", "my_followups"]

ACTION = "followups.listed"
NOT_A_PHYSICIAN = (
    "Kommandot uppföljning visar uppföljningar efter läkarbesök som läkaren ska registrera, "
    "och du är inte registrerad som läkare. Skriv uppgifter för att se dina öppna uppgifter."
)


async def my_followups(session: AsyncSession, *, actor_aad: str | None, now: datetime) -> Reply:
    """The `followup_list_card` of the sender's due and overdue follow-ups, audited per case
    shown."""
    person = await find_sender(session, actor_aad)
    who = Actor.clicker(person, actor_aad)
    if person is None:
        refuse_list(session, action=ACTION, actor=who, reason="not in the directory")
        return Reply(text=STRANGER)
    if not any(role.role == Role.PHYSICIAN for role in person.roles):
        refuse_list(session, action=ACTION, actor=who, reason="not a physician")
        return Reply(text=NOT_A_PHYSICIAN)
    today = local_date(now)
    due = [
        (follow_up, case)
        for follow_up, case in await followups.due_for(
            session, physician_id=person.id, today=today
        )
        if directory.has_role(person, case.unit_id, Role.PHYSICIAN)
    ]
    rows = [followup_row(follow_up, case, today=today) for follow_up, case in due]
    card = render(
        "followup_list_card",
        physician={"name": person.name},
        day=today.isoformat(),
        follow_ups=rows,
    )
    for follow_up, case in due[: len(shown_followups(card))]:
        audit_case(
            session,
            actor=who,
            action=ACTION,
            case=case,
            detail={"command": "uppföljning", "follow_up": follow_up.number},
        )
    late = sum(1 for row in rows if row["days_overdue"] > 0)
    return Reply(card=card, summary=_summary(len(rows), late=late))


def _summary(count: int, *, late: int) -> str:
    """The notification line, e.g. "3 uppföljningar att registrera, 1 försenad"."""
    if not count:
        return "Inga uppföljningar att registrera"
    text = f"{count} uppföljning{'' if count == 1 else 'ar'} att registrera"
    return f"{text}, {late} försenad{'' if late == 1 else 'e'}" if late else text
