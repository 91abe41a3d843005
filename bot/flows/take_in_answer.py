"""Taking in a DXA answer (SPEC section 3): one FHIR bundle in, one case (or a clear
refusal) out. Shared by `POST /api/dxa-answers` and `frakturkedjan ingest`.

A new answer opens a case: the decision card goes to the named physician (an active
physician of the unit), else the triage card to the unit's MVA channel. An exact
duplicate changes nothing. A correction (same identity, new content) supersedes the
current case, cancels its open tasks (telling the MVA channel) and goes to the same
physician with a notice. The whole change is one transaction; a refusal changes nothing
but the rejected-message log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.cases import answers
from bot.cases.audit import write_audit
from bot.cases.models import Case
from bot.core.calendar import local_date
from bot.db import transaction
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.intake import limits
from bot.intake import service as intake
from bot.intake.fhir import DxaAnswer, Problem
from bot.logs import Event, log_event
from bot.messaging import earlier, notify, views
from bot.messaging.context import decision_context
from bot.messaging.format import case_ref
from bot.tasks import service as tasks

__all__ = ["IntakeResult", "ingest", "reject"]


@dataclass
class IntakeResult:
    """HTTP-shaped result: `status` 200/201/202 or 4xx, and the JSON body. For a taken-in
    answer, its case's `unit_id` and whom its card went to (`routed`: physician, mva)."""

    status: int
    body: dict[str, Any]
    case_id: int | None = None
    problems: list[Problem] = field(default_factory=list)
    unit_id: int | None = None
    routed: str | None = None


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
    """Validate and store one DXA answer from `sender` (the name of its token); the whole
    change is one transaction. `secret` keys the patient pseudonym.

    Answers: 201 a new case, 200 an exact duplicate, 202 a correction. Refusals: 413 over
    `max_body_bytes` (the setting of that name), 400 when the body is not UTF-8 JSON, 422
    for anything else wrong (an unknown unit too), with every problem by JSON path.
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
        answer = intake.read_answer(body, today=local_date(now), max_body_bytes=max_body_bytes)
    except intake.Unacceptable as refused:
        return await refuse(refused.status, refused.error, refused.problems)

    try:
        async with transaction(factory) as session:
            result = await _store(
                session, answer=answer, body=body, sender=sender, secret=secret, now=now
            )
    except _UnknownUnit:  # rolled back: the lock row of its identity is not kept either
        problem = Problem(
            "$.entry[?(@.resource.resourceType=='Organization')].identifier",
            f"unknown care unit HSA-id {answer.unit_hsa_id}",
        )
        return await refuse(422, "invalid DXA answer bundle", [problem])
    log_event(
        Event.ANSWER_RECEIVED,
        case_id=result.case_id,
        unit_id=result.unit_id,
        outcome=result.body["outcome"],
        routed=result.routed,
        supersedes=result.body.get("supersedes"),
    )
    return result


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
    """Keep an invalid message in the rejected-message log (`intake.keep_rejected`) and
    build the error answer: `{"error", "problems": [{"path", "message"}]}`."""
    log_event(Event.ANSWER_REJECTED, status=status, problems=len(problems), channel=channel)
    await intake.keep_rejected(
        factory,
        status=status,
        problems=problems,
        channel=channel,
        sender=sender,
        content_type=content_type,
        body=body,
        size=size,
    )
    return IntakeResult(
        status=status,
        body={
            "error": error,
            "problems": [{"path": p.path, "message": p.message} for p in problems],
        },
        problems=problems,
    )


class _UnknownUnit(Exception):
    """The answer names no active care unit: refused, the transaction rolled back."""


async def _store(
    session: AsyncSession,
    *,
    answer: DxaAnswer,
    body: bytes,
    sender: str,
    secret: str,
    now: datetime,
) -> IntakeResult:
    await intake.lock_answer(session, answer.report_system, answer.report_value)
    key = audit.patient_key(secret, answer.patient.identity.number)
    # the patient's earlier cases ("Tidigare i frakturkedjan") come with the unit: the
    # new case is not stored yet, and the query leaves it out anyway
    found = await answers.current_answer(
        session,
        unit_hsa=answer.unit_hsa_id,
        system=answer.report_system,
        value=answer.report_value,
        joined=earlier.EARLIER_ROWS,
        order=earlier.EARLIER_ORDER,
        params={"patient_key": key, "case_id": 0, "received": now},
    )
    if found is None:
        raise _UnknownUnit
    unit, current, physicians, earlier_rows = found
    # the unit's physicians came with the unit: the cards list the same people
    directory.remember_unit_staff(session, unit_id=unit.id, role=Role.PHYSICIAN, staff=physicians)
    if current is None:  # a correction reads them after superseding the case it replaces
        earlier.remember_earlier(
            session,
            patient_key=key,
            received=now,
            rows=[
                earlier.EarlierRow(**{f: r[f] for f in earlier.EarlierRow._fields})
                for r in earlier_rows
            ],
        )
    actor = Actor.intake(sender)
    if current is not None and current.content_hash == answer.content_hash:
        await audit.write(
            session,
            actor=actor.audit_id,
            action="intake.duplicate",
            unit_id=current.unit_id,
            case_id=current.id,
            patient=key,
        )
        return IntakeResult(
            status=200,
            case_id=current.id,
            body={"case_id": current.id, "outcome": "duplicate"},
            unit_id=current.unit_id,
        )
    previous = None
    if current is not None:  # a correction: the case it replaces, with what its cards show
        previous = await answers.current_for(
            session, system=answer.report_system, value=answer.report_value
        )
        assert previous is not None and previous.id == current.id  # under the lock

    physician = _physician(answer, physicians, previous=previous)
    detail = {
        "supersedes": previous.id if previous else None,
        "routed": "physician" if physician else "triage",
    }
    case = await answers.open_case(
        session,
        answer,
        unit=unit,
        patient_key=key,
        physician=physician,
        body=body,
        sender=sender,
        corrects=previous,
        now=now,
        # a new answer's audit row goes in with the case; a correction's after the
        # superseding, as before
        audit=answers.OpeningAudit(actor, "intake.new", detail) if previous is None else None,
    )
    notice = None
    if previous is not None:
        notice = await _supersede(session, previous=previous, case=case, actor=actor, now=now)
        await write_audit(
            session, actor=actor, action="intake.correction", case=case, detail=detail
        )
    if case.physician is not None:
        await notify.post_decision_card(session, case, notice=notice)
    else:
        await notify.post_triage_card(session, case, notice=notice)
    routed = "physician" if case.physician is not None else "mva"
    if previous is not None:
        return IntakeResult(
            status=202,
            case_id=case.id,
            body={"case_id": case.id, "outcome": "correction", "supersedes": previous.id},
            unit_id=case.unit_id,
            routed=routed,
        )
    return IntakeResult(
        status=201,
        case_id=case.id,
        body={"case_id": case.id, "outcome": "created"},
        unit_id=case.unit_id,
        routed=routed,
    )


def _physician(
    answer: DxaAnswer, physicians: Sequence[Staff], *, previous: Case | None
) -> Staff | None:
    """Who decides: the corrected case's physician while active, else the named
    practitioner when an active physician of the unit (`physicians`), else nobody
    (triage)."""
    if previous is not None and previous.physician is not None and previous.physician.active:
        return previous.physician
    if not answer.practitioner_hsa_id:
        return None
    return next((p for p in physicians if p.hsa_id == answer.practitioner_hsa_id), None)


async def _supersede(
    session: AsyncSession, *, previous: Case, case: Case, actor: Actor, now: datetime
) -> str:
    """Supersede `previous` by `case`, cancel its open tasks and tell its MVA channel;
    returns the notice for the new case's card."""
    had_decision = decision_context(previous)
    cancelled = await tasks.cancel_open(
        session,
        case_id=previous.id,
        reason=f"Ersatt av korrigerat svar ({case_ref(case.id)})",
    )
    answers.supersede(
        session,
        previous,
        by=case,
        reason=f"korrigerat svar: {case_ref(case.id)}",
        actor=actor,
        now=now,
    )
    await views.keep_current(session, previous)
    notice = f"Korrigerat svar – ersätter {case_ref(previous.id)}."
    if had_decision:
        notice += (
            f" Tidigare beslut: {had_decision['label']} "
            f"({had_decision['by']}, {had_decision['at']}); ta ställning på nytt."
        )
    if cancelled:
        notify.post_correction_notice(
            session, previous=previous, case=case, cancelled=len(cancelled)
        )
    return notice
