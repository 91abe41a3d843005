"""The cards of a case, rendered from `cards/templates`, and the one a viewer gets for a
case in its current state. Each function reads what its card lists (people, tasks,
history) in the caller's session and changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import queries as case_queries
from bot.cases.enums import CaseState, EventKind
from bot.cases.models import Case
from bot.directory import service as directory
from bot.directory.actor import shown_name
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.messaging.context import (
    case_context,
    common_context,
    decision_context,
    event_text,
    has_referral_draft,
    patient_context,
    physician_choices,
    task_group,
    task_row,
    user_ids,
)
from bot.messaging.format import fmt_time
from bot.tasks import queries as task_queries
from bot.tasks.models import Task
from bot.visits.models import Visit
from bot.visits.service import TREATMENTS, visit_of
from cards.render import render

__all__ = [
    "card_for_viewer",
    "checklist_card",
    "decision_card",
    "notice_card",
    "shown_rows",
    "summary_card",
    "task_card",
    "triage_card",
    "triage_view",
]


async def decision_card(
    session: AsyncSession, case: Case, *, notice: str | None = None
) -> dict[str, Any]:
    """The physician's decision card for a case awaiting decision."""
    physician = case.physician
    return render(
        "decision_card",
        **common_context(case, notice=notice),
        refresh_user_ids=user_ids([physician]),
        physician={
            "name": physician.name if physician else "",
            "id": physician.aad_object_id if physician else "",
        },
        physicians=await physician_choices(session, case.unit_id),
        default_visit_physician=physician.aad_object_id if physician else "",
    )


async def triage_card(
    session: AsyncSession,
    case: Case,
    *,
    notice: str | None = None,
    assigned: dict[str, str] | None = None,
    meant_for: Staff | None = None,
) -> dict[str, Any]:
    """The MVA channel's card for a case without a named physician; `assigned`
    (`{"to", "by", "at"}`) once someone took it. With `meant_for`, the physician whose
    decision card went to the channel since they have no chat with the bot: the card says
    so and offers "Fördela om" to another physician; the unit's physicians get their
    decision card on view (`refresh`, view ``rerouted``)."""
    mva = await directory.unit_staff(session, unit_id=case.unit_id, role=Role.MVA)
    physicians = await directory.unit_staff(session, unit_id=case.unit_id, role=Role.PHYSICIAN)
    ctx = common_context(case, notice=notice)
    del ctx["measurements"]
    return render(
        "triage_card",
        **ctx,
        refresh_user_ids=user_ids(physicians if meant_for else [*mva, *physicians]),
        physicians=[
            {"id": p.aad_object_id, "name": p.name}
            for p in physicians
            if meant_for is None or p.id != meant_for.id
        ],
        assigned=assigned,
        meant_for=meant_for.name if meant_for else None,
    )


async def summary_card(
    session: AsyncSession,
    case: Case,
    *,
    now: datetime,
    notice: str | None = None,
    tasks: Sequence[Task] | None = None,
) -> dict[str, Any]:
    """The read-only card: decision, tasks and history. `tasks`: the case's tasks when
    the caller holds them all (in order), else they are read."""
    if tasks is None:
        tasks = await task_queries.of_case(session, case_id=case.id)
    history = await case_queries.history(session, case_id=case.id)
    mva = await directory.unit_staff(session, unit_id=case.unit_id, role=Role.MVA)
    return render(
        "case_summary_card",
        **common_context(case, notice=notice),
        refresh_user_ids=user_ids([case.physician, *mva]),
        decision=decision_context(case),
        tasks=[task_row(t, now=now) for t in tasks],
        history=[{"at": fmt_time(e.at), "text": event_text(e)} for e in history],
    )


async def task_card(
    session: AsyncSession,
    case: Case,
    *,
    group: str,
    now: datetime,
    notice: str | None = None,
    tasks: Sequence[Task] | None = None,
) -> dict[str, Any]:
    """The card with one assignee group's tasks of a case (the MVA's, or one physician's;
    see `task_group`). `tasks`: that group's tasks when the caller holds them all (in
    order), else read."""
    if tasks is None:
        tasks = [
            t
            for t in await task_queries.of_case(session, case_id=case.id)
            if task_group(t) == group
        ]
    if group == Role.MVA:
        viewers: list[Staff | None] = list(
            await directory.unit_staff(session, unit_id=case.unit_id, role=Role.MVA)
        )
    else:
        viewers = [t.assignee for t in tasks[:1]]
    decision = decision_context(case)
    label = decision["label"] if decision else "beslut"
    drafts = any(has_referral_draft(t) for t in tasks)
    visit = await visit_of(session, case_id=case.id) if drafts else None
    return render(
        "task_card",
        case=case_context(case),
        patient=patient_context(case),
        title=f"Uppgifter efter beslut: {label}",
        decision=decision,
        tasks=[task_row(t, now=now, case=case, visit=visit) for t in tasks],
        notice=notice,
        refresh_user_ids=user_ids(viewers),
    )


def checklist_card(case: Case, visit: Visit) -> dict[str, Any]:
    """The visit checklist for the physician of a booked call-in visit (verb
    `visit.record`)."""
    physician = visit.physician
    return render(
        "visit_card",
        case=case_context(case),
        patient=patient_context(case),
        visit={"booked_at": fmt_time(visit.booked_at)},
        treatments=[{"value": k, "title": v} for k, v in TREATMENTS.items()],
        refresh_user_ids=[physician.teams_user_id]
        if physician and physician.teams_user_id
        else [],
    )


def notice_card(
    *, title: str, text: str, case: Case | None = None, facts: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """A titled notice, about `case` when given, with optional `facts`."""
    ctx_case = case_context(case) if case is not None else None
    return render("notice_card", title=title, text=text, case=ctx_case, facts=facts or [])


def shown_rows(card: dict[str, Any]) -> int:
    """How many list rows (one Container each) a rendered list card shows: fewer than its
    context holds when the list was capped or shrunk by the compact fallback of `render`."""
    return sum(1 for item in card["body"] if item.get("type") == "Container")


async def triage_view(
    session: AsyncSession, case: Case, *, now: datetime, notice: str | None = None
) -> dict[str, Any]:
    """The triage card as the MVA channel sees it now: open, or who took it."""
    if case.state == CaseState.AWAITING_ASSIGNMENT:
        return await triage_card(session, case, notice=notice)
    taken = next(
        (
            e
            for e in await case_queries.history(session, case_id=case.id)
            if e.action == EventKind.ASSIGNED
        ),
        None,
    )
    if taken is None or case.physician is None or case.state == CaseState.SUPERSEDED:
        return await summary_card(session, case, now=now, notice=notice)
    assigned = {
        "to": case.physician.name,
        "by": shown_name(taken.actor),
        "at": fmt_time(taken.at) or "",
    }
    return await triage_card(session, case, notice=notice, assigned=assigned)


async def card_for_viewer(
    session: AsyncSession,
    case: Case,
    *,
    viewer: Staff,
    now: datetime,
    notice: str | None = None,
    view: str | None = None,
) -> dict[str, Any]:
    """The current card of a case for a person of its unit (used by `card.refresh`).

    `view` names the card being refreshed when a case has several: `triage` keeps the
    MVA channel's triage card a triage card, showing who took the case; `rerouted` is a
    physician's card that went to the MVA channel (see `triage_card`): any physician of
    the unit gets the decision card on it, the others the channel's view.
    """
    if case.state == CaseState.AWAITING_DECISION and case.physician_id == viewer.id:
        return await decision_card(session, case, notice=notice)
    if view == "rerouted" and case.state == CaseState.AWAITING_DECISION:
        if directory.has_role(viewer, case.unit_id, Role.PHYSICIAN):
            return await decision_card(session, case, notice=notice)
        return await triage_card(session, case, notice=notice, meant_for=case.physician)
    if view == "triage":
        return await triage_view(session, case, now=now, notice=notice)
    if case.state == CaseState.AWAITING_ASSIGNMENT:
        return await triage_card(session, case, notice=notice)
    return await summary_card(session, case, now=now, notice=notice)
