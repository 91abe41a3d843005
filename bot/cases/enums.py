"""The vocabularies of a case, each named once: its states (SPEC 2.1), the physician's
decisions (SPEC 2.2) and the kinds of event in its history.

Members are ``str`` enums stored as their values; the Swedish labels are what people read
(cards, the case API's history) and are never stored.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "DECISION_LABELS",
    "EVENT_LABELS",
    "STATE_LABELS",
    "CaseState",
    "DecisionKind",
    "EventKind",
]


class CaseState(StrEnum):
    """Where a case is in the workflow (`cases.state`)."""

    AWAITING_ASSIGNMENT = "awaiting_assignment"
    AWAITING_DECISION = "awaiting_decision"
    DECIDED = "decided"
    FOLLOW_UP = "follow_up"  # after a call-in visit that planned a follow-up
    CLOSED = "closed"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"


class DecisionKind(StrEnum):
    """What the physician decides (`decision` of the `case.decide` verb). `decisions.kind`
    holds every member but `REASSIGN`, which hands the case on and records no decision."""

    NORMAL_LETTER = "normal_letter"
    NORMAL_CALL = "normal_call"
    CALL_IN = "call_in"
    OTHER = "other"
    REASSIGN = "reassign"


class EventKind(StrEnum):
    """What happened to a case (`case_events.action`): a state change or another change."""

    RECEIVED = "received"
    ASSIGNED = "assigned"
    REASSIGNED = "reassigned"
    DECIDED = "decided"
    DECISION_UNDONE = "decision_undone"
    TASK_DONE = "task_done"
    TASK_REOPENED = "task_reopened"
    CLOSED = "closed"
    REOPENED = "reopened"
    VISIT_RECORDED = "visit_recorded"
    FOLLOW_UP_PLANNED = "follow_up_planned"
    FOLLOW_UP_RECORDED = "follow_up_recorded"
    SUPERSEDED = "superseded"
    CANCELLED = "cancelled"


STATE_LABELS: Final[dict[str, str]] = {
    CaseState.AWAITING_ASSIGNMENT: "Väntar på fördelning",
    CaseState.AWAITING_DECISION: "Väntar på beslut",
    CaseState.DECIDED: "Beslutat",
    CaseState.FOLLOW_UP: "Uppföljning pågår",
    CaseState.CLOSED: "Avslutat",
    CaseState.SUPERSEDED: "Ersatt av korrigerat svar",
    CaseState.CANCELLED: "Makulerat",
}
"""What people read for each state (keyed by member: a member is the string it stores)."""

DECISION_LABELS: Final[dict[str, str]] = {
    DecisionKind.NORMAL_LETTER: "Ingen osteoporos – brevsvar",
    DecisionKind.NORMAL_CALL: "Ingen osteoporos – ring patienten",
    DecisionKind.CALL_IN: "Kalla till läkarbesök",
    DecisionKind.OTHER: "Annan åtgärd",
    DecisionKind.REASSIGN: "Fördela om",
}
"""The card's label of each decision (SPEC 2.2)."""

EVENT_LABELS: Final[dict[str, str]] = {
    EventKind.RECEIVED: "Svar mottaget",
    EventKind.ASSIGNED: "Fördelat",
    EventKind.REASSIGNED: "Fördelat om",
    EventKind.DECIDED: "Beslut",
    EventKind.DECISION_UNDONE: "Beslut ångrat",
    EventKind.TASK_DONE: "Uppgift klar",
    EventKind.TASK_REOPENED: "Uppgift ångrad",
    EventKind.CLOSED: "Avslutat",
    EventKind.REOPENED: "Återöppnat",
    EventKind.VISIT_RECORDED: "Besök registrerat",
    EventKind.FOLLOW_UP_PLANNED: "Uppföljning planerad",
    EventKind.FOLLOW_UP_RECORDED: "Uppföljning registrerad",
    EventKind.SUPERSEDED: "Ersatt",
    EventKind.CANCELLED: "Makulerat",
}
"""What a history line says happened (cards, the case API's history)."""
