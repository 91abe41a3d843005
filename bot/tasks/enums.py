"""The vocabularies of a task, each named once: its status and its kind (SPEC 2.2).

Members are ``str`` enums stored as their values (`tasks.status`, `tasks.kind`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["TASK_STATUS_LABELS", "TaskKind", "TaskStatus"]


class TaskStatus(StrEnum):
    """Whether a task is still to do (the case API spells these out, SPEC section 7)."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskKind(StrEnum):
    """What a task asks for: one per decision's task (SPEC 2.2), and the physiotherapy
    contact a visit checklist may ask for."""

    NORMAL_LETTER = "normal_letter"
    NORMAL_CALL = "normal_call"
    WAITLIST = "waitlist"
    INVITATION_LETTER = "invitation_letter"
    LAB_PACKAGE = "lab_package"
    BOOK_VISIT = "book_visit"
    OTHER = "other"
    PHYSIO = "physio"


TASK_STATUS_LABELS: Final[dict[str, str]] = {
    TaskStatus.OPEN: "Öppen",
    TaskStatus.DONE: "Klar",
    TaskStatus.CANCELLED: "Avbruten",
}
"""What a card says of each status (keyed by member: a member is the string it stores)."""
