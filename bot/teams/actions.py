"""Card verbs (SPEC section 4): one table from verb to handler, each typed by its data.

Handlers parse the invoke data, call one service function inside one transaction, and
render the card to answer with. The verbs and their data are a contract: cards already
posted in Teams keep sending them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.db import transaction
from bot.directory.actor import Actor
from bot.flows import (
    assign,
    complete_task,
    decide,
    record_visit,
    refresh_card,
    reopen_task,
)
from bot.flows.click import Answer, Invoke
from bot.flows.data import (
    MAX_AAD,
    AssignData,
    DecideData,
    RefreshData,
    TaskData,
    VerbData,
    VisitData,
    describe,
    storable,
)

__all__ = [
    "DATABASE_UNAVAILABLE",
    "UNKNOWN_VERB",
    "VERBS",
    "Answer",
    "Invoke",
    "actor_aad_of",
    "check_verbs",
    "database_unavailable",
    "dispatch",
    "known_verb",
]

DATABASE_UNAVAILABLE = "Databasen svarar inte just nu. Försök igen om en stund."
UNKNOWN_VERB = "Okänd åtgärd. Ladda om kortet."


Handler = Callable[[async_sessionmaker[AsyncSession], Any, Invoke], Awaitable[Answer]]


VERBS: dict[str, tuple[type[VerbData], Handler]] = {
    "case.decide": (DecideData, decide.on_decide),
    "case.assign": (AssignData, assign.on_assign),
    "task.complete": (TaskData, complete_task.on_complete_task),
    "task.reopen": (TaskData, reopen_task.on_reopen_task),
    "card.refresh": (RefreshData, refresh_card.on_refresh_card),
    "visit.record": (VisitData, record_visit.on_record_visit),
}
# Verbs of the contract that are not served (yet): answered with a clear message.
PENDING_VERBS: dict[str, str] = {}


def known_verb(verb: Any) -> str | None:
    """`verb` when it is a verb of the contract, else None (it may be any JSON value)."""
    return verb if isinstance(verb, str) and (verb in VERBS or verb in PENDING_VERBS) else None


def actor_aad_of(value: Any) -> str | None:
    """The clicker's Entra object id as the directory could hold it, else None (unknown)."""
    if isinstance(value, str) and 0 < len(value) <= MAX_AAD and storable(value):
        return value
    return None


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached or stopped answering (an outage
    worth trying again), rather than a fault of ours (constraint, data, SQL)."""
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    return isinstance(exc, DBAPIError | PoolTimeoutError | OSError | TimeoutError)


async def dispatch(
    factory: async_sessionmaker[AsyncSession], verb: Any, data: Any, inv: Invoke
) -> Answer:
    """Run one card action in one transaction and return what to answer Teams with.

    `verb` and `data` are the raw JSON of the click: any type. Data the verb's model
    refuses records nothing but the audit row of the refusal. Database errors propagate
    (`database_unavailable` tells an outage from a fault).
    """
    verb = known_verb(verb)
    if verb is None:
        return Answer(error=UNKNOWN_VERB)
    if verb in PENDING_VERBS:
        return Answer(error=PENDING_VERBS[verb])
    model, handler = VERBS[verb]
    try:
        parsed = model.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "data" for e in exc.errors()})
        async with transaction(factory) as session:
            audit.record(
                session,
                actor=Actor.clicker(None, inv.actor_aad).audit_id,
                action=verb,
                outcome="refused",
                detail={"reason": "invalid data", "fields": fields},
            )
        return Answer(error=describe(exc))
    return await handler(factory, parsed, inv)


def check_verbs() -> None:
    """Start-up check: every verb of the contract has a handler or a pending answer."""
    contract = {
        "case.decide",
        "case.assign",
        "task.complete",
        "task.reopen",
        "visit.record",
        "card.refresh",
    }
    missing = contract - set(VERBS) - set(PENDING_VERBS)
    if missing:
        raise RuntimeError(f"card verbs without handler: {sorted(missing)}")
