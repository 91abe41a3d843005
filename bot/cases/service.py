"""Primitives on one case, in the caller's transaction: find or lock it, move it to a
state (checked, versioned, in its history), record an event, hand it to a physician,
record the physician's decision and undo it. What a user does with them is in `bot.flows`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bot.cases import queries, states
from bot.cases.enums import DECISION_LABELS, CaseState, DecisionKind, EventKind
from bot.cases.models import Case, CaseEvent, Decision
from bot.core.calendar import STOCKHOLM
from bot.core.refusal import Refusal
from bot.db import load_locked, whole_database_locked
from bot.directory.actor import Actor
from bot.directory.models import Staff

UNDO_WINDOW = timedelta(minutes=30)
"""How long the deciding physician may undo a decision ("Ångra beslut"), while none of
its tasks is done; the summary card offers it as long."""


async def get_case(session: AsyncSession, *, case_id: int, for_update: bool = False) -> Case | None:
    """A case by id; with `for_update` the row is locked until the transaction ends."""
    if for_update:
        return await load_locked(session, Case, case_id)
    return await session.scalar(_CASE, {"case_id": case_id})


_CASE = select(Case).where(Case.id == bindparam("case_id"))  # built once: every card reads it


async def lock_case(session: AsyncSession, *, case_id: int, with_history: bool = False) -> Case:
    """The case, its row locked until the transaction ends; `Refusal` ("unknown case")
    when there is none. `with_history`: its history is read in the same query, for the
    card drawn at the end of the transaction (`queries.taken_history`)."""
    case: Case | None
    held = session.identity_map.get(session.sync_session.identity_key(Case, case_id))
    if with_history and held is None:
        # as `load_locked`: the bare row locked first (not on SQLite), then loaded
        if not whole_database_locked(session):
            await session.execute(_LOCK_CASE, {"case_id": case_id})
        rows = (await session.execute(_CASE_WITH_HISTORY, {"case_id": case_id})).all()
        case = rows[0][0] if rows else None
        if case is not None:
            events = [event for _, event in rows if event is not None]
            queries.remember_history(session, case.id, events)
    else:
        case = await get_case(session, case_id=case_id, for_update=True)
    if case is None:
        raise Refusal("unknown case", f"Ärende {case_id} finns inte.")
    return case


# built once: every decision click runs them
_LOCK_CASE = select(Case.id).where(Case.id == bindparam("case_id")).with_for_update()
_CASE_WITH_HISTORY = (
    select(Case, CaseEvent)
    .outerjoin(CaseEvent, CaseEvent.case_id == Case.id)
    .where(Case.id == bindparam("case_id"))
    .order_by(CaseEvent.id)
)


def record_event(
    session: AsyncSession,
    case: Case,
    event: EventKind,
    *,
    actor: Actor,
    reason: str | None = None,
    now: datetime,
) -> None:
    """Add a history row for a change that keeps the case's state (a task done, a visit)."""
    queries.forget_history(session, case.id)
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor.display_name,
            action=event,
            from_state=case.state,
            to_state=case.state,
            reason=reason,
        )
    )


def transition(
    session: AsyncSession,
    case: Case,
    to_state: CaseState,
    *,
    actor: Actor,
    event: EventKind,
    reason: str | None = None,
    now: datetime,
) -> None:
    """Move a case to a new state (checked: `IllegalTransition`), bump its version and
    record the event in its history."""
    states.check_transition(case.state, to_state)
    queries.forget_history(session, case.id)
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=actor.display_name,
            action=event,
            from_state=case.state,
            to_state=to_state,
            reason=reason,
        )
    )
    case.state = to_state
    case.version += 1


def close(session: AsyncSession, case: Case, *, actor: Actor, reason: str, now: datetime) -> None:
    """Close the case (a transition to `closed`, with `reason` in its history)."""
    transition(
        session, case, CaseState.CLOSED, actor=actor, event=EventKind.CLOSED, reason=reason, now=now
    )
    case.closed_at = now


def give_to(
    session: AsyncSession,
    case: Case,
    physician: Staff,
    *,
    actor: Actor,
    event: EventKind,
    now: datetime,
) -> None:
    """Make `physician` the case's owner, awaiting their decision: `event` is
    `ASSIGNED` (from triage) or `REASSIGNED` (from a colleague)."""
    case.physician_id = physician.id
    case.physician = physician
    transition(
        session,
        case,
        CaseState.AWAITING_DECISION,
        actor=actor,
        event=event,
        reason=f"till {physician.name}",
        now=now,
    )


def as_loaded(session: AsyncSession, instance: object, **related: object) -> None:
    """Make `instance`, whose row a Core statement of this transaction just inserted
    (every column set, its primary key too), one of the session's objects as if read
    from the database: nothing to flush; `related` sets its relationships the same way."""
    make_transient_to_detached(instance)
    session.add(instance)
    for name, value in related.items():
        set_committed_value(instance, name, value)


_CASES = cast(Table, Case.__table__)
_EVENTS = cast(Table, CaseEvent.__table__)
_DECISIONS = cast(Table, Decision.__table__)
# the decision's writes, built once (Core: the click runs no unit-of-work flush)
_INSERT_DECISION = insert(_DECISIONS).returning(_DECISIONS.c.id)
_INSERT_EVENT = insert(_EVENTS)
DECIDED = (  # a statement of its own here, a CTE of `bot.tasks.service.record_decision`
    update(_CASES)
    .where(_CASES.c.id == bindparam("case_id"))
    .values(
        state=bindparam("new_state"),
        version=bindparam("new_version"),
        decided_at=bindparam("new_decided_at", type_=_CASES.c.decided_at.type),
    )
)


class DecisionRows(NamedTuple):
    """The rows a decision writes, before they are written (`decision_rows`): the
    decision (`decision`, without its id), its history event (`event`) and the case's
    new state and version (`case`: the parameters of `DECIDED`)."""

    decision: dict[str, Any]
    event: dict[str, Any]
    case: dict[str, Any]


def decision_rows(
    case: Case,
    *,
    kind: DecisionKind,
    note: str | None,
    visit_physician: Staff | None,
    actor: Actor,
    now: datetime,
) -> DecisionRows:
    """What recording the decision of `actor` (a physician) on `case` writes: checked
    (`IllegalTransition` unless the case may move to `decided`), written by no one yet.
    `visit_physician` sees a call-in patient (None for the other kinds)."""
    to_state = CaseState.DECIDED
    states.check_transition(case.state, to_state)
    return DecisionRows(
        decision={
            "case_id": case.id,
            "kind": kind,
            "by_id": actor.staff.id,
            "at": now,
            "note": note,
            "visit_physician_id": visit_physician.id if visit_physician else None,
        },
        event={
            "case_id": case.id,
            "at": now,
            "actor": actor.display_name,
            "action": EventKind.DECIDED,
            "from_state": case.state,
            "to_state": to_state,
            "reason": DECISION_LABELS[kind],
        },
        case={
            "case_id": case.id,
            "new_state": to_state,
            "new_version": case.version + 1,
            "new_decided_at": now,
        },
    )


def took_decision(
    session: AsyncSession,
    case: Case,
    rows: DecisionRows,
    *,
    decision_id: int,
    by: Staff,
    visit_physician: Staff | None,
) -> Decision:
    """After `rows` were written (the decision with id `decision_id`): `case` shows them
    as the database now holds them, without a query (its decision, state, version and
    remembered history), and the decision is one of the session's objects."""
    queries.add_to_history(session, case.id, CaseEvent(**rows.event))  # shown, not added
    decision = Decision(id=decision_id, **rows.decision)
    as_loaded(session, decision, by=by, visit_physician=visit_physician, case=case)
    for name, value in (
        ("decision", decision),
        ("decided_at", rows.case["new_decided_at"]),
        ("state", rows.case["new_state"]),
        ("version", rows.case["new_version"]),
    ):
        set_committed_value(case, name, value)
    return decision


async def write_decision(session: AsyncSession, rows: DecisionRows) -> int:
    """Write a decision's `rows` (`decision_rows`): three statements, run now; the
    decision's id. Then `took_decision`. (On PostgreSQL `bot.tasks.service.record_decision`
    writes them with the decision's tasks and audit row in one statement.)"""
    decision_id: int = (await session.execute(_INSERT_DECISION, rows.decision)).scalar_one()
    await session.execute(_INSERT_EVENT, rows.event)
    await session.execute(DECIDED, rows.case)
    return decision_id


def undo_refusal(
    case: Case, *, person: Staff | None, done_task: str | None, now: datetime
) -> Refusal | None:
    """Why `person` may not undo the case's decision now, or None when they may: only the
    physician who decided, while the case is decided (not closed or replaced), none of
    its tasks is done (`done_task`: the title of one that is), and within `UNDO_WINDOW`."""
    decision = case.decision
    if decision is None or person is None or decision.by_id != person.id:
        return Refusal("role", "Endast läkaren som fattade beslutet kan ångra det.")
    if case.state != CaseState.DECIDED:
        return Refusal("case ended", "Ärendet är avslutat; beslutet kan inte ångras.", on_card=True)
    if done_task is not None:
        return Refusal(
            "task done",
            f'Uppgiften "{done_task[:80]}" är redan klar; beslutet kan inte ångras.',
            on_card=True,
        )
    if now - decision.at >= UNDO_WINDOW:
        at = decision.at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")
        return Refusal(
            "window",
            f"Ett beslut kan bara ångras inom 30 minuter; det här fattades {at}.",
            on_card=True,
        )
    return None


async def undo_decision(
    session: AsyncSession, case: Case, *, actor: Actor, now: datetime
) -> Decision:
    """Remove the case's decision (which must be set) and take the case back to
    `awaiting_decision`, recorded in its history with the decision's label; returns the
    removed decision. Its tasks are the caller's to cancel."""
    decision = case.decision
    assert decision is not None
    await session.delete(decision)
    case.decision = None
    case.decided_at = None
    transition(
        session,
        case,
        CaseState.AWAITING_DECISION,
        actor=actor,
        event=EventKind.DECISION_UNDONE,
        reason=DECISION_LABELS.get(decision.kind, decision.kind),
        now=now,
    )
    return decision
