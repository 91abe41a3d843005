"""Cases as rows of the list cards of the text commands: `mina ärenden` (the answers awaiting
the physician's decision, and the visits whose checklist they have still to fill in) and
`uppgifter` (the answers awaiting assignment, and the open tasks).

A row that opens a card other than the list's main one is a `Container` whose `id` names
that card and the case (`triage-{case id}`, `visit-{case id}`), so that what a rendered card
shows can be read back from it for the audit, whatever the cap or the compact fallback of
`cards.render` left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from bot.cases.clinical import FRACTURE_LABELS, fracture_group
from bot.cases.models import Case
from bot.core.calendar import local_date, working_days_between
from bot.messaging.context import patient_context
from bot.messaging.format import case_ref, fmt_time
from bot.visits.models import Visit

__all__ = ["TRIAGE_ROW", "VISIT_ROW", "case_row", "rows_without", "shown_cases", "visit_row"]

TRIAGE_ROW = "triage-"
"""The id prefix of a row opening a triage card (an answer awaiting assignment)."""
VISIT_ROW = "visit-"
"""The id prefix of a row opening a visit checklist."""


def case_row(case: Case, *, today: date) -> dict[str, Any]:
    """A received answer as a row: `{id, ref, patient, received (YYYY-MM-DD), waiting_days
    (working days since received), unit, fracture_label (or None)}`."""
    received = local_date(case.received_at)
    group = fracture_group(case.fracture_code)
    return {
        "id": case.id,
        "ref": case_ref(case.id),
        "patient": patient_context(case),
        "received": received.isoformat(),
        "waiting_days": working_days_between(received, today),
        "unit": case.unit.name,
        "fracture_label": FRACTURE_LABELS[group] if group else None,
    }


def visit_row(visit: Visit, case: Case) -> dict[str, Any]:
    """A booked visit whose checklist is out as a row: `{id (the case's), ref, patient,
    booked (YYYY-MM-DD HH:MM), unit}`."""
    return {
        "id": case.id,
        "ref": case_ref(case.id),
        "patient": patient_context(case),
        "booked": fmt_time(visit.booked_at),
        "unit": case.unit.name,
    }


def shown_cases(card: dict[str, Any], prefix: str) -> list[int]:
    """The case ids of the rows with this id prefix that a rendered card shows, in order."""
    return [
        int(str(item["id"]).removeprefix(prefix))
        for item in _containers(card)
        if str(item.get("id", "")).startswith(prefix)
    ]


def rows_without(card: dict[str, Any], prefix: str) -> int:
    """How many list rows (Containers) a rendered card shows besides those with this id
    prefix."""
    return sum(1 for item in _containers(card) if not str(item.get("id", "")).startswith(prefix))


def _containers(card: dict[str, Any]) -> Sequence[dict[str, Any]]:
    return [item for item in card["body"] if item.get("type") == "Container"]
