"""A patient's earlier cases in the product, for a new decision card (SPEC 2.4):
"Tidigare i frakturkedjan: Ärende N (YYYY-MM-DD): beslut, behandling, senaste uppföljning",
and whether the new answer is a re-fracture (an index fracture after an earlier decision).

Matched on the patient pseudonym within retention (purged cases are gone); the lines name
no patient, so they show on a protected identity's card as on any other. The card lists
the latest `EARLIER_SHOWN` and counts the others, so that a patient with a long history
costs a new answer no more than any other (and the card stays well under Teams' size
limit); the re-fracture flag still considers every earlier case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, Table, and_, bindparam, func, select
from sqlalchemy import case as when
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.enums import DECISION_LABELS, CaseState
from bot.cases.models import Case, Decision
from bot.core.calendar import local_date
from bot.messaging.format import case_ref
from bot.visits.models import FollowUp, Visit
from bot.visits.service import TREATMENTS

__all__ = [
    "EARLIER_ORDER",
    "EARLIER_ROWS",
    "EARLIER_SHOWN",
    "EarlierRow",
    "earlier_context",
    "more_line",
    "remember_earlier",
]

EARLIER_SHOWN = 3
"""Earlier cases a decision card lists: the latest; a last line counts the others."""


async def earlier_context(session: AsyncSession, case: Case) -> dict[str, Any] | None:
    """`{"lines": [...], "refracture": bool}` for the patient's earlier cases: the latest
    `EARLIER_SHOWN`, oldest first, then a line counting the others (`more_line`); None
    when there are none. One query, whatever their number; none when the caller read
    them already (`remember_earlier`)."""
    known: dict[tuple[str, datetime], list[Any]] = session.info.get("earlier_cases", {})
    rows = known.get((case.patient_key, case.received_at))
    if rows is None:
        params = {"patient_key": case.patient_key, "case_id": case.id, "received": case.received_at}
        rows = list((await session.execute(_EARLIER, params)).all())
    if not rows:
        return None
    latest: dict[int, Any] = {}
    for row in rows:  # a case's rows by follow-up number: the latest recorded is last
        latest[row.id] = row
    lines = [_line(row) for row in latest.values()]
    first = rows[0]
    if first.total > len(latest):
        lines.append(more_line(first.total - len(latest)))
    return {
        "lines": lines,
        # a new answer with an index fracture, for a patient with an earlier case decided
        # before this one arrived: the fracture came after that decision (the referral is
        # written after the fracture, and the answer after the referral)
        "refracture": bool(case.fracture_code) and bool(first.decided_before),
    }


class EarlierRow(NamedTuple):
    """One row of the earlier-cases query (`EARLIER_ROWS`), read in another query."""

    id: int
    received_at: datetime
    total: int
    decided_before: int
    decision: str | None
    visit_drug: str | None
    visit_recorded_at: datetime | None
    follow_up_drug: str | None
    follow_up_recorded_at: datetime | None
    on_treatment: bool | None
    new_fracture: bool | None


def remember_earlier(
    session: AsyncSession, *, patient_key: str, received: datetime, rows: list[EarlierRow]
) -> None:
    """Make `rows` (the earlier-cases query's, in its order, for a case of the patient
    `patient_key` received at `received` that is not stored yet) what `earlier_context`
    reads for that case in this session: for the intake, which reads them with the unit."""
    known: dict[tuple[str, datetime], list[Any]] = session.info.setdefault("earlier_cases", {})
    known[(patient_key, received)] = list(rows)


def more_line(count: int) -> str:
    """The line under the listed earlier cases that counts the `count` older ones."""
    return f"… och {count} äldre ärende{'' if count == 1 else 'n'}"


def _earlier_query(*, ordered: bool = True) -> Select[Any]:
    """The same patient's (`:patient_key`) earlier cases still kept (not purged), received
    before the new case (`:case_id`, received at `:received`): a case a correction
    replaced, and anything of the same answer's chain, is left out (it is this case,
    corrected). The latest `EARLIER_SHOWN`, with how many there are (`total`) and whether
    any was decided before the new case arrived (`decided_before`), each joined to its
    decision, visit and recorded follow-ups (by number). Built once, as Core. Not
    `ordered`: for a subquery, with the follow-up's number and id to order by (`ORDER`)."""
    cases, decisions = _table(Case), _table(Decision)
    visits, follow_ups = _table(Visit), _table(FollowUp)
    received = bindparam("received", type_=cases.c.received_at.type)
    decided_before = when((cases.c.decided_at < received, 1), else_=0)
    shown = (
        select(
            cases.c.id,
            cases.c.received_at,
            func.count().over().label("total"),
            func.max(decided_before).over().label("decided_before"),
        )
        .where(
            cases.c.patient_key == bindparam("patient_key"),
            cases.c.id != bindparam("case_id"),
            cases.c.received_at <= received,
            cases.c.purged_at.is_(None),
            cases.c.state.not_in((CaseState.SUPERSEDED, CaseState.CANCELLED)),
        )
        .order_by(cases.c.received_at.desc(), cases.c.id.desc())
        .limit(EARLIER_SHOWN)
        .subquery("shown")
    )
    query = (
        select(
            shown.c.id,
            shown.c.received_at,
            shown.c.total,
            shown.c.decided_before,
            decisions.c.kind.label("decision"),
            visits.c.treatment_drug.label("visit_drug"),
            visits.c.recorded_at.label("visit_recorded_at"),
            follow_ups.c.treatment_drug.label("follow_up_drug"),
            follow_ups.c.recorded_at.label("follow_up_recorded_at"),
            follow_ups.c.on_treatment,
            follow_ups.c.new_fracture,
        )
        .select_from(shown)
        .outerjoin(decisions, decisions.c.case_id == shown.c.id)
        .outerjoin(visits, visits.c.case_id == shown.c.id)
        .outerjoin(
            follow_ups,
            and_(follow_ups.c.case_id == shown.c.id, follow_ups.c.recorded_at.is_not(None)),
        )
    )
    if ordered:
        return query.order_by(shown.c.received_at, shown.c.id, follow_ups.c.number, follow_ups.c.id)
    return query.add_columns(
        follow_ups.c.number.label("follow_up_number"), follow_ups.c.id.label("follow_up_id")
    )


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


_EARLIER = _earlier_query()
EARLIER_ROWS = _earlier_query(ordered=False).subquery("earlier")
"""The earlier-cases query as a subquery (same parameters), for a query of its own."""
EARLIER_ORDER = ("received_at", "id", "follow_up_number", "follow_up_id")
"""The columns of `EARLIER_ROWS` its rows are in order by, as `earlier_context` reads them."""


def _line(row: Any) -> str:
    head = f"{case_ref(row.id)} ({local_date(row.received_at).isoformat()})"
    details = [DECISION_LABELS.get(row.decision, row.decision) if row.decision else "inget beslut"]
    drug = row.follow_up_drug or row.visit_drug
    if drug:
        details.append(TREATMENTS.get(drug, drug))
    elif row.visit_recorded_at is not None:
        details.append("ingen behandling")
    if row.follow_up_recorded_at is not None:
        state = ""
        if row.on_treatment is True:
            state = ", behandling pågår"
        elif row.on_treatment is False:
            state = ", behandling avslutad"
        if row.new_fracture:
            state += ", ny fraktur"
        details.append(
            f"senaste uppföljning {local_date(row.follow_up_recorded_at).isoformat()}{state}"
        )
    return f"{head}: {', '.join(details)}"
