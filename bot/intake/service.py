"""The intake contract (SPEC section 3): one FHIR bundle in, one case (or a clear refusal) out.

Shared by `POST /api/dxa-answers` and `frakturkedjan ingest`. An invalid message changes
nothing but is kept in the rejected-message log, cut to what its columns hold. Everything
a bundle brings is checked against `bot.intake.limits` before the database sees it, so
bad input is a 4xx, never a database error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.cases import service as cases
from bot.cases import states, views
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import AnswerMessage, Case, CaseEvent
from bot.core.calendar import local_date
from bot.db import transaction, whole_database_locked
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import Unit
from bot.intake import jsontext, limits
from bot.intake.fhir import BundleInvalid, DxaAnswer, Problem, parse_bundle
from bot.intake.models import AnswerKey, RejectedMessage
from bot.outbox import service as outbox
from bot.tasks import service as tasks_service

log = logging.getLogger("frakturkedjan.intake")

KEPT_REJECTED_BYTES = 1024 * 1024
"""Bytes of a refused body kept in the rejected-message log."""
KEPT_PROBLEMS = 100
"""Problems kept in the rejected-message log; a last entry counts the others."""
KEPT_PROBLEM_CHARS = 1000
"""Characters of one problem's path or message kept in the log."""
_SIZE_MAX = 2**31 - 1  # the `size` column is a 32-bit integer
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass
class IntakeResult:
    """HTTP-shaped result: `status` 200/201/202 or 4xx, and the JSON body."""

    status: int
    body: dict[str, Any]
    case_id: int | None = None
    problems: list[Problem] = field(default_factory=list)


def _problems_body(problems: list[Problem], *, error: str) -> dict[str, Any]:
    return {
        "error": error,
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }


async def reject(
    factory: async_sessionmaker[AsyncSession],
    *,
    status: int,
    problems: list[Problem],
    error: str,
    channel: str,
    sender: str | None,
    content_type: str | None,
    body: bytes | None,
    size: int,
) -> IntakeResult:
    """Keep an invalid message for the operator and build the error answer.

    The log row is cut to fit its columns: the body to `KEPT_REJECTED_BYTES` (as text,
    without NUL), the first `KEPT_PROBLEMS` problems, the content type and sender to
    their column widths. When the row cannot be written the sender still gets its
    answer, and an error is logged (its type only: a database error quotes the row).
    """
    row = RejectedMessage(
        channel=channel,
        sender=_storable(sender, _width("sender")) if sender is not None else None,
        status=status,
        problems=_kept_problems(problems),
        content_type=(
            _storable(content_type, _width("content_type")) if content_type is not None else None
        ),
        size=min(size, _SIZE_MAX),
        body=(
            _storable(body[:KEPT_REJECTED_BYTES].decode("utf-8", errors="replace"))
            if body is not None
            else None
        ),
    )
    try:
        await _keep_rejected(factory, row, problem_count=len(problems))
    except Exception as exc:
        log.error(
            "could not keep a rejected message",
            extra={"status": status, "problems": len(problems), "error": type(exc).__name__},
        )
    return IntakeResult(
        status=status, body=_problems_body(problems, error=error), problems=problems
    )


def _storable(text: str, max_length: int | None = None) -> str:
    """`text` cut to `max_length` characters, NUL and lone surrogates replaced by U+FFFD
    (a PostgreSQL text column takes neither)."""
    cut = text if max_length is None else text[:max_length]
    return _UNSTORABLE.sub("\ufffd", cut)


def _kept_problems(problems: list[Problem]) -> list[dict[str, str]]:
    kept = [
        {
            "path": _storable(p.path, KEPT_PROBLEM_CHARS),
            "message": _storable(p.message, KEPT_PROBLEM_CHARS),
        }
        for p in problems[:KEPT_PROBLEMS]
    ]
    if len(problems) > KEPT_PROBLEMS:
        kept.append({"path": "$", "message": f"{len(problems) - KEPT_PROBLEMS} more problems"})
    return kept


def _width(column: str) -> int:
    """The width of a string column of the rejected-message log."""
    kind = RejectedMessage.__table__.c[column].type
    assert isinstance(kind, String) and kind.length is not None
    return kind.length


async def _keep_rejected(
    factory: async_sessionmaker[AsyncSession], row: RejectedMessage, *, problem_count: int
) -> None:
    async with transaction(factory) as session:
        session.add(row)
        audit.record(
            session,
            actor=Actor.intake(row.sender or "unknown").audit_id,
            action="intake.rejected",
            outcome="refused",
            detail={"status": row.status, "problems": problem_count},
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


class _Refused(Exception):
    def __init__(self, status: int, error: str, problems: list[Problem]) -> None:
        super().__init__(error)
        self.status, self.error, self.problems = status, error, problems


def _answer_of(body: bytes, *, today: date, max_body_bytes: int) -> DxaAnswer:
    """The answer a body holds, or `_Refused`: 413 over `max_body_bytes`, 400 when it is
    not UTF-8 JSON, 422 for nesting too deep and anything else wrong. No database work."""
    if len(body) > max_body_bytes:
        problem = Problem("$", f"body is over {max_body_bytes} bytes")
        raise _Refused(413, "payload too large", [problem])
    try:
        data = jsontext.decode(body)
    except jsontext.TooDeep as exc:
        raise _Refused(422, "invalid DXA answer bundle", [exc.problem]) from None
    except jsontext.NotJson as exc:
        raise _Refused(400, "body is not JSON", [exc.problem]) from None
    try:
        return parse_bundle(data, today=today)
    except BundleInvalid as exc:
        raise _Refused(422, "invalid DXA answer bundle", list(exc.problems)) from None


async def ingest(
    factory: async_sessionmaker[AsyncSession],
    *,
    body: bytes,
    content_type: str | None,
    sender: str,
    channel: str,
    secret: str,
    now: datetime,
    max_body_bytes: int = limits.MAX_BODY_BYTES,
) -> IntakeResult:
    """Validate and store one DXA answer; the whole change is one transaction.

    Refusals: 413 over `max_body_bytes` (the setting of that name), 400 when the body is
    not UTF-8 JSON, 422 for anything else wrong, with every problem by JSON path.
    """

    async def refuse(status: int, error: str, problems: list[Problem]) -> IntakeResult:
        kept = body if status != 413 else None
        return await reject(
            factory,
            status=status,
            error=error,
            problems=problems,
            channel=channel,
            sender=sender,
            content_type=content_type,
            body=kept,
            size=len(body),
        )

    try:
        answer = _answer_of(body, today=local_date(now), max_body_bytes=max_body_bytes)
    except _Refused as refused:
        return await refuse(refused.status, refused.error, refused.problems)

    async with transaction(factory) as session:
        unit = await directory.unit_by_hsa(session, answer.unit_hsa_id)
        result = None
        if unit is not None:
            result = await _store(
                session,
                answer=answer,
                unit=unit,
                body=body,
                sender=sender,
                secret=secret,
                now=now,
            )
    if result is None:
        problem = Problem(
            "$.entry[?(@.resource.resourceType=='Organization')].identifier",
            f"unknown care unit HSA-id {answer.unit_hsa_id}",
        )
        return await refuse(422, "invalid DXA answer bundle", [problem])
    return result


async def _store(
    session: AsyncSession,
    *,
    answer: DxaAnswer,
    unit: Unit,
    body: bytes,
    sender: str,
    secret: str,
    now: datetime,
) -> IntakeResult:
    unit_id = unit.id
    await _lock_answer(session, answer.report_system, answer.report_value)
    previous = await session.scalar(
        select(Case)
        .where(
            Case.report_system == answer.report_system,
            Case.report_value == answer.report_value,
            Case.state != CaseState.SUPERSEDED,
        )
        .order_by(Case.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    key = audit.patient_key(secret, answer.patient.identity.number)
    actor = Actor.intake(sender)
    if previous is not None and previous.content_hash == answer.content_hash:
        audit.record(
            session,
            actor=actor.audit_id,
            action="intake.duplicate",
            unit_id=previous.unit_id,
            case_id=previous.id,
            patient=key,
        )
        return IntakeResult(
            status=200, case_id=previous.id, body={"case_id": previous.id, "outcome": "duplicate"}
        )

    case = _new_case(answer, unit_id=unit_id, key=key, now=now)
    case.unit = unit  # set, not loaded: the cards read it
    case.decision = None
    physician = None
    if previous is not None and previous.physician is not None and previous.physician.active:
        physician = previous.physician
    elif answer.practitioner_hsa_id:
        # the unit's physicians: the decision card lists the same people (one query)
        physicians = await directory.unit_staff(session, unit_id=unit_id, role=Role.PHYSICIAN)
        physician = next((p for p in physicians if p.hsa_id == answer.practitioner_hsa_id), None)
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
            actor=actor.display_name,
            action=EventKind.RECEIVED,
            from_state=None,
            to_state=first_state,
            reason=f"korrigerar ärende {previous.id}" if previous else None,
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

    notice = None
    if previous is not None:
        notice = await _supersede(session, previous=previous, case=case, actor=actor, now=now)
    audit_case(
        session,
        actor=actor,
        action="intake.correction" if previous else "intake.new",
        case=case,
        detail={
            "supersedes": previous.id if previous else None,
            "routed": "physician" if physician else "triage",
        },
    )
    if physician is not None:
        await cases.notify_physician(session, case, notice=notice)
    else:
        await cases.notify_triage(session, case, notice=notice)
    if previous is not None:
        return IntakeResult(
            status=202,
            case_id=case.id,
            body={"case_id": case.id, "outcome": "correction", "supersedes": previous.id},
        )
    return IntakeResult(
        status=201, case_id=case.id, body={"case_id": case.id, "outcome": "created"}
    )


async def _lock_answer(session: AsyncSession, system: str, value: str) -> None:
    """Hold the answer identity's lock row until commit (created on first sight).

    PostgreSQL: one upsert whose no-op update takes the row lock (`ON CONFLICT DO UPDATE`
    locks the existing row, as `SELECT … FOR UPDATE` would). SQLite: nothing to do, the
    transaction already holds the database's write lock (`BEGIN IMMEDIATE`).
    """
    if whole_database_locked(session):
        return
    upsert = pg_insert(AnswerKey).values({"system": system, "value": value})
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[AnswerKey.system, AnswerKey.value],
            set_={"system": upsert.excluded.system},
        )
    )


def _new_case(answer: DxaAnswer, *, unit_id: int, key: str, now: datetime) -> Case:
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
        patient_key=key,
        patient_number=patient.identity.number,
        patient_id_kind=patient.identity.kind,
        patient_name=patient.name,
        patient_birth_date=patient.birth_date or patient.identity.birth_date,
        patient_gender=patient.gender,
        protected_identity=patient.protected,
    )


async def _supersede(
    session: AsyncSession, *, previous: Case, case: Case, actor: Actor, now: datetime
) -> str:
    """Mark the old case superseded, cancel its open tasks; returns the notice for the card."""
    had_decision = views.decision_context(previous)
    cancelled = await tasks_service.cancel_open(
        session,
        case_id=previous.id,
        reason=f"Ersatt av korrigerat svar ({views.case_ref(case.id)})",
    )
    cases.transition(
        session,
        previous,
        CaseState.SUPERSEDED,
        actor=actor,
        event=EventKind.SUPERSEDED,
        reason=f"korrigerat svar: {views.case_ref(case.id)}",
        now=now,
    )
    previous.superseded_by_id = case.id
    case.supersedes_id = previous.id
    notice = f"Korrigerat svar – ersätter {views.case_ref(previous.id)}."
    if had_decision:
        notice += (
            f" Tidigare beslut: {had_decision['label']} "
            f"({had_decision['by']}, {had_decision['at']}); ta ställning på nytt."
        )
    if cancelled and previous.unit.mva_channel:
        card = views.notice_card(
            title="Korrigerat svar",
            text=(
                f"{views.case_ref(previous.id)} har ersatts av {views.case_ref(case.id)}. "
                f"{len(cancelled)} öppna uppgifter har avbrutits; nytt beslut kommer."
            ),
            case=case,
        )
        outbox.enqueue(
            session,
            purpose="correction_notice",
            target_kind="channel",
            target=previous.unit.mva_channel,
            activity=outbox.card_activity(card, summary="Korrigerat DXA-svar"),
            unit_id=previous.unit_id,
            case_id=case.id,
        )
    return notice
