"""The follow-up card on the planned date (SPEC 2.4): at the unit's digest time on a
working day, each follow-up due today or earlier gets its card once, to the physician of
the follow-up (else the case's). Run by the daily jobs; several processes may (rows held
by another are skipped)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.audit import audit_case
from bot.db import transaction
from bot.directory.actor import Actor
from bot.messaging import notify
from bot.visits import followups

__all__ = ["send_due_followups"]

log = logging.getLogger("frakturkedjan.visits")
SENDER = Actor.job("followups")


async def send_due_followups(
    factory: async_sessionmaker[AsyncSession],
    *,
    unit_ids: Sequence[int],
    today: date,
    now: datetime,
) -> list[str]:
    """Send the card of every follow-up of these units due by `today` and not yet sent, in
    one transaction; a follow-up without a physician to send to is marked sent without a
    card. Returns one line per card, without patient data."""
    lines: list[str] = []
    if not unit_ids:
        return lines
    async with transaction(factory) as session:
        for unit_id in unit_ids:
            for follow_up in await followups.cards_due(session, unit_id=unit_id, today=today):
                lines.extend(await _send(session, follow_up, now=now))
    if lines:
        log.info(
            "follow-up cards sent", extra={"event": "followup.cards_sent", "count": len(lines)}
        )
    return lines


async def _send(
    session: AsyncSession, follow_up: followups.FollowUp, *, now: datetime
) -> list[str]:
    follow_up.card_sent_at = now
    case = await cases.get_case(session, case_id=follow_up.case_id)
    physician = follow_up.physician or (case.physician if case else None)
    if case is None or physician is None:
        return []
    await notify.post_followup_card(session, case, follow_up, to=physician, now=now)
    audit_case(
        session,
        actor=SENDER,
        action="followup.card_sent",
        case=case,
        detail={"number": follow_up.number},
    )
    return [
        f"follow-up card: case {case.id} (follow-up {follow_up.number}) to staff {physician.id}"
    ]
