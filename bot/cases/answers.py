"""A DXA answer as a case: opening the case of a new answer, finding the current case of
an answer's identity, and the measurements it keeps (SPEC section 3).

The intake's statements are SQLAlchemy Core, built once (issue 15): a new answer is the
hot path of the intake, and ORM objects there cost more CPU than the statements."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, Subquery, Table, bindparam, insert, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit_log
from bot.audit.models import AuditEntry
from bot.cases import states
from bot.cases.clinical import Suggestion, suggest
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import AnswerMessage, Case, CaseEvent
from bot.cases.service import transition
from bot.core.measurements import Measurement
from bot.db import utcnow
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import Staff, StaffRole, Unit
from bot.intake.fhir import DxaAnswer

__all__ = [
    "CurrentAnswer",
    "OpeningAudit",
    "UnitAnswer",
    "current_answer",
    "current_for",
    "measurements_of",
    "open_case",
    "suggestion_of",
    "supersede",
]

_CASES: Table = Case.__table__  # type: ignore[assignment]
_EVENTS: Table = CaseEvent.__table__  # type: ignore[assignment]
_MESSAGES: Table = AnswerMessage.__table__  # type: ignore[assignment]
_UNITS: Table = Unit.__table__  # type: ignore[assignment]
_STAFF: Table = Staff.__table__  # type: ignore[assignment]
_ROLES: Table = StaffRole.__table__  # type: ignore[assignment]

_CURRENT = (
    select(
        _CASES.c.id.label("current_id"),
        _CASES.c.content_hash.label("current_hash"),
        _CASES.c.unit_id.label("current_unit_id"),
    )
    .where(
        _CASES.c.report_system == bindparam("system"),
        _CASES.c.report_value == bindparam("value"),
        _CASES.c.state != CaseState.SUPERSEDED,
    )
    .order_by(_CASES.c.id.desc())
    .limit(1)
    .subquery("current")
)
# the unit's active physicians, as `bot.directory.service.unit_staff` reads them
_PHYSICIANS = (
    select(*_STAFF.c, _ROLES.c.unit_id.label("role_unit_id"))
    .select_from(_STAFF.join(_ROLES, _ROLES.c.staff_id == _STAFF.c.id))
    .where(_ROLES.c.role == Role.PHYSICIAN, _STAFF.c.active)
    .subquery("physician")
)
_STAFF_KEYS = tuple(c.key for c in _STAFF.c)


def _unit_and_current(joined: Subquery | None, order: tuple[str, ...]) -> Select[Any]:
    """The unit, the identity's current case and the unit's physicians (by name), with
    the rows of `joined` (joined on true, its columns named `joined_<column>`, ordered by
    its `order` columns after the physicians)."""
    query = (
        select(
            *_UNITS.c,
            *_CURRENT.c,
            *(_PHYSICIANS.c[key].label(f"physician_{key}") for key in _STAFF_KEYS),
        )
        .select_from(
            _UNITS.outerjoin(_CURRENT, true()).outerjoin(
                _PHYSICIANS, _PHYSICIANS.c.role_unit_id == _UNITS.c.id
            )
        )
        .where(_UNITS.c.hsa_id == bindparam("unit_hsa"), _UNITS.c.active)
        .order_by(_PHYSICIANS.c.name, _PHYSICIANS.c.id)
    )
    if joined is None:
        return query
    return (
        query.add_columns(*(column.label(f"joined_{column.key}") for column in joined.c))
        .outerjoin(joined, true())
        .order_by(*(joined.c[key] for key in order))
    )


_UNIT_AND_CURRENT = _unit_and_current(None, ())
_JOINED: dict[tuple[Subquery, tuple[str, ...]], Select[Any]] = {}  # built once each


_INSERT_CASE = insert(_CASES).returning(_CASES.c.id)
_INSERT_EVENT = insert(_EVENTS)
_INSERT_MESSAGE = insert(_MESSAGES)
_EVENT_KEYS = ("at", "actor", "action", "from_state", "to_state", "reason")
_MESSAGE_KEYS = ("received_at", "sender", "body")
_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
_AUDIT_KEYS = ("at", "actor", "action", "outcome", "unit_id", "task_id", "patient_key", "detail")


def _opening_statement(*, audited: bool) -> Select[Any]:
    """PostgreSQL: the case, its first event and its answer message (and, `audited`, its
    audit row) in one statement (data-modifying CTEs), parameters named `case_<column>`,
    `event_<column>`, `message_<column>` and `audit_<column>`; it returns the case's id."""

    def values(table: Table, prefix: str, keys: Iterable[str]) -> dict[str, Any]:
        return {k: bindparam(f"{prefix}_{k}", type_=table.c[k].type) for k in keys}

    case_keys = [c.key for c in _CASES.c if c.key != "id"]
    new_case = (
        insert(_CASES).values(values(_CASES, "case", case_keys)).returning(_CASES.c.id)
    ).cte("new_case")
    case_id = select(new_case.c.id).scalar_subquery()
    event = insert(_EVENTS).values(case_id=case_id, **values(_EVENTS, "event", _EVENT_KEYS))
    message = insert(_MESSAGES).values(
        case_id=case_id, **values(_MESSAGES, "message", _MESSAGE_KEYS)
    )
    opening = (
        select(new_case.c.id).add_cte(event.cte("new_event")).add_cte(message.cte("new_message"))
    )
    if audited:
        audit = insert(_AUDIT).values(case_id=case_id, **values(_AUDIT, "audit", _AUDIT_KEYS))
        opening = opening.add_cte(audit.cte("new_audit"))
    return opening


_OPEN_CASE = _opening_statement(audited=False)
_OPEN_CASE_AUDITED = _opening_statement(audited=True)


class OpeningAudit(NamedTuple):
    """The audit row of a case's opening (`open_case`): who, what, and its detail; the
    case's unit, id and patient pseudonym are the case's."""

    actor: Actor
    action: str
    detail: dict[str, Any]


class CurrentAnswer(NamedTuple):
    """What the intake needs to know of the current case of an answer identity: which it
    is, its content hash (an exact duplicate changes nothing) and its unit."""

    id: int
    content_hash: str
    unit_id: int


class UnitAnswer(NamedTuple):
    """The receiving unit of an answer, the current case of its identity (None for a new
    identity), the unit's active physicians by name (the named physician is looked up
    among them; the decision card lists them) and the rows of the query joined to it."""

    unit: Unit
    current: CurrentAnswer | None
    physicians: list[Staff]
    joined: list[dict[str, Any]]


async def current_answer(
    session: AsyncSession,
    *,
    unit_hsa: str,
    system: str,
    value: str,
    joined: Subquery | None = None,
    order: tuple[str, ...] = (),
    params: dict[str, Any] | None = None,
) -> UnitAnswer | None:
    """The active unit with HSA-id `unit_hsa`, the latest case of the answer identity
    (`system`, `value`) that no correction has replaced, and the unit's active
    physicians; None for an unknown unit. One Core query (the caller holds the identity's
    lock); a correction loads the case itself with `current_for`.

    `joined`, a subquery (with an `id` column, never null in its rows) built once, with
    its `params`, is read in the same query: its rows in its `order`, as mappings.

    The unit and the physicians are objects outside the session, as the cards of a new
    case read them: values, not a way to change the unit or the people."""
    statement = _UNIT_AND_CURRENT
    if joined is not None:
        found = _JOINED.get((joined, order))
        statement = _build_joined(joined, order) if found is None else found
    values = {"unit_hsa": unit_hsa, "system": system, "value": value, **(params or {})}
    rows = (await session.execute(statement, values)).all()
    if not rows:
        return None
    first = rows[0]._mapping
    unit = Unit(**{column.key: first[column] for column in _UNITS.c})
    physicians: list[Staff] = []
    extra: list[dict[str, Any]] = []
    seen: set[int] = set()
    for row in rows:  # each physician with each joined row: by physician, then `order`
        mapping = row._mapping
        physician = mapping["physician_id"]
        if physician is not None and physician not in seen:
            seen.add(physician)
            physicians.append(_staff(mapping))
        if joined is not None and physician == first["physician_id"]:
            if mapping["joined_id"] is not None:
                extra.append({c.key: mapping[f"joined_{c.key}"] for c in joined.c})
    current = None
    if first["current_id"] is not None:
        current = CurrentAnswer(
            first["current_id"], first["current_hash"], first["current_unit_id"]
        )
    return UnitAnswer(unit, current, physicians, extra)


def _build_joined(joined: Subquery, order: tuple[str, ...]) -> Select[Any]:
    statement = _JOINED[(joined, order)] = _unit_and_current(joined, order)
    return statement


def _staff(mapping: Any) -> Staff:
    return Staff(**{key: mapping[f"physician_{key}"] for key in _STAFF_KEYS})


async def current_for(session: AsyncSession, *, system: str, value: str) -> Case | None:
    """The latest case of the answer identity (`system`, `value`) that no correction has
    replaced, read afresh (the caller holds the identity's lock)."""
    return await session.scalar(
        select(Case)
        .where(
            Case.report_system == system,
            Case.report_value == value,
            Case.state != CaseState.SUPERSEDED,
        )
        .order_by(Case.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def open_case(
    session: AsyncSession,
    answer: DxaAnswer,
    *,
    unit: Unit,
    patient_key: str,
    physician: Staff | None,
    body: bytes,
    sender: str,
    corrects: Case | None,
    now: datetime,
    audit: OpeningAudit | None = None,
) -> Case:
    """The new case of `answer` for `unit`: awaiting `physician`'s decision, or awaiting
    assignment without one. Stored with its first event ("received" by the intake from
    `sender`, naming the case it `corrects`, which it supersedes) and the bundle as
    received (`body`), and with `audit` its audit row: one Core statement on PostgreSQL,
    one per row on SQLite.

    Returns the case as an object outside the session, with its id, unit, physician and
    no decision set: what the cards and the audit row read, without a query. It is a
    value: a later change of the case goes through the database, not through it."""
    first_state = CaseState.AWAITING_DECISION if physician else CaseState.AWAITING_ASSIGNMENT
    states.check_transition(None, first_state)
    values = _case_values(answer, unit_id=unit.id, patient_key=patient_key, now=now)
    values["state"] = first_state
    values["physician_id"] = physician.id if physician else None
    values["supersedes_id"] = corrects.id if corrects else None
    event = {
        "at": now,
        "actor": Actor.intake(sender).display_name,
        "action": EventKind.RECEIVED,
        "from_state": None,
        "to_state": first_state,
        "reason": f"korrigerar ärende {corrects.id}" if corrects else None,
    }
    message = {
        "received_at": now,
        "sender": sender,
        "body": body.decode("utf-8", errors="replace"),
    }
    case_id: int
    if session.get_bind().dialect.name == "postgresql":
        params = {f"case_{k}": v for k, v in values.items()}
        params.update({f"event_{k}": v for k, v in event.items()})
        params.update({f"message_{k}": v for k, v in message.items()})
        if audit is not None:
            params.update(
                audit_at=utcnow(),
                audit_actor=audit.actor.audit_id,
                audit_action=audit.action,
                audit_outcome="ok",
                audit_unit_id=unit.id,
                audit_task_id=None,
                audit_patient_key=patient_key,
                audit_detail=audit.detail,
            )
        opening = _OPEN_CASE if audit is None else _OPEN_CASE_AUDITED
        case_id = (await session.execute(opening, params)).scalar_one()
    else:  # SQLite has no data-modifying CTEs: one statement per row
        case_id = (await session.execute(_INSERT_CASE, values)).scalar_one()
        await session.execute(_INSERT_EVENT, {"case_id": case_id, **event})
        await session.execute(_INSERT_MESSAGE, {"case_id": case_id, **message})
        if audit is not None:
            await audit_log.write(
                session,
                actor=audit.actor.audit_id,
                action=audit.action,
                unit_id=unit.id,
                case_id=case_id,
                patient=patient_key,
                detail=audit.detail,
            )
    case = Case(id=case_id, **values)
    case.unit = unit
    case.physician = physician
    case.decision = None
    return case


def supersede(
    session: AsyncSession, previous: Case, *, by: Case, reason: str, actor: Actor, now: datetime
) -> None:
    """Mark `previous` replaced by the corrected answer's case `by` (stored naming
    `previous` already: `open_case` with `corrects`)."""
    transition(
        session,
        previous,
        CaseState.SUPERSEDED,
        actor=actor,
        event=EventKind.SUPERSEDED,
        reason=reason,
        now=now,
    )
    previous.superseded_by_id = by.id


def measurements_of(case: Case) -> list[Measurement]:
    """The measurements the case keeps, as values."""
    return [
        Measurement(
            site=m["site"],
            site_label=m["site_label"],
            body_site_text=m.get("body_site_text"),
            bmd=m.get("bmd"),
            t_score=m.get("t_score"),
            z_score=m.get("z_score"),
        )
        for m in case.measurements
    ]


def suggestion_of(case: Case) -> Suggestion:
    """The clinical suggestion of the case's answer (what its cards show)."""
    return suggest(
        measurements=measurements_of(case),
        birth_date=case.patient_birth_date,
        scan_date=case.scan_date,
        fracture_code=case.fracture_code,
    )


def _measurements_json(answer: DxaAnswer) -> list[dict[str, Any]]:
    return [
        {
            "site": m.site,
            "site_label": m.site_label,
            "body_site_text": m.body_site_text,
            "bmd": m.bmd,
            "t_score": m.t_score,
            "z_score": m.z_score,
        }
        for m in answer.measurements
    ]


def _case_values(
    answer: DxaAnswer, *, unit_id: int, patient_key: str, now: datetime
) -> dict[str, Any]:
    patient = answer.patient
    return {
        "version": 1,
        "unit_id": unit_id,
        "received_at": now,
        "decided_at": None,
        "closed_at": None,
        "report_system": answer.report_system,
        "report_value": answer.report_value,
        "report_status": answer.status,
        "content_hash": answer.content_hash,
        "scan_date": answer.scan_date,
        "issued_at": answer.issued,
        "conclusion": answer.conclusion,
        "referral_id": answer.referral_id,
        "fracture_code": answer.fracture_code,
        "fracture_text": answer.fracture_text,
        "practitioner_hsa_id": answer.practitioner_hsa_id,
        "measurements": _measurements_json(answer),
        "patient_key": patient_key,
        "patient_number": patient.identity.number,
        "patient_id_kind": patient.identity.kind,
        "patient_name": patient.name,
        "patient_birth_date": patient.birth_date or patient.identity.birth_date,
        "patient_gender": patient.gender,
        "protected_identity": patient.protected,
        "purged_at": None,
        "superseded_by_id": None,
    }
