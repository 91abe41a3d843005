"""`ärende <id>`: one case with its decision, tasks and history (the read-only summary card).

The role check against the case's unit and the audit row (`card.shown`, trigger `command`,
or a refusal) come from `bot.cases.service.view_case`, as for a card refresh.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import service as cases
from bot.cases import views
from dialogs.replies import STRANGER, Reply, find_sender
from dialogs.text import MAX_CASE_ID

__all__ = ["TRIGGER", "one_case"]

TRIGGER = "command"


async def one_case(
    session: AsyncSession, *, case_id: int, actor_aad: str | None, now: datetime
) -> Reply:
    """The summary card of case `case_id` for a person of its unit, or a Swedish refusal."""
    person = await find_sender(session, actor_aad)
    outcome, _ = await cases.view_case(
        session,
        case_id=case_id if 0 < case_id <= MAX_CASE_ID else None,
        task_id=None,
        actor=person,
        actor_aad=actor_aad,
        now=now,
        trigger=TRIGGER,
    )
    if person is None:
        return Reply(text=STRANGER)
    if outcome.case is None:
        if case_id > MAX_CASE_ID:  # not echoed: it may be thousands of digits long
            return Reply(text="Det finns inget ärende med det numret. Kontrollera numret.")
        return Reply(text=f"Ärende {case_id} finns inte. Kontrollera numret.")
    if not outcome.ok:
        return Reply(
            text=f"Du saknar behörighet till ärende {case_id}. Ett ärende visas bara för "
            "läkare, MVA och administratörer på ärendets enhet."
        )
    card = await views.summary_card(session, outcome.case, now=now)
    return Reply(card=card, summary=views.case_ref(outcome.case.id))
