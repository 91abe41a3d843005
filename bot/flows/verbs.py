"""The card verbs (SPEC section 4), named once. They are a contract: cards already posted
in Teams keep sending them, so a verb is never renamed or removed."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Verb"]


class Verb(StrEnum):
    """A card action's `verb`; also the audit log's action for it."""

    DECIDE = "case.decide"
    UNDO_DECISION = "case.undo"
    ASSIGN = "case.assign"
    COMPLETE_TASK = "task.complete"
    REOPEN_TASK = "task.reopen"
    RECORD_VISIT = "visit.record"
    RECORD_FOLLOWUP = "followup.record"
    REFRESH_CARD = "card.refresh"
