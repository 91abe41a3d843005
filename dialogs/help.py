"""`hjälp`, and the answer to any text that is not a command: the help card."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cards.render import render
from dialogs.replies import Reply

__all__ = ["help_reply"]


def help_reply(commands: Sequence[Mapping[str, str]]) -> Reply:
    """The help card listing `commands` ({"command", "description"} each)."""
    card = render("help_card", commands=[dict(c) for c in commands])
    return Reply(card=card, summary="Frakturkedjan – kommandon")
