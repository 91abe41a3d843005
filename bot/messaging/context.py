"""The parts of a card drawn from a case, each formatted for people (see `cards.render`'s
context description): the case and patient, the answer with its measurements and the
clinical suggestion, the decision, task rows, history lines, and who may refresh it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.answers import measurements_of
from bot.cases.clinical import FRACTURE_LABELS, format_score, fracture_group, suggest
from bot.cases.enums import DECISION_LABELS, EVENT_LABELS, STATE_LABELS
from bot.cases.models import Case, CaseEvent
from bot.core.calendar import local_date
from bot.directory import service as directory
from bot.directory.actor import shown_name
from bot.directory.enums import Role
from bot.directory.models import Staff
from bot.letters.render import LETTERS, letter_for_task, physio_referral
from bot.messaging.format import case_ref, fmt_date, fmt_time, patient_display
from bot.tasks.enums import TASK_STATUS_LABELS, TaskKind, TaskStatus
from bot.tasks.models import Task
from bot.tasks.service import REOPEN_WINDOW
from bot.visits.models import Visit
from bot.visits.service import TREATMENTS

__all__ = [
    "MAX_REFRESH_USERS",
    "TREAT_TEXT",
    "case_context",
    "common_context",
    "decision_context",
    "event_text",
    "has_referral_draft",
    "patient_context",
    "physician_choices",
    "task_group",
    "task_row",
    "user_ids",
]

TREAT_TEXT = "Höft- eller kotfraktur: behandling bör övervägas oavsett T-score."
MAX_REFRESH_USERS = 60


def _bmd(value: float | None) -> str | None:
    return f"{value:.3f}".replace(".", ",") if value is not None else None


def _label(labels: Mapping[str, str], code: str) -> str:
    """The Swedish label of a stored code; the code itself when it has none."""
    return labels.get(code, code)


def case_context(case: Case) -> dict[str, Any]:
    """The `case` object of a card: id, version, reference, state and its label."""
    return {
        "id": case.id,
        "version": case.version,
        "ref": case_ref(case.id),
        "state": case.state,
        "state_label": _label(STATE_LABELS, case.state),
    }


def patient_context(case: Case) -> dict[str, Any]:
    """The `patient` object of a card (a row of a list card carries its own)."""
    return {"display": patient_display(case), "protected": case.protected_identity}


def common_context(case: Case, *, notice: str | None = None) -> dict[str, Any]:
    """What every card of one case shows: `case, patient, answer, measurements,
    suggestion, notice`."""
    measurements = measurements_of(case)
    suggestion = suggest(
        measurements=measurements,
        birth_date=case.patient_birth_date,
        scan_date=case.scan_date,
        fracture_code=case.fracture_code,
    )
    group = fracture_group(case.fracture_code)
    return {
        "case": case_context(case),
        "patient": patient_context(case),
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


def user_ids(people: Sequence[Staff | None]) -> list[str]:
    """The Teams user ids (`refresh.userIds`) of `people`, once each, at most
    `MAX_REFRESH_USERS`; people without one are left out."""
    ids: list[str] = []
    for person in people:
        if person is not None and person.teams_user_id and person.teams_user_id not in ids:
            ids.append(person.teams_user_id)
    return ids[:MAX_REFRESH_USERS]


async def physician_choices(session: AsyncSession, unit_id: int) -> list[dict[str, str]]:
    """The unit's active physicians as a card's choices: `{"id": aad object id, "name"}`."""
    return [
        {"id": p.aad_object_id, "name": p.name}
        for p in await directory.unit_staff(session, unit_id=unit_id, role=Role.PHYSICIAN)
    ]


def decision_context(case: Case) -> dict[str, Any] | None:
    """The `decision` object of a card (None before the decision)."""
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


def has_referral_draft(task: Task) -> bool:
    """Whether a task card shows the task with a referral draft (an open physiotherapy
    task): its row wants the case's visit (`task_row`)."""
    return task.kind == TaskKind.PHYSIO and task.status == TaskStatus.OPEN


def _referral_draft(
    task: Task, case: Case | None, visit: Visit | None, today: date
) -> str | None:
    """The referral draft of an open physiotherapy task: the case's fracture and DXA finding
    as its cards show them, the visit's treatment and the physician's notes. No name or
    personal number where the unit's cards show none, nor for a protected identity."""
    if case is None or not has_referral_draft(task):
        return None
    decision = case.decision
    group = fracture_group(case.fracture_code)
    physician = (visit.physician if visit else None) or case.physician
    if physician is None and decision is not None:
        physician = decision.by
    started = visit is not None and visit.treatment_started and visit.treatment_drug
    return physio_referral(
        patient_name=case.patient_name,
        patient_number=case.patient_number,
        protected=case.protected_identity or case.unit.setting("card_identity") != "full",
        fracture_label=FRACTURE_LABELS[group] if group else None,
        fracture_code=case.fracture_code,
        fracture_text=case.fracture_text,
        scan_date=case.scan_date,
        suggestion=suggest(
            measurements=measurements_of(case),
            birth_date=case.patient_birth_date,
            scan_date=case.scan_date,
            fracture_code=case.fracture_code,
        ),
        treatment=TREATMENTS.get(visit.treatment_drug or "") if visit and started else None,
        decision_note=decision.note if decision else None,
        investigation=visit.investigation if visit else None,
        physician=physician.name if physician else "",
        unit=case.unit.name,
        today=today,
    )


def _referral_sent(task: Task) -> dict[str, str | None] | None:
    if task.status != TaskStatus.DONE or task.referral_on is None:
        return None
    return {"on": fmt_date(task.referral_on), "clinic": task.referral_clinic}


def task_row(
    task: Task, *, now: datetime, case: Case | None = None, visit: Visit | None = None
) -> dict[str, Any]:
    """One task as a card lists it; with `case`, an open letter task carries its letter
    draft and an open physiotherapy task its referral draft (with the case's `visit`, its
    treatment and notes); a done physiotherapy task says when the referral went, and where.
    `can_reopen` while the task was done less than `REOPEN_WINDOW` ago."""
    today = local_date(now)
    booked = f" Bokad tid: {fmt_time(task.booked_at)}." if task.booked_at else ""
    return {
        "id": task.id,
        "kind": task.kind,
        "letter": _letter(task, case, today),
        "referral_draft": _referral_draft(task, case, visit, today),
        "referral": _referral_sent(task),
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
        and now - task.done_at < REOPEN_WINDOW,
        "note": ((task.note or "") + booked).strip() or None,
    }


def event_text(event: CaseEvent) -> str:
    """One history line: what happened, the state it led to, why, and who (never an
    internal id: `shown_name`)."""
    text = _label(EVENT_LABELS, event.action)
    if event.to_state and event.to_state != event.from_state:
        text = f"{text}: {_label(STATE_LABELS, event.to_state)}"
    if event.reason:
        text = f"{text} ({event.reason})"
    return f"{text} – {shown_name(event.actor)}"


def task_group(task: Task) -> str:
    """Whose card a task is on: ``mva`` (the unit's MVA channel) or ``staff:<id>``."""
    return Role.MVA if task.assignee_role == Role.MVA else f"staff:{task.assignee_id}"
