"""Case states (SPEC 2.1): the transition table, and `transition()` on a real case row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.cases.enums import STATE_LABELS, CaseState, EventKind
from bot.cases.models import Case, CaseEvent
from bot.cases.service import get_case, transition
from bot.cases.states import TRANSITIONS, IllegalTransition, check_transition
from bot.db import transaction
from bot.directory.actor import Actor
from bot.directory.service import has_role, staff_by_aad
from tests.helpers import ingest_sample

AWAITING_ASSIGNMENT = CaseState.AWAITING_ASSIGNMENT
AWAITING_DECISION = CaseState.AWAITING_DECISION
DECIDED = CaseState.DECIDED
FOLLOW_UP = CaseState.FOLLOW_UP
CLOSED = CaseState.CLOSED
SUPERSEDED = CaseState.SUPERSEDED
CANCELLED = CaseState.CANCELLED
STATES = tuple(CaseState)
FROM_STATES: list[str | None] = [None, *STATES]
ALLOWED = sorted(
    ((f, t) for f, targets in TRANSITIONS.items() for t in targets), key=lambda p: (str(p[0]), p[1])
)
FORBIDDEN = [
    (f, t) for f in FROM_STATES for t in STATES if t not in TRANSITIONS.get(f, frozenset())
]
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ANNA = Actor.named("Anna Berg")
MARIA = Actor.named("Maria Svensson")
ADMIN = Actor.named("admin")
SOMEONE = Actor.named("x")


def test_table_covers_every_state_and_nothing_else() -> None:
    assert set(TRANSITIONS) == set(FROM_STATES)
    for targets in TRANSITIONS.values():
        assert targets <= set(STATES)
    assert set(STATE_LABELS) == set(STATES)


def test_the_table_is_the_workflow() -> None:
    """Spelled out once, so a change to the table is a visible change to this test."""
    assert TRANSITIONS == {
        None: {AWAITING_ASSIGNMENT, AWAITING_DECISION},
        AWAITING_ASSIGNMENT: {AWAITING_DECISION, SUPERSEDED, CANCELLED},
        AWAITING_DECISION: {AWAITING_DECISION, DECIDED, SUPERSEDED, CANCELLED},
        DECIDED: {AWAITING_DECISION, FOLLOW_UP, CLOSED, SUPERSEDED, CANCELLED},
        FOLLOW_UP: {FOLLOW_UP, CLOSED, SUPERSEDED, CANCELLED},
        CLOSED: {DECIDED, SUPERSEDED},
        SUPERSEDED: set(),
        CANCELLED: set(),
    }


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED)
def test_allowed_transition_passes(from_state: str | None, to_state: str) -> None:
    check_transition(from_state, to_state)


@pytest.mark.parametrize(("from_state", "to_state"), FORBIDDEN)
def test_unlisted_transition_raises(from_state: str | None, to_state: str) -> None:
    with pytest.raises(IllegalTransition) as raised:
        check_transition(from_state, to_state)
    assert (raised.value.from_state, raised.value.to_state) == (from_state, to_state)


def test_every_pair_is_either_allowed_or_forbidden() -> None:
    assert len(ALLOWED) + len(FORBIDDEN) == len(FROM_STATES) * len(STATES)
    assert not set(ALLOWED) & set(FORBIDDEN)
    assert len(ALLOWED) == 20


@pytest.mark.parametrize("to_state", [None, "", "open", "Decided", "deleted"])
@pytest.mark.parametrize("from_state", FROM_STATES)
def test_unknown_target_raises(from_state: str | None, to_state: Any) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(from_state, to_state)


@pytest.mark.parametrize("to_state", STATES)
def test_unknown_source_raises(to_state: str) -> None:
    with pytest.raises(IllegalTransition):
        check_transition("archived", to_state)


@pytest.mark.parametrize("terminal", [SUPERSEDED, CANCELLED])
def test_superseded_and_cancelled_are_terminal(terminal: str) -> None:
    assert TRANSITIONS[terminal] == frozenset()
    for to_state in STATES:
        with pytest.raises(IllegalTransition):
            check_transition(terminal, to_state)


def test_a_new_case_starts_waiting() -> None:
    for to_state in (DECIDED, CLOSED, SUPERSEDED, CANCELLED):
        with pytest.raises(IllegalTransition):
            check_transition(None, to_state)


def test_nothing_goes_back_to_awaiting_assignment() -> None:
    for from_state in STATES:
        with pytest.raises(IllegalTransition):
            check_transition(from_state, AWAITING_ASSIGNMENT)


def test_illegal_transition_message_names_both_states() -> None:
    error = IllegalTransition(DECIDED, AWAITING_ASSIGNMENT)
    assert str(error) == "case cannot go from decided to awaiting_assignment"
    assert isinstance(error, RuntimeError)


# -- transition() on a real case row ---------------------------------------------------


async def _case_id(factory: Any) -> int:
    return await ingest_sample(factory, "01_osteoporosis_named.json", now=NOW)


async def _events(factory: Any, case_id: int) -> list[tuple[Any, ...]]:
    async with factory() as session:
        rows = await session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
        return [(e.actor, e.action, e.from_state, e.to_state, e.reason, e.at) for e in rows.all()]


async def test_transition_bumps_version_and_records_the_event(db_url: str, factory: Any) -> None:
    case_id = await _case_id(factory)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        assert (case.state, case.version) == (AWAITING_DECISION, 1)
    assert await _events(factory, case_id) == [
        ("intake:test", EventKind.RECEIVED, None, AWAITING_DECISION, None, NOW)
    ]

    later = datetime(2026, 11, 21, 8, 15, tzinfo=UTC)
    async with transaction(factory) as session:
        case = await get_case(session, case_id=case_id, for_update=True)
        assert case is not None
        transition(session, case, DECIDED, actor=ANNA, event=EventKind.DECIDED,
                   reason="Kalla till läkarbesök", now=later)
        assert (case.state, case.version) == (DECIDED, 2)
    async with transaction(factory) as session:
        case = await get_case(session, case_id=case_id, for_update=True)
        assert case is not None
        transition(session, case, CLOSED, actor=MARIA, event=EventKind.CLOSED, now=later)

    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        assert (case.state, case.version) == (CLOSED, 3)
    assert (await _events(factory, case_id))[1:] == [
        ("Anna Berg", EventKind.DECIDED, AWAITING_DECISION, DECIDED, "Kalla till läkarbesök",
         later),
        ("Maria Svensson", EventKind.CLOSED, DECIDED, CLOSED, None, later),
    ]


async def test_reassignment_keeps_the_state_but_bumps_the_version(
    db_url: str, factory: Any
) -> None:
    case_id = await _case_id(factory)
    async with transaction(factory) as session:
        case = await get_case(session, case_id=case_id, for_update=True)
        assert case is not None
        transition(session, case, AWAITING_DECISION, actor=ANNA, event=EventKind.REASSIGNED,
                   reason="till Erik Lund", now=NOW)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and (case.state, case.version) == (AWAITING_DECISION, 2)
    assert (await _events(factory, case_id))[-1][1:4] == (
        EventKind.REASSIGNED, AWAITING_DECISION, AWAITING_DECISION)


@pytest.mark.parametrize("to_state", [AWAITING_ASSIGNMENT, CLOSED])
async def test_illegal_transition_on_a_row_records_nothing(
    db_url: str, factory: Any, to_state: str
) -> None:
    case_id = await _case_id(factory)
    with pytest.raises(IllegalTransition):
        async with transaction(factory) as session:
            case = await get_case(session, case_id=case_id, for_update=True)
            assert case is not None
            try:
                transition(session, case, to_state, actor=SOMEONE, event=EventKind.DECIDED, now=NOW)
            finally:
                # nothing was changed on the object before raising
                assert (case.state, case.version) == (AWAITING_DECISION, 1)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and (case.state, case.version) == (AWAITING_DECISION, 1)
    assert len(await _events(factory, case_id)) == 1


async def test_a_terminal_case_refuses_every_transition(db_url: str, factory: Any) -> None:
    case_id = await _case_id(factory)
    async with transaction(factory) as session:
        case = await get_case(session, case_id=case_id, for_update=True)
        assert case is not None
        transition(session, case, CANCELLED, actor=ADMIN, event=EventKind.CANCELLED, now=NOW)
    for to_state in STATES:
        with pytest.raises(IllegalTransition):
            async with transaction(factory) as session:
                case = await get_case(session, case_id=case_id, for_update=True)
                assert case is not None
                transition(session, case, to_state, actor=SOMEONE, event=EventKind.DECIDED, now=NOW)
    async with factory() as session:
        case = await session.get(Case, case_id)
        assert case is not None and (case.state, case.version) == (CANCELLED, 2)
    assert [e[3] for e in await _events(factory, case_id)] == [AWAITING_DECISION, CANCELLED]


async def test_locking_a_case_the_session_holds_reads_it_anew_and_keeps_the_actors_roles(
    db_url: str, factory: Any
) -> None:
    # The session read the case (and the actor with roles) before locking it; on
    # PostgreSQL another transaction changes it meanwhile (SQLite's write lock, taken at
    # the first statement, rules that out there). The lock must re-read the row, and must
    # not reset the roles loaded with the actor (who is also the case's physician).
    concurrent = db_url.startswith("postgresql")
    case_id = await _case_id(factory)
    async with transaction(factory) as session:
        actor = await staff_by_aad(session, "00000000-0000-0000-0000-000000000101")
        before = await session.get(Case, case_id)
        assert before is not None and before.physician is actor
        if concurrent:
            async with transaction(factory) as other:
                changed = await other.get(Case, case_id)
                assert changed is not None
                transition(other, changed, DECIDED, actor=SOMEONE, event=EventKind.DECIDED, now=NOW)
        case = await get_case(session, case_id=case_id, for_update=True)
        assert case is before
        expected = (DECIDED, 2) if concurrent else (AWAITING_DECISION, 1)
        assert (case.state, case.version) == expected
        assert has_role(actor, case.unit_id, "physician")  # roles still loaded
