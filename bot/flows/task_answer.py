"""The answer to a click on a task (`task.complete`, `task.reopen`): the card the task was
on, brought up to date, or the error of a refusal that shows no card."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.calendar import local_date
from bot.flows.click import Answer, error_of
from bot.flows.result import Done, Result
from bot.jobs.digest import digest_context
from bot.messaging import cards
from bot.messaging.context import task_group
from cards.render import render

__all__ = ["task_answer"]


async def task_answer(
    session: AsyncSession, result: Result, *, view: str | None, now: datetime
) -> Answer:
    """The task card of the task's assignee group with `result`'s message as its notice,
    or the unit's digest card when the click came from it (`view` ``digest``)."""
    if not isinstance(result, Done) and (error := error_of(result)):
        return error
    if result.case is None or result.task is None:
        return Answer(error=result.message)
    changed = isinstance(result, Done)
    if view == "digest":
        ctx = await digest_context(session, unit=result.case.unit, today=local_date(now))
        return Answer(card=render("digest_card", **ctx), changed=changed)
    card = await cards.task_card(
        session, result.case, group=task_group(result.task), now=now, notice=result.message
    )
    return Answer(card=card, changed=changed)
