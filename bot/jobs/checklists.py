"""The visit checklist on the day (routine §5): each booked call-in visit of today or
earlier gets its checklist card once, to the physician of the visit. The app runs it
every minute; several processes may (rows held by another are skipped)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState
from bot.db import transaction
from bot.directory.actor import Actor
from bot.messaging import notify
from bot.visits import service as visits

__all__ = ["send_due_checklists"]

log = logging.getLogger("frakturkedjan.visits")
SENDER = Actor.job("visits")


async def send_due_checklists(factory: async_sessionmaker[AsyncSession], *, now: datetime) -> int:
    """Send the checklist card for every booked visit of today (or earlier) not yet sent;
    a visit whose case moved on (no longer decided) is marked sent without a card.
    Returns how many cards were sent."""
    sent = 0
    async with transaction(factory) as session:
        for visit in await visits.checklists_due(session, now=now):
            case = await cases.get_case(session, case_id=visit.case_id)
            if case is None or case.state != CaseState.DECIDED or visit.physician is None:
                visit.checklist_sent_at = now  # nothing to ask: the case moved on
                continue
            notify.post_checklist(session, case, visit)
            visit.checklist_sent_at = now
            audit_case(session, actor=SENDER, action="visit.checklist_sent", case=case)
            sent += 1
    if sent:
        log.info("visit checklists sent", extra={"count": sent})
    return sent
