"""Follow-ups as rows of the list cards: the physician's reminder, the MVA digest and the
`uppföljning` command.

Each row is one `Container` whose `id` is `followup-{case id}` (a case has at most one open
follow-up), so that the cases a rendered card shows can be read back from it for the
audit, whatever the cap or the compact fallback of `cards.render` left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from bot.cases.models import Case
from bot.messaging.context import patient_context
from bot.messaging.format import case_ref
from bot.visits.models import FollowUp

__all__ = ["ROW_ID_PREFIX", "followup_row", "late_count", "other_rows", "shown_followups"]

ROW_ID_PREFIX = "followup-"


def followup_row(follow_up: FollowUp, case: Case, *, today: date) -> dict[str, Any]:
    """The row context of an open follow-up: `{id (the case's), ref, patient, number, due,
    days_overdue (calendar days past due, 0 on the day), physician (name or None), unit}`."""
    physician = follow_up.physician or case.physician
    return {
        "id": case.id,
        "ref": case_ref(case.id),
        "patient": patient_context(case),
        "number": follow_up.number,
        "due": follow_up.due.isoformat(),
        "days_overdue": max(0, (today - follow_up.due).days),
        "physician": physician.name if physician else None,
        "unit": case.unit.name,
    }


def late_count(count: int) -> str:
    """ "1 försenad uppföljning", "3 försenade uppföljningar": for notification summaries."""
    return f"{count} försenad uppföljning" if count == 1 else f"{count} försenade uppföljningar"


def shown_followups(card: dict[str, Any]) -> list[int]:
    """The case ids of the follow-up rows a rendered card shows, in order."""
    return [
        int(item["id"].removeprefix(ROW_ID_PREFIX))
        for item in _containers(card)
        if str(item.get("id", "")).startswith(ROW_ID_PREFIX)
    ]


def other_rows(card: dict[str, Any]) -> int:
    """How many list rows (Containers) a rendered card shows besides its follow-up rows."""
    return sum(
        1 for item in _containers(card) if not str(item.get("id", "")).startswith(ROW_ID_PREFIX)
    )


def _containers(card: dict[str, Any]) -> Sequence[dict[str, Any]]:
    return [item for item in card["body"] if item.get("type") == "Container"]
