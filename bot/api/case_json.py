"""The read-only case view of SPEC section 7, as plain data (no identifiers of the patient)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import queries as case_queries
from bot.cases.enums import EVENT_LABELS
from bot.cases.models import Case, CaseEvent
from bot.directory.models import Unit
from bot.tasks import queries as task_queries
from bot.tasks.models import Task
from bot.visits import followups
from bot.visits.models import FollowUp


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def case_json(
    case: Case,
    tasks: Sequence[Task],
    history: Sequence[CaseEvent],
    follow_ups: Sequence[FollowUp] = (),
) -> dict[str, Any]:
    """The case as `GET /api/cases/{id}` answers it (the `Case` schema of the OpenAPI
    document): history entries carry the event's code (`kind`) and its label (`action`)."""
    decision = case.decision
    return {
        "id": case.id,
        "state": case.state,
        "version": case.version,
        "unit": {"hsa_id": case.unit.hsa_id, "name": case.unit.name},
        "physician": {"aad_object_id": case.physician.aad_object_id, "name": case.physician.name}
        if case.physician
        else None,
        "received_at": _iso(case.received_at),
        "answer": {
            "system": case.report_system,
            "value": case.report_value,
            "status": case.report_status,
            "scan_date": _iso(case.scan_date),
        },
        "protected_identity": case.protected_identity,
        "supersedes": case.supersedes_id,
        "superseded_by": case.superseded_by_id,
        "decision": {
            "kind": decision.kind,
            "by": decision.by.aad_object_id,
            "by_name": decision.by.name,
            "at": _iso(decision.at),
            "note": decision.note,
            "visit_physician": decision.visit_physician.aad_object_id
            if decision.visit_physician
            else None,
        }
        if decision
        else None,
        "tasks": [
            {
                "id": t.id,
                "kind": t.kind,
                "title": t.title,
                "assignee_role": t.assignee_role,
                "assignee": t.assignee.aad_object_id if t.assignee else None,
                "due": t.due.isoformat(),
                "status": t.status,
                "done_by": t.done_by.aad_object_id if t.done_by else None,
                "done_at": _iso(t.done_at),
            }
            for t in tasks
        ],
        "follow_ups": [
            {
                "number": f.number,
                "due": f.due.isoformat(),
                "recorded_at": _iso(f.recorded_at),
                "treatment_started": f.treatment_started,
                "treatment_drug": f.treatment_drug,
                "on_treatment": f.on_treatment,
                "stopped_reason": f.stopped_reason,
                "falls": f.falls,
                "new_fracture": f.new_fracture,
                "next_due": _iso(f.next_due),
                "dxa_planned": _iso(f.dxa_planned),
                "physio_assessed_on": _iso(f.physio_assessed_on),
            }
            for f in follow_ups
        ],
        "history": [
            {
                "at": _iso(e.at),
                "actor": e.actor,
                "kind": e.action,
                "action": EVENT_LABELS.get(e.action, e.action),
                "from_state": e.from_state,
                "to_state": e.to_state,
                "reason": e.reason,
            }
            for e in history
        ],
    }


async def read_case(session: AsyncSession, case_id: int) -> tuple[Case, dict[str, Any]] | None:
    """The case and its API view, or None."""
    case = await session.get(Case, case_id)
    if case is None:
        return None
    tasks = await task_queries.of_case(session, case_id=case.id)
    history = await case_queries.history(session, case_id=case.id)
    return case, case_json(
        case, tasks, history, await followups.of_case(session, case_id=case.id)
    )


async def list_cases(
    session: AsyncSession, *, unit_hsa: str | None, state: str | None, limit: int
) -> list[Case]:
    """Up to `limit` cases by id, of the unit with HSA-id `unit_hsa` and in `state` when
    given."""
    query = select(Case).order_by(Case.id).limit(limit)
    if unit_hsa:
        query = query.join(Unit, Case.unit_id == Unit.id).where(Unit.hsa_id == unit_hsa)
    if state:
        query = query.where(Case.state == state)
    return list((await session.scalars(query)).unique().all())
