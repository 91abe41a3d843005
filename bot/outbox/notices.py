"""What the outbox says on its own behalf, in Swedish, and how its notice card is drawn.

The outbox tells a unit's MVA channel when a card goes there instead of to a person
(`fallback_text`) and when the bot no longer reaches a person at all
(`unreachable_notice`). It draws no card itself: whoever builds the worker passes a
`NoticeCard`, the domain's renderer of a titled notice (bot/app.py wires it).
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.outbox.service import card_activity

__all__ = ["NoticeCard", "fallback_text", "unreachable_notice"]

UNREACHABLE_TITLE = "Kan inte nå en användare"


class NoticeCard(Protocol):
    """Renders an Adaptive Card that shows `title` and `text` and nothing else."""

    def __call__(self, *, title: str, text: str) -> dict[str, Any]: ...


def fallback_text(name: str | None) -> str:
    """The text on a card sent to the unit's MVA channel because the person named (None:
    not in the directory) has no usable personal chat."""
    return (
        f"Kortet kunde inte levereras till {'mottagaren' if name is None else name} personligen "
        "(appen är inte installerad i personlig chatt). Se till att det når fram."
    )


def unreachable_notice(name: str | None, notice_card: NoticeCard | None) -> dict[str, Any]:
    """The message activity telling a unit's MVA channel that the bot no longer reaches the
    person named (None: not in the directory) in personal chat: a card drawn by
    `notice_card`, or without one the same words as plain text."""
    text = (
        f"Boten når inte längre {'en användare' if name is None else name} "
        "i personlig chatt (appen är borttagen eller blockerad). Kort till "
        "personen skickas hit tills appen är installerad igen."
    )
    if notice_card is None:
        return {
            "type": "message",
            "summary": UNREACHABLE_TITLE,
            "text": f"{UNREACHABLE_TITLE}: {text}",
        }
    card = notice_card(title=UNREACHABLE_TITLE, text=text)
    return card_activity(card, summary=UNREACHABLE_TITLE)
