"""The cards the actions send, and to whom. Each adds its outbox rows to the caller's
transaction (`post`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.models import Case
from bot.directory.enums import Role
from bot.directory.models import Staff, Unit
from bot.messaging import cards, views
from bot.messaging.context import task_group
from bot.messaging.format import case_ref
from bot.messaging.post import Posting, post, post_now
from bot.tasks.models import Task
from bot.visits.models import FollowUp, Visit

__all__ = [
    "post_checklist",
    "post_correction_notice",
    "post_decision_card",
    "post_followup_card",
    "post_task_cards",
    "post_triage_card",
]


async def post_decision_card(
    session: AsyncSession, case: Case, *, notice: str | None = None
) -> None:
    """The decision card to the case's physician (who must be set). Without a notice the
    outbox worker draws it when it sends it, as the physician's current card of the case
    (`bot.messaging.views.message_card`, the same `cards.decision_card` while the case
    awaits their decision), in its own process: the intake, the assignment and the
    reassignment render nothing for it (issue 15)."""
    assert case.physician is not None
    card = None if notice is None else await cards.decision_card(session, case, notice=notice)
    await post_now(
        session,
        card,
        to=case.physician,
        summary=f"DXA-svar att bedöma: {case_ref(case.id)}",
        purpose="decision_card",
        unit_id=case.unit_id,
        case_id=case.id,
    )


async def post_triage_card(session: AsyncSession, case: Case, *, notice: str | None = None) -> None:
    """The triage card to the unit's MVA channel."""
    card = await cards.triage_card(session, case, notice=notice)
    await post_now(
        session,
        card,
        to=case.unit,
        summary=f"DXA-svar att fördela: {case_ref(case.id)}",
        purpose="triage_card",
        unit_id=case.unit_id,
        case_id=case.id,
    )


async def post_task_cards(
    session: AsyncSession, case: Case, tasks: Sequence[Task], *, keep_current: bool = False
) -> None:
    """One task card per assignee group of `tasks` (the tasks an action just created): the
    MVA channel's, or the assigned physician's chat. The outbox worker draws each when it
    sends it, as the group's current task card of the case (`bot.messaging.views`
    `message_card`, the card its updates show: the group's tasks as they stand), in its
    own process: the action renders nothing for it (issue 15). `keep_current`: first an
    update of every card message posted about the case (`views.keep_current`), in the same
    statement."""
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task_group(task), []).append(task)
    postings: list[Posting] = []
    for group, members in groups.items():
        first = members[0]
        to: Staff | Unit
        if group == Role.MVA:
            to = case.unit
        else:
            assert first.assignee is not None
            to = first.assignee
        postings.append(
            {
                "to": to,
                "summary": f"Nya uppgifter: {case_ref(case.id)}",
                "purpose": "task_card",
                "unit_id": case.unit_id,
                "case_id": case.id,
                "task_id": first.id,
            }
        )
    if keep_current:
        await views.keep_current(session, case, then=postings)
        return
    for posting in postings:
        await post_now(session, None, **posting)


async def post_followup_card(
    session: AsyncSession, case: Case, follow_up: FollowUp, *, to: Staff, now: datetime
) -> None:
    """The follow-up card to the physician `to`."""
    card = await cards.followup_card(session, case, follow_up, now=now)
    post(
        session,
        card,
        to=to,
        summary=f"Uppföljning: {case_ref(case.id)}",
        purpose="followup_card",
        unit_id=case.unit_id,
        case_id=case.id,
    )


def post_checklist(session: AsyncSession, case: Case, visit: Visit) -> None:
    """The visit checklist to the physician of the visit (who must be set)."""
    assert visit.physician is not None
    post(
        session,
        cards.checklist_card(case, visit),
        to=visit.physician,
        summary=f"Besökschecklista: {case_ref(case.id)}",
        purpose="visit_checklist",
        unit_id=case.unit_id,
        case_id=case.id,
    )


def post_correction_notice(
    session: AsyncSession, *, previous: Case, case: Case, cancelled: int
) -> None:
    """Tell the MVA channel of `previous`'s unit that a corrected answer (`case`) replaced
    it and `cancelled` open tasks were cancelled; nothing when the unit has no channel."""
    if not previous.unit.mva_channel:
        return
    card = cards.notice_card(
        title="Korrigerat svar",
        text=(
            f"{case_ref(previous.id)} har ersatts av {case_ref(case.id)}. "
            f"{cancelled} öppna uppgifter har avbrutits; nytt beslut kommer."
        ),
        case=case,
    )
    post(
        session,
        card,
        to=previous.unit,
        summary="Korrigerat DXA-svar",
        purpose="correction_notice",
        unit_id=previous.unit_id,
        case_id=case.id,
    )
