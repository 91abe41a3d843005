"""The verb table: each card verb bound to its data model and its flow, checked at start-up.

`bind(model, handler)` is typed so that the handler takes exactly the model's data
(mypy checks each binding); `check_routes` makes sure that every verb of the contract has
exactly one route and nothing else does. `route_of` turns the raw `verb` of a click (any
JSON value) into its route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.flows import (
    assign,
    complete_task,
    decide,
    record_followup,
    record_visit,
    refresh_card,
    reopen_task,
    undo_decision,
)
from bot.flows.click import Answer, Invoke, answer_once
from bot.flows.data import (
    AssignData,
    DecideData,
    FollowUpData,
    RefreshData,
    TaskData,
    UndoData,
    VerbData,
    VisitData,
)
from bot.flows.verbs import Verb

__all__ = ["ROUTES", "Route", "bind", "check_routes", "route_of"]

D = TypeVar("D", bound=VerbData)


@dataclass(frozen=True)
class Route(Generic[D]):
    """A verb's data model and the flow that answers it (one transaction per call).
    `once`: the verb changes state, so the same click arriving twice records once and
    gets the same answer (`answer_once`)."""

    model: type[D]
    handler: Callable[[async_sessionmaker[AsyncSession], D, Invoke], Awaitable[Answer]]
    once: bool = True

    async def answer(
        self, factory: async_sessionmaker[AsyncSession], verb: Verb, data: D, invoke: Invoke
    ) -> Answer:
        """The flow's answer to a click with the verb's checked `data`."""
        if self.once:
            return await answer_once(factory, verb, data, invoke, self.handler)
        return await self.handler(factory, data, invoke)


def bind(
    model: type[D],
    handler: Callable[[async_sessionmaker[AsyncSession], D, Invoke], Awaitable[Answer]],
    *,
    once: bool = True,
) -> Route[Any]:
    """The route of a verb: mypy checks here that `handler` takes `model`'s data.
    `once=False` for a verb that changes nothing (it is answered afresh each time)."""
    return Route(model, handler, once)


ROUTES: dict[Verb, Route[Any]] = {
    Verb.DECIDE: bind(DecideData, decide.on_decide),
    Verb.UNDO_DECISION: bind(UndoData, undo_decision.on_undo_decision),
    Verb.ASSIGN: bind(AssignData, assign.on_assign),
    Verb.COMPLETE_TASK: bind(TaskData, complete_task.on_complete_task),
    Verb.REOPEN_TASK: bind(TaskData, reopen_task.on_reopen_task),
    Verb.RECORD_VISIT: bind(VisitData, record_visit.on_record_visit),
    Verb.RECORD_FOLLOWUP: bind(FollowUpData, record_followup.on_record_followup),
    Verb.REFRESH_CARD: bind(RefreshData, refresh_card.on_refresh_card, once=False),
}


def route_of(verb: Any) -> tuple[Verb, Route[Any]] | None:
    """The verb and its route when `verb` (any JSON value) is a verb of the contract."""
    if not isinstance(verb, str) or verb not in ROUTES:
        return None
    known = Verb(verb)
    return known, ROUTES[known]


def check_routes() -> None:
    """Start-up check: every verb of the contract has exactly one route, to a flow taking
    a `VerbData` model; anything else is a RuntimeError."""
    missing = set(Verb) - set(ROUTES)
    unknown = set(ROUTES) - set(Verb)
    if missing or unknown:
        raise RuntimeError(
            f"card verbs without a route: {', '.join(sorted(missing)) or 'none'}; "
            f"routes of no verb: {', '.join(sorted(map(str, unknown))) or 'none'}"
        )
    for verb, route in ROUTES.items():
        if not (isinstance(route.model, type) and issubclass(route.model, VerbData)):
            raise RuntimeError(f"{verb}: {route.model!r} is not a card data model")
        if not callable(route.handler):
            raise RuntimeError(f"{verb}: {route.handler!r} is not a flow")
