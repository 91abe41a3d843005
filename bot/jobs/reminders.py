"""A physician's reminder (SPEC section 5): the cases waiting for their decision more
than `REMIND_AFTER_WORKING_DAYS` working days, oldest first, and their overdue follow-ups
(planned before today, not recorded), earliest due first; one card per unit that has
either."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit import service as audit
from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.core.calendar import local_date, working_days_between
from bot.directory import service as directory
from bot.directory.enums import Role
from bot.directory.models import Staff, Unit
from bot.jobs.shown import ACTOR, audit_shown, cases_by_ids
from bot.messaging.context import patient_context
from bot.messaging.followup_rows import (
    followup_row,
    late_count,
    other_rows,
    shown_followups,
)
from bot.messaging.format import case_ref
from bot.messaging.post import post
from bot.visits import followups
from cards.render import render

__all__ = ["REMIND_AFTER_WORKING_DAYS", "reminder_contexts", "send_reminders"]

REMIND_AFTER_WORKING_DAYS = 3


async def reminder_contexts(
    session: AsyncSession, *, physician: Staff, today: date
) -> list[tuple[Unit, dict[str, Any]]]:
    """The `reminder_card` contexts of a physician for `today`: one per unit with cases
    waiting more than `REMIND_AFTER_WORKING_DAYS` working days (oldest first) or follow-ups
    of theirs overdue (earliest due first)."""
    cases = (
        await session.scalars(
            select(Case)
            .where(Case.physician_id == physician.id, Case.state == CaseState.AWAITING_DECISION)
            .order_by(Case.received_at, Case.id)
        )
    ).all()
    by_unit: dict[int, tuple[Unit, list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for case in cases:
        received = local_date(case.received_at)
        waiting = working_days_between(received, today)
        if waiting <= REMIND_AFTER_WORKING_DAYS:
            continue
        if not directory.has_role(physician, case.unit_id, Role.PHYSICIAN):
            continue  # no longer a physician there: the card would refuse to open
        _, rows, _ = by_unit.setdefault(case.unit_id, (case.unit, [], []))
        rows.append(
            {
                "id": case.id,
                "ref": case_ref(case.id),
                "patient": patient_context(case),
                "received": received.isoformat(),
                "waiting_days": waiting,
            }
        )
    overdue = await followups.due_for(
        session, physician_id=physician.id, today=today, overdue_only=True
    )
    for follow_up, case in overdue:
        if not directory.has_role(physician, case.unit_id, Role.PHYSICIAN):
            continue  # no longer a physician there: the follow-up card would not open
        _, _, late = by_unit.setdefault(case.unit_id, (case.unit, [], []))
        late.append(followup_row(follow_up, case, today=today))
    return [
        (
            unit,
            {
                "physician": {"name": physician.name},
                "unit": {"name": unit.name},
                "day": today.isoformat(),
                "threshold_days": REMIND_AFTER_WORKING_DAYS,
                "cases": rows,
                "follow_ups": late,
            },
        )
        for unit, rows, late in by_unit.values()
    ]


async def send_reminders(session: AsyncSession, *, physician: Staff, today: date) -> list[str]:
    """Post the physician's reminder cards for `today` and audit them; one line per card."""
    lines: list[str] = []
    for unit, ctx in await reminder_contexts(session, physician=physician, today=today):
        count, late = len(ctx["cases"]), len(ctx["follow_ups"])
        card = render("reminder_card", **ctx)
        post(
            session,
            card,
            to=physician,
            summary=_summary(count, late),
            purpose="reminder",
            unit_id=unit.id,
        )
        waiting_ids = [c["id"] for c in ctx["cases"][: other_rows(card)]]
        late_ids = shown_followups(card)
        shown = await cases_by_ids(session, {*waiting_ids, *late_ids})
        audit.record(
            session,
            actor=ACTOR.audit_id,
            action="reminder.sent",
            unit_id=unit.id,
            detail={
                "day": today.isoformat(),
                "staff": physician.aad_object_id,
                "cases": count,
                "case_ids": sorted(waiting_ids),
                "follow_ups": late,
                "follow_up_case_ids": sorted(late_ids),
            },
        )
        audit_shown(
            session, shown, card="reminder", to=f"staff:{physician.aad_object_id}", today=today
        )
        lines.append(
            f"reminder to {physician.name} (staff {physician.id}) for {unit.name}: "
            f"{count} case{'s' if count != 1 else ''} waiting, "
            f"{late} follow-up{'s' if late != 1 else ''} overdue"
        )
    return lines


def _summary(waiting: int, late: int) -> str:
    """The notification line: what waits for the physician."""
    parts = [f"{waiting} svar väntar på ditt beslut"] if waiting else []
    if late:
        parts.append(late_count(late))
    return ", ".join(parts)
