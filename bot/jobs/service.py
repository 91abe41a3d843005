"""The daily digest and the decision reminders (SPEC section 5), once per day and scope.

On a working day (Europe/Stockholm), from each unit's `digest_time` (default 07:30):

- the unit's MVA channel gets a digest card: open tasks due within the next
  `LOOKAHEAD_WORKING_DAYS` working days and the overdue ones, earliest due first, and
  the number of cases awaiting assignment. An empty digest is sent too, saying so.
- each active physician of the unit gets, in their personal chat, the cases waiting for
  their decision more than `REMIND_AFTER_WORKING_DAYS` working days (received date to
  today), oldest first: one card per unit that has such cases, nothing when none has.

"Once per day" holds across processes: each scope is claimed by inserting a `JobRun`
(`digest`, `unit:{id}`, day) or (`reminder`, `staff:{id}`, day) in the same transaction
that enqueues its cards and writes its audit rows. The unique constraint on
(job, scope, day) lets one transaction win; the others get an IntegrityError, roll back
that scope only and carry on. A reminder scope is claimed even when there is nothing to
remind about, so that a case assigned later that day does not produce a second message
on top of its decision card. A scope that fails for another reason is logged, counted in
`DailyResult.failed` and left unclaimed: the next run tries it again.

`run_daily` is cheap to call often (the scheduler calls it every minute): scopes already
claimed today are skipped after one query.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit import service as audit
from bot.cases.audit import audit_case
from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.core.calendar import (
    STOCKHOLM,
    add_working_days,
    is_working_day,
    local_date,
    working_days_between,
)
from bot.db import transaction
from bot.directory import service as directory
from bot.directory.actor import Actor
from bot.directory.enums import Role
from bot.directory.models import DEFAULT_UNIT_SETTINGS, Staff, Unit
from bot.jobs.models import JobRun
from bot.messaging.context import patient_context
from bot.messaging.format import case_ref, fmt_date
from bot.messaging.post import post
from bot.tasks.enums import TaskStatus
from bot.tasks.models import Task
from cards.render import render

__all__ = [
    "ACTOR",
    "DIGEST_JOB",
    "LOOKAHEAD_WORKING_DAYS",
    "REMINDER_JOB",
    "REMIND_AFTER_WORKING_DAYS",
    "DailyResult",
    "digest_context",
    "digest_time",
    "reminder_contexts",
    "run_daily",
]

log = logging.getLogger("frakturkedjan.jobs")

DIGEST_JOB = "digest"
REMINDER_JOB = "reminder"
LOOKAHEAD_WORKING_DAYS = 3
REMIND_AFTER_WORKING_DAYS = 3
ACTOR = Actor.job("daily")
_DEFAULT_DIGEST_TIME = time.fromisoformat(str(DEFAULT_UNIT_SETTINGS["digest_time"]))
_CLOSED_CASE_STATES = (CaseState.SUPERSEDED, CaseState.CANCELLED)


@dataclass
class DailyResult:
    """What one `run_daily` call did. `sent` holds one line per card, without patient data.

    Skipped scopes were due but not sent by this call: already claimed today (by this or
    another process), a unit without an MVA channel, a physician with nothing to remind.
    """

    day: date
    working_day: bool
    units_due: int = 0  # active units whose digest time has come (all of them with force_time)
    digests_sent: int = 0
    digests_skipped: int = 0
    reminders_sent: int = 0
    reminders_skipped: int = 0
    failed: int = 0
    sent: list[str] = field(default_factory=list)


_Status = Literal["done", "taken", "failed"]


class _AlreadyClaimed(Exception):
    """Another transaction holds (job, scope, day)."""


def digest_time(unit: Unit) -> time:
    """The unit's `digest_time` setting ("HH:MM", Stockholm); 07:30 when missing or invalid."""
    value = unit.setting("digest_time")
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError:
        log.warning("invalid digest_time; using the default", extra={"unit_id": unit.id})
        return _DEFAULT_DIGEST_TIME
    return parsed.replace(tzinfo=None)


async def run_daily(
    factory: async_sessionmaker[AsyncSession], *, now: datetime, force_time: bool = False
) -> DailyResult:
    """Send today's digests and reminders that are due and not yet sent by any process.

    `now` must be timezone-aware. Nothing happens on a weekend or Swedish holiday, nor for
    a unit before its `digest_time` unless `force_time`. Idempotent for the day.
    """
    today = local_date(now)
    result = DailyResult(day=today, working_day=is_working_day(today))
    if not result.working_day:
        return result
    clock = now.astimezone(STOCKHOLM).time().replace(tzinfo=None)
    async with factory() as session:
        units = (await session.scalars(select(Unit).where(Unit.active).order_by(Unit.id))).all()
        due_units = [u for u in units if force_time or clock >= digest_time(u)]
        result.units_due = len(due_units)
        if not due_units:
            return result
        claimed = {
            (job, scope)
            for job, scope in (
                await session.execute(select(JobRun.job, JobRun.scope).where(JobRun.day == today))
            ).all()
        }
        physicians: dict[int, Staff] = {}
        for unit in due_units:
            for person in await directory.unit_staff(
                session, unit_id=unit.id, role=Role.PHYSICIAN, with_roles=True
            ):
                physicians.setdefault(person.id, person)

    for unit in due_units:
        scope = f"unit:{unit.id}"
        if (DIGEST_JOB, scope) in claimed:
            result.digests_skipped += 1
            continue
        if not unit.mva_channel:
            log.debug("unit has no MVA channel; no digest", extra={"unit_id": unit.id})
            result.digests_skipped += 1
            continue
        status, lines = await _claim_and_run(
            factory,
            job=DIGEST_JOB,
            scope=scope,
            today=today,
            now=now,
            work=functools.partial(_send_digest, unit=unit, today=today),
        )
        if status == "failed":
            result.failed += 1
        elif lines:
            result.digests_sent += len(lines)
            result.sent.extend(lines)
        else:
            result.digests_skipped += 1

    for person in physicians.values():
        scope = f"staff:{person.id}"
        if (REMINDER_JOB, scope) in claimed:
            result.reminders_skipped += 1
            continue
        status, lines = await _claim_and_run(
            factory,
            job=REMINDER_JOB,
            scope=scope,
            today=today,
            now=now,
            work=functools.partial(_send_reminders, physician=person, today=today),
        )
        if status == "failed":
            result.failed += 1
        elif lines:
            result.reminders_sent += len(lines)
            result.sent.extend(lines)
        else:  # done by another process, or nothing to remind about
            result.reminders_skipped += 1
    return result


async def _claim_and_run(
    factory: async_sessionmaker[AsyncSession],
    *,
    job: str,
    scope: str,
    today: date,
    now: datetime,
    work: Callable[[AsyncSession], Awaitable[list[str]]],
) -> tuple[_Status, list[str]]:
    """Claim (job, scope, today) and run `work` in the same transaction.

    Returns ("done", the lines `work` sent), ("taken", []) when another transaction
    holds the claim, or ("failed", []) after any other error (logged; the scope stays
    unclaimed for the next run).
    """
    where = {"job": job, "scope": scope}
    try:
        async with transaction(factory) as session:
            session.add(JobRun(job=job, scope=scope, day=today, ran_at=now))
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _AlreadyClaimed from exc
            return "done", await work(session)
    except _AlreadyClaimed:
        log.info("daily job already done by another run", extra=where)
        return "taken", []
    except Exception:
        log.exception("daily job failed; tried again on the next run", extra=where)
        return "failed", []


async def digest_context(session: AsyncSession, *, unit: Unit, today: date) -> dict[str, Any]:
    """The `digest_card` context of a unit for `today` (each task row also names its
    `case_id`, for the audit)."""
    horizon = add_working_days(today, LOOKAHEAD_WORKING_DAYS)
    rows = (
        await session.execute(
            select(Task, Case)
            .join(Case, Case.id == Task.case_id)
            .where(
                Task.unit_id == unit.id,
                Task.status == TaskStatus.OPEN,
                Task.due <= horizon,
                Case.state.not_in(_CLOSED_CASE_STATES),
            )
            .order_by(Task.due, Task.case_id, Task.position, Task.id)
        )
    ).all()
    awaiting = await session.scalar(
        select(func.count(Case.id)).where(
            Case.unit_id == unit.id, Case.state == CaseState.AWAITING_ASSIGNMENT
        )
    )
    tasks = [
        {
            "id": task.id,
            "case_id": case.id,
            "case_ref": case_ref(case.id),
            "patient": patient_context(case),
            "title": task.title,
            "kind": task.kind,
            "due": fmt_date(task.due) or "",
            "overdue": task.due < today,
            "assignee": None
            if task.assignee_role == Role.MVA
            else (task.assignee.name if task.assignee else "Läkare"),
        }
        for task, case in rows
    ]
    overdue = sum(1 for t in tasks if t["overdue"])
    return {
        "unit": {"name": unit.name},
        "day": today.isoformat(),
        "horizon": horizon.isoformat(),
        "counts": {
            "overdue": overdue,
            "due": len(tasks) - overdue,
            "awaiting_assignment": int(awaiting or 0),
        },
        "tasks": tasks,
    }


async def _send_digest(session: AsyncSession, *, unit: Unit, today: date) -> list[str]:
    assert unit.mva_channel is not None
    ctx = await digest_context(session, unit=unit, today=today)
    counts = ctx["counts"]
    card = render("digest_card", **ctx)
    summary = f"Dagens uppgifter: {counts['overdue']} försenade, {counts['due']} förfaller snart"
    post(session, card, to=unit, summary=summary, purpose="digest", unit_id=unit.id)
    shown = await _cases(session, {t["case_id"] for t in ctx["tasks"][: _shown_rows(card)]})
    audit.record(
        session,
        actor=ACTOR.audit_id,
        action="digest.sent",
        unit_id=unit.id,
        detail={"day": today.isoformat(), **counts, "case_ids": [c.id for c in shown]},
    )
    _audit_shown(session, shown, card="digest", to=f"channel:unit:{unit.id}", today=today)
    return [
        f"digest to {unit.name} (unit {unit.id}): {counts['overdue']} overdue, "
        f"{counts['due']} due by {ctx['horizon']}, "
        f"{counts['awaiting_assignment']} awaiting assignment"
    ]


async def reminder_contexts(
    session: AsyncSession, *, physician: Staff, today: date
) -> list[tuple[Unit, dict[str, Any]]]:
    """The `reminder_card` contexts of a physician for `today`: one per unit with cases
    waiting more than `REMIND_AFTER_WORKING_DAYS` working days, oldest first."""
    cases = (
        await session.scalars(
            select(Case)
            .where(Case.physician_id == physician.id, Case.state == CaseState.AWAITING_DECISION)
            .order_by(Case.received_at, Case.id)
        )
    ).all()
    by_unit: dict[int, tuple[Unit, list[dict[str, Any]]]] = {}
    for case in cases:
        received = local_date(case.received_at)
        waiting = working_days_between(received, today)
        if waiting <= REMIND_AFTER_WORKING_DAYS:
            continue
        if not directory.has_role(physician, case.unit_id, Role.PHYSICIAN):
            continue  # no longer a physician there: the card would refuse to open
        _, rows = by_unit.setdefault(case.unit_id, (case.unit, []))
        rows.append(
            {
                "id": case.id,
                "ref": case_ref(case.id),
                "patient": patient_context(case),
                "received": received.isoformat(),
                "waiting_days": waiting,
            }
        )
    return [
        (
            unit,
            {
                "physician": {"name": physician.name},
                "unit": {"name": unit.name},
                "day": today.isoformat(),
                "threshold_days": REMIND_AFTER_WORKING_DAYS,
                "cases": rows,
            },
        )
        for unit, rows in by_unit.values()
    ]


async def _send_reminders(session: AsyncSession, *, physician: Staff, today: date) -> list[str]:
    lines: list[str] = []
    for unit, ctx in await reminder_contexts(session, physician=physician, today=today):
        count = len(ctx["cases"])
        card = render("reminder_card", **ctx)
        post(
            session,
            card,
            to=physician,
            summary=f"{count} svar väntar på ditt beslut",
            purpose="reminder",
            unit_id=unit.id,
        )
        shown = await _cases(session, {c["id"] for c in ctx["cases"][: _shown_rows(card)]})
        audit.record(
            session,
            actor=ACTOR.audit_id,
            action="reminder.sent",
            unit_id=unit.id,
            detail={
                "day": today.isoformat(),
                "staff": physician.aad_object_id,
                "cases": count,
                "case_ids": [c.id for c in shown],
            },
        )
        _audit_shown(
            session, shown, card="reminder", to=f"staff:{physician.aad_object_id}", today=today
        )
        lines.append(
            f"reminder to {physician.name} (staff {physician.id}) for {unit.name}: "
            f"{count} case{'s' if count != 1 else ''} waiting"
        )
    return lines


def _shown_rows(card: dict[str, Any]) -> int:
    """How many list rows (one Container each) the rendered card shows: fewer than the
    context holds when the list was capped, or shrunk by the compact fallback of `render`."""
    return sum(1 for item in card["body"] if item.get("type") == "Container")


async def _cases(session: AsyncSession, ids: set[int]) -> Sequence[Case]:
    if not ids:
        return []
    return (await session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.id))).all()


def _audit_shown(
    session: AsyncSession, cases: Sequence[Case], *, card: str, to: str, today: date
) -> None:
    """One `card.shown` row per case on the card, with the patient pseudonym, so that the
    per-patient audit export lists the digest and the reminder too."""
    for case in cases:
        audit_case(
            session,
            actor=ACTOR,
            action="card.shown",
            case=case,
            detail={"card": card, "to": to, "day": today.isoformat()},
        )
