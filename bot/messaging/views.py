"""The current card of every card message the bot posted, so that each stays current for
everyone who sees it (SPEC section 4): Teams replaces a card only for the person who
clicked, on that device.

`keep_current` puts an update of each posted message of a case into the caller's
transaction (the outbox sends it); `MessageViews` draws each message's card when the
update is sent: a physician's decision card becomes the summary once decided, the MVA
channel's triage card shows who took the case, a task card shows its tasks as they are.
A person's card that went to the MVA channel, since the person has no chat with the bot,
shows the secretaries what they can do with it (`rerouted_card`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import service as cases
from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.db import utcnow
from bot.directory import service as directory
from bot.directory.models import Staff
from bot.messaging import cards
from bot.messaging.context import task_group
from bot.messaging.format import case_ref
from bot.messaging.post import Posting, delivery_of
from bot.outbox import service as outbox
from bot.outbox.views import Shown
from bot.tasks import queries as task_queries
from bot.visits import service as visits

__all__ = [
    "LIVE_PURPOSES",
    "MessageViews",
    "keep_current",
    "message_card",
    "remember_command_card",
    "rerouted_card",
]

# the outbox purposes of the card messages that show a case and are kept current
# ("command_card": the case card a text command answered with, `remember_command_card`)
LIVE_PURPOSES = (
    "decision_card",
    "triage_card",
    "task_card",
    "visit_checklist",
    "command_card",
    "followup_card",
)


async def keep_current(session: AsyncSession, case: Case, *, then: Sequence[Posting] = ()) -> None:
    """After a change of `case` (or of one of its tasks), in the change's transaction: an
    update of every card message posted about it. Call it before posting the change's new
    cards, which show the change already, or give them as `then` (cards the worker draws
    when it sends them, `post_now` without a card): posted after the updates, in the same
    statement."""
    await outbox.enqueue_updates_then(
        session,
        case_id=case.id,
        purposes=LIVE_PURPOSES,
        deliveries=[delivery_of(None, posting) for posting in then],
    )


def remember_command_card(
    session: AsyncSession,
    card: dict[str, Any],
    *,
    person_aad: str,
    case_id: int,
    unit_id: int,
    conversation_id: str,
    activity_id: str,
) -> None:
    """Record the card of case `case_id` that a text command answered a person with in
    their chat (posted within the turn, not through the outbox), so that it is kept
    current too."""
    outbox.record_posted(
        session,
        purpose="command_card",
        activity=outbox.card_activity(card, summary=case_ref(case_id)),
        person_aad=person_aad,
        unit_id=unit_id,
        case_id=case_id,
        conversation_id=conversation_id,
        activity_id=activity_id,
    )


class MessageViews:
    """Draws the current card of a posted message (the outbox's `CardViews`), reading the
    case in a session of its own."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._factory = factory
        self._clock = clock

    async def current(
        self, shown: Shown, *, session: AsyncSession | None = None
    ) -> dict[str, Any] | None:
        if shown.case_id is None or shown.purpose not in LIVE_PURPOSES:
            return None
        if session is not None:
            return await self._draw(session, shown, shown.case_id)
        async with self._factory() as own:
            return await self._draw(own, shown, shown.case_id)

    async def _draw(
        self, session: AsyncSession, shown: Shown, case_id: int
    ) -> dict[str, Any] | None:
        case = await cases.get_case(session, case_id=case_id)
        if case is None:
            return None
        card = await message_card(session, case, shown, now=self._clock())
        return outbox.card_activity(card, summary=f"Uppdaterat: {case_ref(case.id)}")


async def message_card(
    session: AsyncSession, case: Case, shown: Shown, *, now: datetime
) -> dict[str, Any]:
    """The card that message `shown`, posted about `case`, shows now."""
    if shown.purpose == "triage_card":
        return await cards.triage_view(session, case, now=now)
    if shown.purpose == "task_card" and shown.task_id is not None:
        # the group of the message's first task, with the group's tasks from one read
        tasks = await task_queries.of_case(session, case_id=case.id)
        first = next((t for t in tasks if t.id == shown.task_id), None)
        if first is not None:
            group = task_group(first)
            members = [t for t in tasks if task_group(t) == group]
            return await cards.task_card(session, case, group=group, now=now, tasks=members)
    person = await _person(session, case, shown) if shown.target_kind == "user" else None
    if shown.delivered_to == "fallback":
        return await rerouted_card(session, case, meant_for=person, now=now)
    if shown.purpose == "visit_checklist":
        visit = await visits.visit_of(session, case_id=case.id)
        if (
            visit is not None
            and visit.recorded_at is None
            and case.state == CaseState.DECIDED
            and person is not None
            and visit.physician_id == person.id
        ):
            return cards.checklist_card(case, visit)
    if person is None:
        return await cards.summary_card(session, case, now=now, view=cards.CHANNEL)
    view = "followup" if shown.purpose == "followup_card" else None
    return await cards.card_for_viewer(session, case, viewer=person, now=now, view=view)


async def _person(session: AsyncSession, case: Case, shown: Shown) -> Staff | None:
    """The person a user-targeted message went to: the case's physician or decider as the
    case was loaded with them (the same row, so no query), else read. A message's card
    uses only who they are (`id`, `name`), not their roles."""
    decision = case.decision
    for known in (case.physician, decision.by if decision is not None else None):
        if known is not None and known.aad_object_id == shown.target:
            return known
    return await directory.staff_by_aad(session, shown.target)


async def rerouted_card(
    session: AsyncSession, case: Case, *, meant_for: Staff | None, now: datetime
) -> dict[str, Any]:
    """A person's card of `case` as the unit's MVA channel sees it, having got it since
    `meant_for` has no chat with the bot: while the case awaits that physician's decision,
    whom it was meant for and "Fördela om" to another physician of the unit (physicians
    of the unit see their decision card instead, as a user-specific view); else the
    summary."""
    if (
        case.state == CaseState.AWAITING_DECISION
        and meant_for is not None
        and case.physician_id == meant_for.id
    ):
        return await cards.triage_card(session, case, meant_for=meant_for)
    return await cards.summary_card(session, case, now=now, view=cards.CHANNEL)
