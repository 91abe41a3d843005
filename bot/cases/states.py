"""The transitions allowed between case states (SPEC section 2.1)."""

from __future__ import annotations

from typing import Final

from bot.cases.enums import CaseState

__all__ = ["TRANSITIONS", "IllegalTransition", "check_transition"]

# from-state -> states it may move to. A reassignment keeps `awaiting_decision`; a task
# reopened within 24 hours takes a closed case back to `decided`, recorded like any other;
# a decision undone within 30 minutes takes the case back to `awaiting_decision`.
# A call-in visit that plans a follow-up takes the case to `follow_up` (SPEC 2.1).
TRANSITIONS: Final[dict[str | None, frozenset[str]]] = {
    None: frozenset({CaseState.AWAITING_ASSIGNMENT, CaseState.AWAITING_DECISION}),
    CaseState.AWAITING_ASSIGNMENT: frozenset(
        {CaseState.AWAITING_DECISION, CaseState.SUPERSEDED, CaseState.CANCELLED}
    ),
    CaseState.AWAITING_DECISION: frozenset(
        {
            CaseState.AWAITING_DECISION,
            CaseState.DECIDED,
            CaseState.SUPERSEDED,
            CaseState.CANCELLED,
        }
    ),
    CaseState.DECIDED: frozenset(
        {
            CaseState.AWAITING_DECISION,
            CaseState.FOLLOW_UP,
            CaseState.CLOSED,
            CaseState.SUPERSEDED,
            CaseState.CANCELLED,
        }
    ),
    # a follow-up that plans the next keeps `follow_up`; one that plans none closes the case
    CaseState.FOLLOW_UP: frozenset(
        {CaseState.FOLLOW_UP, CaseState.CLOSED, CaseState.SUPERSEDED, CaseState.CANCELLED}
    ),
    CaseState.CLOSED: frozenset({CaseState.DECIDED, CaseState.SUPERSEDED}),
    CaseState.SUPERSEDED: frozenset(),
    CaseState.CANCELLED: frozenset(),
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
