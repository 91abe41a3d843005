"""Card contexts built from cases and tasks, and the choice of card per viewer and state.

Everything formatted for people happens here: dates in Europe/Stockholm, the patient line
by the unit's `card_identity` setting, protected identities hidden. The templates in
`cards/` only lay it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.clinical import FRACTURE_LABELS, format_score, fracture_group, suggest
from bot.cases.enums import DECISION_LABELS, EVENT_LABELS, STATE_LABELS, CaseState, EventKind
from bot.cases.models import Case, CaseEvent
from bot.core.calendar import STOCKHOLM, local_date
from bot.core.identifiers import format_personal_number
from bot.core.measurements import Measurement
from bot.directory import service as directory
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.letters.render import LETTERS, letter_for_task
from bot.tasks.enums import TASK_STATUS_LABELS, TaskStatus
from bot.tasks.models import Task
from cards.render import render

TREAT_TEXT = "Höft- eller kotfraktur: behandling bör övervägas oavsett T-score."
PROTECTED = "Skyddad identitet"
MAX_REFRESH_USERS = 60


def fmt_time(at: datetime | None) -> str | None:
    """YYYY-MM-DD HH:MM in Europe/Stockholm."""
    return at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M") if at else None


def fmt_date(day: date | None) -> str | None:
    return day.isoformat() if day else None


def case_ref(case_id: int) -> str:
    return f"Ärende {case_id}"


def patient_display(case: Case) -> str:
    """The patient line for cards, by the unit setting; protected identities never shown."""
    if case.protected_identity:
        return PROTECTED
    mode = case.unit.setting("card_identity")
    if mode == "reference" or case.patient_number is None:
        return case_ref(case.id)
    number = format_personal_number(case.patient_number)
    if mode == "masked":
        initials = " ".join(f"{part[0]}." for part in (case.patient_name or "").split() if part)
        born = fmt_date(case.patient_birth_date) or number[:8]
        return f"{initials or '?'}, född {born}, {number[:9]}****"
    return f"{case.patient_name or 'Namn saknas'}, {number}"


def _measurements(case: Case) -> list[Measurement]:
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


def _bmd(value: float | None) -> str | None:
    return f"{value:.3f}".replace(".", ",") if value is not None else None


def common_context(case: Case, *, notice: str | None = None) -> dict[str, Any]:
    measurements = _measurements(case)
    suggestion = suggest(
        measurements=measurements,
        birth_date=case.patient_birth_date,
        scan_date=case.scan_date,
        fracture_code=case.fracture_code,
    )
    group = fracture_group(case.fracture_code)
    return {
        "case": {
            "id": case.id,
            "version": case.version,
            "ref": case_ref(case.id),
            "state": case.state,
            "state_label": STATE_LABELS[case.state],
        },
        "patient": {"display": patient_display(case), "protected": case.protected_identity},
        "answer": {
            "scan_date": fmt_date(case.scan_date),
            "received": fmt_time(case.received_at),
            "fracture_label": FRACTURE_LABELS[group] if group else None,
            "fracture_text": case.fracture_text,
            "fracture_code": case.fracture_code,
            "conclusion": case.conclusion,
            "performer": None,
        },
        "measurements": [
            {
                "site_label": m.site_label,
                "bmd": _bmd(m.bmd),
                "t": format_score(m.t_score) if m.t_score is not None else None,
                "z": format_score(m.z_score) if m.z_score is not None else None,
            }
            for m in measurements
        ],
        "suggestion": {
            "text": suggestion.text,
            "category_label": suggestion.category_label,
            "use_z": suggestion.use_z,
            "treat_regardless": suggestion.treat_regardless,
            "treat_text": TREAT_TEXT if suggestion.treat_regardless else None,
        },
        "notice": notice,
    }


def _user_ids(people: Sequence[Staff | None]) -> list[str]:
    ids: list[str] = []
    for person in people:
        if person is not None and person.teams_user_id and person.teams_user_id not in ids:
            ids.append(person.teams_user_id)
    return ids[:MAX_REFRESH_USERS]


async def _physician_choices(session: AsyncSession, unit_id: int) -> list[dict[str, str]]:
    return [
        {"id": p.aad_object_id, "name": p.name}
        for p in await directory.unit_staff(session, unit_id=unit_id, role=Role.PHYSICIAN)
    ]


async def decision_card(
    session: AsyncSession, case: Case, *, notice: str | None = None
) -> dict[str, Any]:
    """The physician's decision card for a case awaiting decision."""
    physician = case.physician
    return render(
        "decision_card",
        **common_context(case, notice=notice),
        refresh_user_ids=_user_ids([physician]),
        physician={
            "name": physician.name if physician else "",
            "id": physician.aad_object_id if physician else "",
        },
        physicians=await _physician_choices(session, case.unit_id),
        default_visit_physician=physician.aad_object_id if physician else "",
    )


async def triage_card(
    session: AsyncSession,
    case: Case,
    *,
    notice: str | None = None,
    assigned: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The MVA channel's card for a case without a named physician."""
    mva = await directory.unit_staff(session, unit_id=case.unit_id, role=Role.MVA)
    physicians = await directory.unit_staff(session, unit_id=case.unit_id, role=Role.PHYSICIAN)
    ctx = common_context(case, notice=notice)
    del ctx["measurements"]
    return render(
        "triage_card",
        **ctx,
        refresh_user_ids=_user_ids([*mva, *physicians]),
        physicians=[{"id": p.aad_object_id, "name": p.name} for p in physicians],
        assigned=assigned,
    )


async def case_tasks(session: AsyncSession, case_id: int) -> Sequence[Task]:
    rows = await session.scalars(
        select(Task).where(Task.case_id == case_id).order_by(Task.position, Task.id)
    )
    return rows.all()


async def case_history(session: AsyncSession, case_id: int) -> Sequence[CaseEvent]:
    rows = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    )
    return rows.all()


def decision_context(case: Case) -> dict[str, Any] | None:
    decision = case.decision
    if decision is None:
        return None
    return {
        "label": _label(DECISION_LABELS, decision.kind),
        "by": decision.by.name,
        "at": fmt_time(decision.at),
        "note": decision.note,
        "visit_physician": decision.visit_physician.name if decision.visit_physician else None,
    }


def _letter(task: Task, case: Case | None, today: date) -> str | None:
    if case is None or task.status != TaskStatus.OPEN or task.kind not in LETTERS:
        return None
    decision = case.decision
    return letter_for_task(
        task.kind,
        patient_name=case.patient_name,
        protected=case.protected_identity,
        scan_date=case.scan_date,
        physician=decision.by.name if decision else "",
        unit=case.unit.name,
        months=int(case.unit.setting("call_in_months")),
        today=today,
    )


def _task_row(task: Task, *, now: datetime, case: Case | None = None) -> dict[str, Any]:
    today = local_date(now)
    booked = f" Bokad tid: {fmt_time(task.booked_at)}." if task.booked_at else ""
    return {
        "id": task.id,
        "kind": task.kind,
        "letter": _letter(task, case, today),
        "title": task.title,
        "description": task.description,
        "assignee": "MVA"
        if task.assignee_role == Role.MVA
        else (task.assignee.name if task.assignee else "Läkare"),
        "due": fmt_date(task.due),
        "overdue": task.status == TaskStatus.OPEN and task.due < today,
        "status": task.status,
        "status_label": TASK_STATUS_LABELS[task.status],
        "done": task.status == TaskStatus.DONE,
        "done_by": task.done_by.name if task.done_by else None,
        "done_at": fmt_time(task.done_at),
        "can_reopen": task.status == TaskStatus.DONE
        and task.done_at is not None
        and (now - task.done_at).total_seconds() < 24 * 3600,
        "note": ((task.note or "") + booked).strip() or None,
    }


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
        tasks = await case_tasks(session, case.id)
    history = await case_history(session, case.id)
    mva = await directory.unit_staff(session, unit_id=case.unit_id, role=Role.MVA)
    return render(
        "case_summary_card",
        **common_context(case, notice=notice),
        refresh_user_ids=_user_ids([case.physician, *mva]),
        decision=decision_context(case),
        tasks=[_task_row(t, now=now) for t in tasks],
        history=[{"at": fmt_time(e.at), "text": event_text(e)} for e in history],
    )


def _label(labels: Mapping[str, str], code: str) -> str:
    """The Swedish label of a stored code; the code itself when it has none."""
    return labels.get(code, code)


def event_text(event: CaseEvent) -> str:
    """One history line: what happened, the state it led to, why, and who."""
    text = _label(EVENT_LABELS, event.action)
    if event.to_state and event.to_state != event.from_state:
        text = f"{text}: {_label(STATE_LABELS, event.to_state)}"
    if event.reason:
        text = f"{text} ({event.reason})"
    return f"{text} – {event.actor}"


def task_group(task: Task) -> str:
    return Role.MVA if task.assignee_role == Role.MVA else f"staff:{task.assignee_id}"


async def task_card(
    session: AsyncSession,
    case: Case,
    *,
    group: str,
    now: datetime,
    notice: str | None = None,
    tasks: Sequence[Task] | None = None,
) -> dict[str, Any]:
    """The card with one assignee group's tasks of a case (the MVA's, or one physician's).
    `tasks`: that group's tasks when the caller holds them all (in order), else read."""
    if tasks is None:
        tasks = [t for t in await case_tasks(session, case.id) if task_group(t) == group]
    if group == Role.MVA:
        viewers: list[Staff | None] = list(
            await directory.unit_staff(session, unit_id=case.unit_id, role=Role.MVA)
        )
    else:
        viewers = [t.assignee for t in tasks[:1]]
    decision = decision_context(case)
    label = decision["label"] if decision else "beslut"
    ctx = common_context(case, notice=notice)
    return render(
        "task_card",
        case=ctx["case"],
        patient=ctx["patient"],
        title=f"Uppgifter efter beslut: {label}",
        decision=decision,
        tasks=[_task_row(t, now=now, case=case) for t in tasks],
        notice=notice,
        refresh_user_ids=_user_ids(viewers),
    )


def notice_card(
    *, title: str, text: str, case: Case | None = None, facts: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    ctx_case = common_context(case)["case"] if case is not None else None
    return render("notice_card", title=title, text=text, case=ctx_case, facts=facts or [])


async def triage_view(
    session: AsyncSession, case: Case, *, now: datetime, notice: str | None = None
) -> dict[str, Any]:
    """The triage card as the MVA channel sees it now: open, or who took it."""
    if case.state == CaseState.AWAITING_ASSIGNMENT:
        return await triage_card(session, case, notice=notice)
    taken = next(
        (e for e in await case_history(session, case.id) if e.action == EventKind.ASSIGNED),
        None,
    )
    if taken is None or case.physician is None or case.state == CaseState.SUPERSEDED:
        return await summary_card(session, case, now=now, notice=notice)
    assigned = {"to": case.physician.name, "by": taken.actor, "at": fmt_time(taken.at) or ""}
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
    MVA channel's triage card a triage card, showing who took the case.
    """
    if case.state == CaseState.AWAITING_DECISION and case.physician_id == viewer.id:
        return await decision_card(session, case, notice=notice)
    if view == "triage":
        return await triage_view(session, case, now=now, notice=notice)
    if case.state == CaseState.AWAITING_ASSIGNMENT:
        return await triage_card(session, case, notice=notice)
    return await summary_card(session, case, now=now, notice=notice)
