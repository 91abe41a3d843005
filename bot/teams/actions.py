"""Card clicks as Teams sends them (`adaptiveCard/action`), handed to the verb table.

`dispatch` takes the raw JSON of a click (any type), finds the verb's route in
`bot.flows.registry`, checks the data against the verb's model and runs its flow; what
the flows do is Teams-free. Refused data records nothing but the audit row of the
refusal. The rest is what the Teams handler needs around it: the clicker's id as the
directory could hold it, and telling a database outage ("try again") from a fault.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.db import transaction
from bot.directory.actor import Actor
from bot.flows import registry
from bot.flows.click import Answer, Invoke
from bot.flows.data import MAX_AAD, describe, storable

__all__ = [
    "DATABASE_UNAVAILABLE",
    "UNKNOWN_VERB",
    "Answer",
    "Invoke",
    "activity_id_of",
    "actor_aad_of",
    "check_verbs",
    "database_unavailable",
    "dispatch",
    "known_verb",
]

DATABASE_UNAVAILABLE = "Databasen svarar inte just nu. Försök igen om en stund."
UNKNOWN_VERB = "Okänd åtgärd. Ladda om kortet."
MAX_ACTIVITY_ID = 512  # Teams' ids are far shorter; a longer one is not an id of theirs


def known_verb(verb: Any) -> str | None:
    """`verb` when it is a verb of the contract, else None (it may be any JSON value)."""
    found = registry.route_of(verb)
    return found[0] if found is not None else None


def check_verbs() -> None:
    """Start-up check of the verb table (`registry.check_routes`): RuntimeError when a
    verb of the contract has no flow."""
    registry.check_routes()


def actor_aad_of(value: Any) -> str | None:
    """The clicker's Entra object id as the directory could hold it, else None (unknown)."""
    if isinstance(value, str) and 0 < len(value) <= MAX_AAD and storable(value):
        return value
    return None


def activity_id_of(value: Any) -> str | None:
    """The invoke activity's id (`id`: a retry of the invoke has the same) when it is a
    usable text, else None (the click is then told apart by its content only)."""
    if isinstance(value, str) and 0 < len(value) <= MAX_ACTIVITY_ID and storable(value):
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
    refuses records nothing but the audit row of the refusal. A click that changes state
    is answered once (`Route.answer`): the same click again gets the same answer. Database
    errors propagate (`database_unavailable` tells an outage from a fault).
    """
    found = registry.route_of(verb)
    if found is None:
        return Answer(error=UNKNOWN_VERB)
    known, route = found
    try:
        parsed = route.model.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "data" for e in exc.errors()})
        async with transaction(factory) as session:
            audit.record(
                session,
                actor=Actor.clicker(None, inv.actor_aad).audit_id,
                action=known,
                outcome="refused",
                detail={"reason": "invalid data", "fields": fields},
            )
        return Answer(error=describe(exc))
    return await route.answer(factory, known, parsed, inv)
