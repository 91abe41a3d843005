"""A refusal: an action that may not go ahead, with its reason and what to tell the person.

Guards in the domain packages raise `Refusal` before they change anything; the flow that
called them records it in the audit log (outcome ``refused``, ``detail.reason``) and
answers with the Swedish `message` (`bot.flows.result.Refused`).
"""

from __future__ import annotations

__all__ = ["Refusal"]


class Refusal(Exception):
    """`reason` is the audit log's short English reason ("role", "unknown case"); `message`
    the Swedish sentence for the person. `on_card`: answer with the current card carrying
    `message` as its notice, rather than with `message` as an error."""

    def __init__(self, reason: str, message: str, *, on_card: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.on_card = on_card
