"""A DXA answer as a case: opening the case of a new answer, finding the current case of
an answer's identity, and the measurements it keeps (SPEC section 3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import states
from bot.cases.clinical import Suggestion, suggest
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import AnswerMessage, Case, CaseEvent
from bot.cases.service import transition
from bot.core.measurements import Measurement
from bot.directory.actor import Actor
from bot.directory.models import Staff, Unit
from bot.intake.fhir import DxaAnswer

__all__ = ["current_for", "measurements_of", "open_case", "suggestion_of", "supersede"]


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
) -> Case:
    """The new case of `answer` for `unit`: awaiting `physician`'s decision, or awaiting
    assignment without one. Stored with its first event ("received" by the intake from
    `sender`, naming the case it `corrects`) and the bundle as received (`body`); flushed,
    so it has its id. The unit and physician are set on it: cards read them without a
    query."""
    case = _new_case(answer, unit_id=unit.id, patient_key=patient_key, now=now)
    case.unit = unit
    case.decision = None
    case.physician = physician
    case.physician_id = physician.id if physician else None
    first_state = CaseState.AWAITING_DECISION if physician else CaseState.AWAITING_ASSIGNMENT
    states.check_transition(None, first_state)
    case.state = first_state
    session.add(case)
    await session.flush()
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor=Actor.intake(sender).display_name,
            action=EventKind.RECEIVED,
            from_state=None,
            to_state=first_state,
            reason=f"korrigerar ärende {corrects.id}" if corrects else None,
        )
    )
    session.add(
        AnswerMessage(
            case_id=case.id,
            received_at=now,
            sender=sender,
            body=body.decode("utf-8", errors="replace"),
        )
    )
    return case


def supersede(
    session: AsyncSession, previous: Case, *, by: Case, reason: str, actor: Actor, now: datetime
) -> None:
    """Mark `previous` replaced by the corrected answer's case `by`, both linked."""
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
    by.supersedes_id = previous.id


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


def _new_case(answer: DxaAnswer, *, unit_id: int, patient_key: str, now: datetime) -> Case:
    patient = answer.patient
    return Case(
        version=1,
        unit_id=unit_id,
        received_at=now,
        report_system=answer.report_system,
        report_value=answer.report_value,
        report_status=answer.status,
        content_hash=answer.content_hash,
        scan_date=answer.scan_date,
        issued_at=answer.issued,
        conclusion=answer.conclusion,
        referral_id=answer.referral_id,
        fracture_code=answer.fracture_code,
        fracture_text=answer.fracture_text,
        practitioner_hsa_id=answer.practitioner_hsa_id,
        measurements=_measurements_json(answer),
        patient_key=patient_key,
        patient_number=patient.identity.number,
        patient_id_kind=patient.identity.kind,
        patient_name=patient.name,
        patient_birth_date=patient.birth_date or patient.identity.birth_date,
        patient_gender=patient.gender,
        protected_identity=patient.protected,
    )
