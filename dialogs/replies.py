"""What a text command answers, and the texts shared by the commands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.models import Staff

__all__ = ["STRANGER", "Reply", "find_sender", "first_seen", "refuse_list"]

STRANGER = (
    "Hej! Du finns inte i Frakturkedjans personalregister, så jag kan inte visa några "
    "ärenden eller uppgifter. Be din enhets administratör att lägga till dig."
)


@dataclass(frozen=True)
class Reply:
    """A card (with the short `summary` Teams shows in notifications) or a plain text."""

    card: dict[str, Any] | None = None
    summary: str | None = None
    text: str | None = None
    # the case a card shows, of which unit, to whom (aad): kept current once posted
    shows: tuple[int, int, str] | None = None


async def find_sender(session: AsyncSession, actor_aad: str | None) -> Staff | None:
    """The active staff member who wrote, or None for a stranger or a deactivated person."""
    person = await directory.staff_by_aad(session, actor_aad) if actor_aad else None
    return person if person is not None and person.active else None


def refuse_list(session: AsyncSession, *, action: str, actor: Actor, reason: str) -> None:
    """Audit a list that was not shown (a refusal records nothing else)."""
    audit.record(
        session, actor=actor.audit_id, action=action, outcome="refused", detail={"reason": reason}
    )


def first_seen(ids: Iterable[int]) -> list[int]:
    """`ids` without repeats, in the order they first appear."""
    return list(dict.fromkeys(ids))
