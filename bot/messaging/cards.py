"""The cards of a case, rendered from `cards/templates`, and the one a viewer gets for a
case in its current state. Each function reads what its card lists (people, tasks,
history) in the caller's session and changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import queries as case_queries
from bot.cases import service as case_service
from bot.cases.enums import DECISION_LABELS, CaseState, DecisionKind, EventKind
from bot.cases.models import Case
from bot.core.calendar import local_date
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
from bot.messaging.earlier import earlier_context
from bot.messaging.format import fmt_time
from bot.tasks import queries as task_queries
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import Task
from bot.visits import followups
from bot.visits import service as visits
from bot.visits.models import FollowUp, Visit
from bot.visits.service import TREATMENTS, visit_of
from cards.render import render

__all__ = [
    "CHANNEL",
    "card_for_viewer",
    "checklist_card",
    "confirm_decision_card",
    "decision_card",
    "followup_card",
    "notice_card",
    "summary_card",
    "task_card",
    "triage_card",
    "triage_view",
]


CHANNEL = "channel"
"""The `view` of a summary card posted to a channel (its refresh data says so)."""


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
        earlier=await earlier_context(session, case),
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
    undo_for: Staff | None = None,
    view: str | None = None,
) -> dict[str, Any]:
    """The read-only card: decision, tasks and history. `tasks`: the case's tasks when
    the caller holds them all (in order), else they are read. `undo_for`: the person the
    card is drawn for, who gets "Ångra beslut" when they may undo the decision now
    (`cases.service.undo_refusal`); never on a card everyone sees. `view` goes into the
    refresh data (``channel``: a card of the MVA channel, whose refresh offers no undo)."""
    if tasks is None:
        tasks = await task_queries.of_case(session, case_id=case.id)
    history = await case_queries.taken_history(session, case_id=case.id)
    mva = await directory.unit_staff(session, unit_id=case.unit_id, role=Role.MVA)
    decider = case.decision.by if case.decision is not None else None
    return render(
        "case_summary_card",
        **common_context(case, notice=notice),
        refresh_user_ids=user_ids([case.physician, decider, *mva]),
        refresh_view=view,
        undo=_undo(case, tasks, person=undo_for, now=now),
        decision=decision_context(case),
        tasks=[task_row(t, now=now) for t in tasks],
        history=[{"at": fmt_time(e.at), "text": event_text(e)} for e in history],
    )


def _undo(
    case: Case, tasks: Sequence[Task], *, person: Staff | None, now: datetime
) -> dict[str, Any] | None:
    """The summary card's "Ångra beslut" for `person`, with until when, or None."""
    if person is None or case.decision is None:
        return None
    done = next((t.title for t in tasks if t.status == TaskStatus.DONE), None)
    if case_service.undo_refusal(case, person=person, done_task=done, now=now) is not None:
        return None
    return {"until": fmt_time(case.decision.at + case_service.UNDO_WINDOW)}


def confirm_decision_card(
    case: Case, *, decision: DecisionKind, reasons: Sequence[str]
) -> dict[str, Any]:
    """The card asking the physician to confirm a decision that goes against the answer
    (`reasons`, one line each): "Bekräfta" sends the decision again, confirmed; "Tillbaka"
    shows the decision card. Drawn for the clicker only: it refreshes on request only."""
    return render(
        "confirm_decision_card",
        **common_context(case),
        refresh_user_ids=[],
        decision={"value": decision.value, "label": DECISION_LABELS[decision]},
        reasons=list(reasons),
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


async def followup_card(
    session: AsyncSession, case: Case, follow_up: FollowUp, *, now: datetime
) -> dict[str, Any]:
    """The follow-up card (verb `followup.record`) for the open `follow_up` of a case in
    follow-up: the drug started so far as its default answer, and as the next follow-up
    the date 52 weeks after the decision when treatment was started."""
    visit = await visits.visit_of(session, case_id=case.id)
    earlier = [f for f in await followups.of_case(session, case_id=case.id) if f.recorded_at]
    current = followups.treatment_started_before(visit, earlier)
    suggested = followups.suggested_next(case, treated=current is not None, today=local_date(now))
    case_tasks = await task_queries.of_case(session, case_id=case.id)
    physio = next((t for t in case_tasks if t.kind == TaskKind.PHYSIO), None)
    physician = follow_up.physician or case.physician
    return render(
        "followup_card",
        case=case_context(case),
        patient=patient_context(case),
        follow_up={
            "number": follow_up.number,
            "due": follow_up.due.isoformat(),
            "visit": _visit_line(visit),
        },
        treatments=[{"value": k, "title": v} for k, v in TREATMENTS.items()],
        current_treatment=current,
        stopped_reasons=[{"value": k, "title": v} for k, v in followups.STOPPED_LABELS.items()],
        suggested_next=suggested.isoformat() if suggested else None,
        physio={"referral": _referral_line(physio)} if physio is not None else None,
        refresh_user_ids=user_ids([physician]),
    )


async def _followup_for(
    session: AsyncSession, case: Case, *, viewer: Staff, now: datetime
) -> FollowUp | None:
    """The case's open follow-up when it is due (or its card went out) and `viewer` is
    one of its physicians; else None."""
    if case.state != CaseState.FOLLOW_UP:
        return None
    follow_up = await followups.open_follow_up(session, case_id=case.id)
    if follow_up is None or viewer.id not in (follow_up.physician_id, case.physician_id):
        return None
    due = follow_up.card_sent_at is not None or follow_up.due <= local_date(now)
    return follow_up if due else None


def _visit_line(visit: Visit | None) -> str | None:
    if visit is None or visit.recorded_at is None:
        return None
    treatment = TREATMENTS.get(visit.treatment_drug or "none", "")
    return f"{local_date(visit.recorded_at).isoformat()} · {treatment}"


def _referral_line(task: Task) -> str:
    if task.referral_on is None:
        return "ej skickad ännu"
    clinic = f" till {task.referral_clinic}" if task.referral_clinic else ""
    return f"skickad {task.referral_on.isoformat()}{clinic}"


def notice_card(
    *, title: str, text: str, case: Case | None = None, facts: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """A titled notice, about `case` when given, with optional `facts`."""
    ctx_case = case_context(case) if case is not None else None
    return render("notice_card", title=title, text=text, case=ctx_case, facts=facts or [])


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
        return await summary_card(session, case, now=now, notice=notice, view=CHANNEL)
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
    the unit gets the decision card on it, the others the channel's view; `followup`
    gives the case's physicians the follow-up card once it is due; `channel` is the
    summary a channel shows. Only a summary drawn for no such view (the viewer's own
    chat, or the card they clicked) offers them "Ångra beslut".
    """
    if case.state == CaseState.AWAITING_DECISION and case.physician_id == viewer.id:
        return await decision_card(session, case, notice=notice)
    if view == "rerouted" and case.state == CaseState.AWAITING_DECISION:
        if directory.has_role(viewer, case.unit_id, Role.PHYSICIAN):
            return await decision_card(session, case, notice=notice)
        return await triage_card(session, case, notice=notice, meant_for=case.physician)
    if view == "followup":
        follow_up = await _followup_for(session, case, viewer=viewer, now=now)
        if follow_up is not None:
            return await followup_card(session, case, follow_up, now=now)
    if view == "triage":
        return await triage_view(session, case, now=now, notice=notice)
    if case.state == CaseState.AWAITING_ASSIGNMENT:
        return await triage_card(session, case, notice=notice)
    return await summary_card(
        session, case, now=now, notice=notice, undo_for=viewer if view is None else None, view=view
    )
