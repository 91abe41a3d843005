"""The daily digest and the decision reminders (SPEC section 5), once per day and scope.

On a working day (Europe/Stockholm), from each unit's `digest_time` (default 07:30):

- the unit's MVA channel gets a digest card: open tasks due within the next
  `digest.LOOKAHEAD_WORKING_DAYS` working days and the overdue ones, earliest due first, the
  number of cases awaiting assignment and the unit's overdue follow-ups. An empty digest is
  sent too, saying so.
- each active physician of the unit gets, in their personal chat, the cases waiting for
  their decision more than `reminders.REMIND_AFTER_WORKING_DAYS` working days (received date to
  today), oldest first, and their overdue follow-ups (planned before today, not recorded):
  one card per unit that has either, nothing when none has.
- each follow-up due by today gets its card, once (`bot.jobs.followups`; marked sent on the
  follow-up row, not claimed per day, so a follow-up planned later in the day still goes).

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.calendar import (
    STOCKHOLM,
    is_working_day,
    local_date,
)
from bot.db import transaction
from bot.directory import service as directory
from bot.directory.enums import Role
from bot.directory.models import DEFAULT_UNIT_SETTINGS, Staff, Unit
from bot.jobs import digest, reminders
from bot.jobs.followups import send_due_followups
from bot.jobs.models import JobRun

__all__ = ["DIGEST_JOB", "REMINDER_JOB", "DailyResult", "digest_time", "run_daily"]

log = logging.getLogger("frakturkedjan.jobs")

DIGEST_JOB = "digest"
REMINDER_JOB = "reminder"
_DEFAULT_DIGEST_TIME = time.fromisoformat(str(DEFAULT_UNIT_SETTINGS["digest_time"]))


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
    followups_sent: int = 0
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
            work=functools.partial(digest.send_digest, unit=unit, today=today),
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
            work=functools.partial(reminders.send_reminders, physician=person, today=today),
        )
        if status == "failed":
            result.failed += 1
        elif lines:
            result.reminders_sent += len(lines)
            result.sent.extend(lines)
        else:  # done by another process, or nothing to remind about
            result.reminders_skipped += 1

    try:
        lines = await send_due_followups(
            factory, unit_ids=[u.id for u in due_units], today=today, now=now
        )
    except Exception:
        log.exception("follow-up cards failed; tried again on the next run")
        result.failed += 1
    else:
        result.followups_sent += len(lines)
        result.sent.extend(lines)
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
