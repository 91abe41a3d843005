"""`ärende <id>`: one case with its decision, tasks and history (the read-only summary card).

The role check against the case's unit and the audit row (`card.shown`, trigger `command`,
or a refusal) come from `bot.flows.refresh_card.show_case`, as for a card refresh.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.directory.actor import Actor
from bot.flows import refresh_card
from bot.flows.result import Refused
from bot.messaging import cards
from bot.messaging.format import case_ref
from dialogs.replies import STRANGER, Reply, find_sender
from dialogs.text import MAX_CASE_ID

__all__ = ["TRIGGER", "one_case"]

TRIGGER = "command"


async def one_case(
    session: AsyncSession, *, case_id: int, actor_aad: str | None, now: datetime
) -> Reply:
    """The summary card of case `case_id` for a person of its unit, or a Swedish refusal."""
    person = await find_sender(session, actor_aad)
    shown = await refresh_card.show_case(
        session,
        case_id=case_id if 0 < case_id <= MAX_CASE_ID else None,
        task_id=None,
        actor=Actor.clicker(person, actor_aad),
        trigger=TRIGGER,
    )
    if person is None:
        return Reply(text=STRANGER)
    if shown.case is None:
        if case_id > MAX_CASE_ID:  # not echoed: it may be thousands of digits long
            return Reply(text="Det finns inget ärende med det numret. Kontrollera numret.")
        return Reply(text=f"Ärende {case_id} finns inte. Kontrollera numret.")
    if isinstance(shown, Refused):
        return Reply(
            text=f"Du saknar behörighet till ärende {case_id}. Ett ärende visas bara för "
            "läkare, MVA och administratörer på ärendets enhet."
        )
    card = await cards.summary_card(session, shown.case, now=now)
    return Reply(
        card=card,
        summary=case_ref(shown.case.id),
        shows=(shown.case.id, shown.case.unit_id, person.aad_object_id),
    )
