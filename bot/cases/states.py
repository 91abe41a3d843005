"""Case states and the transitions allowed between them (SPEC section 2.1)."""

from __future__ import annotations

from typing import Final

AWAITING_ASSIGNMENT: Final = "awaiting_assignment"
AWAITING_DECISION: Final = "awaiting_decision"
DECIDED: Final = "decided"
CLOSED: Final = "closed"
SUPERSEDED: Final = "superseded"
CANCELLED: Final = "cancelled"

STATES: Final = (AWAITING_ASSIGNMENT, AWAITING_DECISION, DECIDED, CLOSED, SUPERSEDED, CANCELLED)

LABELS: Final = {
    AWAITING_ASSIGNMENT: "Väntar på fördelning",
    AWAITING_DECISION: "Väntar på beslut",
    DECIDED: "Beslutat",
    CLOSED: "Avslutat",
    SUPERSEDED: "Ersatt av korrigerat svar",
    CANCELLED: "Makulerat",
}

# from-state -> states it may move to. A reassignment keeps `awaiting_decision`; a task
# reopened within 24 hours takes a closed case back to `decided`, recorded like any other.
TRANSITIONS: Final[dict[str | None, frozenset[str]]] = {
    None: frozenset({AWAITING_ASSIGNMENT, AWAITING_DECISION}),
    AWAITING_ASSIGNMENT: frozenset({AWAITING_DECISION, SUPERSEDED, CANCELLED}),
    AWAITING_DECISION: frozenset({AWAITING_DECISION, DECIDED, SUPERSEDED, CANCELLED}),
    DECIDED: frozenset({CLOSED, SUPERSEDED, CANCELLED}),
    CLOSED: frozenset({DECIDED, SUPERSEDED}),
    SUPERSEDED: frozenset(),
    CANCELLED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change the workflow does not allow; nothing is recorded."""

    def __init__(self, from_state: str | None, to_state: str) -> None:
        super().__init__(f"case cannot go from {from_state} to {to_state}")
        self.from_state = from_state
        self.to_state = to_state


def check_transition(from_state: str | None, to_state: str) -> None:
    """Raise IllegalTransition unless `from_state -> to_state` is allowed."""
    if to_state not in TRANSITIONS.get(from_state, frozenset()):
        raise IllegalTransition(from_state, to_state)
