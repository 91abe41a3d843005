"""The quality figures of one unit for one period (SPEC section 5), and their cohort rules.

The period is ``start``..``end``, both days included, as calendar dates in
Europe/Stockholm: an instant belongs to the period when its Stockholm date does. Every
duration is counted in calendar days between Stockholm dates. "Active" cases are those
neither ``superseded`` nor ``cancelled``; only active cases enter the clinical figures.

Three cohorts, one nested in the next, so that the figures add up:

- the *answer cohort*: answers whose first version was received in the period;
- the *decision cohort*: active cases of the unit whose decision was made in the period
  (any decision kind);
- the *call-in cohort*: the decision cohort's ``call_in`` decisions; its *visit subset*
  is the call-ins whose visit checklist has been recorded (``Visit.recorded_at`` set,
  i.e. the visit took place). All visit figures share this subset as denominator, so a
  call-in is reported in the period of its decision, and the figures of a recent period
  fill in as its visits are recorded (``call_ins_without_visit`` says how many are left).

The figures, by key:

``answers_received``
    Distinct answer identifiers (``report_system`` + ``report_value``) of the unit whose
    first version (a case that supersedes no other) was received in the period. A
    correction is the same answer, counted once, in the period of its first version.
    An answer whose latest version was cancelled is not counted.
``median_days_answer_to_decision``
    Median over the decision cohort of ``received_at`` → ``decision.at`` (the decided
    version's own receipt). ``denominator``: how many decisions.
``median_days_decision_to_visit``
    Median over the visit subset of ``decision.at`` → ``visit.booked_at``.
    ``denominator``: how many visits.
``seen_within_call_in_months``
    Share of the visit subset whose visit date is on or before the decision date plus
    the unit setting ``call_in_months`` calendar months (``add_months``, day clamped).
``call_ins_without_visit``
    Call-in cohort cases with no recorded visit yet (``denominator``: the call-in cohort).
``lab_package_before_visit``
    Share of the visit subset with a ``lab_package`` task in status ``done`` whose
    ``done_at`` is strictly before the visit's ``booked_at`` (instants, not dates).
``treatment_started``
    Count (``numerator``) and share of the visit subset with ``treatment_started`` true;
    an unanswered field counts as not started.
``physio_contacts``
    Count of the visit subset with ``physio_contact`` true (``denominator``: the subset).
``overdue_tasks``
    A snapshot now, not of the period: tasks of the unit (``Task.unit_id``), on active
    cases, in status ``open`` today, whose due date is before the reference date
    ``min(end, today)``. A task due on the reference date is not yet overdue.
``awaiting_assignment``
    A snapshot now: cases of the unit in state ``awaiting_assignment``, whatever the period.

The fracture-liaison KPIs (``kpis``, and their monthly run charts) follow the cohort
rules of `bot.reports.kpis`, read from the same rows.

Counts are always numbers (0 when nothing happened). A median or share with nothing to
compute from has ``value`` None, shown as "–". Shares are percentages rounded half up to
one decimal; medians of an even count are the mean of the two middle values (x.5).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.enums import CaseState, DecisionKind
from bot.cases.models import Case, Decision
from bot.core.calendar import add_months, local_date
from bot.directory.models import Unit
from bot.reports.kpis import (
    Answer,
    Decided,
    Kpi,
    KpiData,
    RunChart,
    chart_months,
    kpis,
    load_kpi_rows,
    percent,
    run_charts,
    utc_start_of,
)
from bot.tasks.enums import TaskStatus
from bot.tasks.models import Task
from bot.visits.models import Visit

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)
"""The days a report period may start and end on (both included)."""
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def report_day(text: str | None) -> date | None:
    """A YYYY-MM-DD day from FIRST_DAY to LAST_DAY, or None for anything else."""
    if text is None or not _ISO_DATE.fullmatch(text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if FIRST_DAY <= day <= LAST_DAY else None

__all__ = [
    "KEYS",
    "Figure",
    "FigureKind",
    "Kpi",
    "QualityReport",
    "ReportError",
    "UnknownUnit",
    "quality_figures",
]

FigureKind = Literal["count", "share", "median_days"]

KEYS = (
    "answers_received",
    "median_days_answer_to_decision",
    "median_days_decision_to_visit",
    "seen_within_call_in_months",
    "call_ins_without_visit",
    "lab_package_before_visit",
    "treatment_started",
    "physio_contacts",
    "overdue_tasks",
    "awaiting_assignment",
)

_INACTIVE = (CaseState.SUPERSEDED, CaseState.CANCELLED)


class ReportError(ValueError):
    """A report that cannot be made as asked (a period that ends before it starts)."""


class UnknownUnit(ReportError):
    """No care unit has the given HSA-id."""

    def __init__(self, unit_hsa: str) -> None:
        super().__init__(f"unknown unit {unit_hsa!r}: no care unit has this HSA-id")
        self.unit_hsa = unit_hsa


@dataclass(frozen=True)
class Figure:
    """One quality figure. ``value`` is None when there is nothing to compute it from.

    ``kind`` says how to read ``value``: a count; a share in percent of
    ``numerator``/``denominator``; or a median in days over ``denominator`` items.
    """

    key: str
    label: str
    value: int | float | None
    numerator: int | None = None
    denominator: int | None = None
    kind: FigureKind = "count"
    definition: str = ""


@dataclass(frozen=True)
class QualityReport:
    """The figures of one unit and period, in the order of ``KEYS``."""

    unit_id: int
    unit_hsa: str
    unit_name: str
    start: date
    end: date
    today: date
    overdue_reference: date
    call_in_months: int
    answers_received: Figure
    median_days_answer_to_decision: Figure
    median_days_decision_to_visit: Figure
    seen_within_call_in_months: Figure
    call_ins_without_visit: Figure
    lab_package_before_visit: Figure
    treatment_started: Figure
    physio_contacts: Figure
    overdue_tasks: Figure
    awaiting_assignment: Figure
    kpis: tuple[Kpi, ...]
    """The fracture-liaison KPIs of the period, in the order of `kpis.KPI_KEYS`."""
    run_charts: tuple[RunChart, ...]
    """Each KPI per calendar month, the 12 months up to ``end``, in the same order."""

    def figures(self) -> tuple[Figure, ...]:
        """Every figure, in report order."""
        found: tuple[Figure, ...] = tuple(getattr(self, key) for key in KEYS)
        return found


_share = percent


def _median(days: list[int]) -> float | None:
    return float(statistics.median(days)) if days else None


def _active() -> ColumnElement[bool]:
    return Case.state.not_in(_INACTIVE)


async def quality_figures(
    session: AsyncSession, *, unit_hsa: str, start: date, end: date, today: date
) -> QualityReport:
    """The quality figures of the unit ``unit_hsa`` for ``start``..``end`` (both included).

    ``today`` is the Stockholm date the snapshot figures are taken on. Raises
    ``UnknownUnit`` for an HSA-id no unit has and ``ReportError`` when ``start`` is after
    ``end``. Reads only, in a fixed number of queries: the rows of the period and of the
    12 months of the run charts are read together.
    """
    if start > end:
        raise ReportError(f"the period starts ({start}) after it ends ({end})")
    unit = await session.scalar(select(Unit).where(Unit.hsa_id == unit_hsa))
    if unit is None:
        raise UnknownUnit(unit_hsa)
    months = int(unit.setting("call_in_months"))
    span_start = min(start, chart_months(end)[0][0])
    low, high = utc_start_of(span_start), utc_start_of(end + timedelta(days=1))
    reference = min(end, today)

    span_answers = await _answers(session, unit_id=unit.id, low=low, high=high)
    span_decided = await _decision_cohort(session, unit_id=unit.id, low=low, high=high)
    rows = await load_kpi_rows(session, unit_id=unit.id, start=span_start, end=end)
    data = KpiData(
        answers=tuple(span_answers),
        decided=tuple(span_decided),
        follow_ups=rows.follow_ups,
        visits=rows.visits,
        refractures=rows.refractures,
    )
    answers = sum(1 for a in span_answers if start <= a.arrived_on <= end)
    decided = [d for d in span_decided if start <= d.decided_on <= end]
    call_ins = [d for d in decided if d.kind == DecisionKind.CALL_IN]
    visited = [d for d in call_ins if d.recorded and d.booked_at is not None]
    lab_done = await _lab_packages_done(session, unit_id=unit.id, low=low, high=high)

    to_decision = [(d.decided_on - d.received_on).days for d in decided]
    to_visit = [(local_date(d.booked_at) - d.decided_on).days for d in visited if d.booked_at]
    in_time = sum(
        1
        for d in visited
        if d.booked_at and local_date(d.booked_at) <= add_months(d.decided_on, months)
    )
    lab_first = sum(
        1
        for d in visited
        if d.booked_at and any(done < d.booked_at for done in lab_done.get(d.case_id, ()))
    )
    treated = sum(1 for d in visited if d.treatment_started)
    physio = sum(1 for d in visited if d.physio_contact)
    waiting = len(call_ins) - len(visited)

    overdue = await session.scalar(
        select(func.count(Task.id))
        .join(Case, Case.id == Task.case_id)
        .where(
            Task.unit_id == unit.id,
            Task.status == TaskStatus.OPEN,
            Task.due < reference,
            _active(),
        )
    )
    unassigned = await session.scalar(
        select(func.count(Case.id)).where(
            Case.unit_id == unit.id, Case.state == CaseState.AWAITING_ASSIGNMENT
        )
    )

    n_visits = len(visited)
    return QualityReport(
        unit_id=unit.id,
        unit_hsa=unit.hsa_id,
        unit_name=unit.name,
        start=start,
        end=end,
        today=today,
        overdue_reference=reference,
        call_in_months=months,
        answers_received=Figure(
            "answers_received",
            "Mottagna svar",
            answers,
            definition=(
                "Remissvar (unik svarsidentitet) vars första version kom in under perioden; "
                "ett korrigerat svar räknas inte som nytt. Svar vars senaste version "
                "makulerats räknas inte."
            ),
        ),
        median_days_answer_to_decision=Figure(
            "median_days_answer_to_decision",
            "Mediantid svar → beslut, dagar",
            _median(to_decision),
            None,
            len(to_decision),
            "median_days",
            "Beslut fattade under perioden (ej ersatta eller makulerade ärenden): "
            "kalenderdagar från svarets ankomst till beslutet.",
        ),
        median_days_decision_to_visit=Figure(
            "median_days_decision_to_visit",
            "Mediantid beslut → besök, dagar",
            _median(to_visit),
            None,
            n_visits,
            "median_days",
            "Kallelsebeslut fattade under perioden med genomfört (registrerat) besök: "
            "kalenderdagar från beslutet till besöket.",
        ),
        seen_within_call_in_months=Figure(
            "seen_within_call_in_months",
            f"Kallade med besök inom {months} månader",
            _share(in_time, n_visits),
            in_time,
            n_visits,
            "share",
            f"Andel av kallelsebesluten under perioden med registrerat besök där besöket "
            f"var senast beslutsdagen + {months} kalendermånader.",
        ),
        call_ins_without_visit=Figure(
            "call_ins_without_visit",
            "Kallade utan registrerat besök",
            waiting,
            waiting,
            len(call_ins),
            "count",
            "Kallelsebeslut fattade under perioden vars besök ännu inte registrerats "
            "(av alla kallelsebeslut under perioden).",
        ),
        lab_package_before_visit=Figure(
            "lab_package_before_visit",
            "Osteoporospaket taget före besöket",
            _share(lab_first, n_visits),
            lab_first,
            n_visits,
            "share",
            "Andel av de registrerade besöken (kallelsebeslut under perioden) där "
            "uppgiften Osteoporospaket klarmarkerats före besökstiden.",
        ),
        treatment_started=Figure(
            "treatment_started",
            "Behandling påbörjad",
            _share(treated, n_visits),
            treated,
            n_visits,
            "share",
            "Antal och andel av de registrerade besöken (kallelsebeslut under perioden) "
            "där behandling påbörjats.",
        ),
        physio_contacts=Figure(
            "physio_contacts",
            "Kontakt med fysioterapeut",
            physio,
            physio,
            n_visits,
            "count",
            "Registrerade besök (kallelsebeslut under perioden) med kontakt med "
            "fysioterapeut/sjukgymnast.",
        ),
        overdue_tasks=Figure(
            "overdue_tasks",
            "Försenade uppgifter",
            overdue or 0,
            definition=(
                f"Enhetens uppgifter som är öppna nu med förfallodag före {reference} "
                "(periodens slut, eller i dag om det är tidigare); ej ersatta eller "
                "makulerade ärenden."
            ),
        ),
        awaiting_assignment=Figure(
            "awaiting_assignment",
            "Väntar på fördelning (nu)",
            unassigned or 0,
            definition="Enhetens ärenden som väntar på fördelning just nu, oavsett period.",
        ),
        kpis=kpis(data, start, end),
        run_charts=run_charts(data, end),
    )


async def _answers(
    session: AsyncSession, *, unit_id: int, low: datetime, high: datetime
) -> list[Answer]:
    """One per distinct identifier of first versions received in [low, high) whose latest
    version is not cancelled: when it first arrived, and when its latest version was
    decided (None when that version is undecided, or not active)."""
    heads = (
        await session.execute(
            select(
                Case.id,
                Case.report_system,
                Case.report_value,
                Case.received_at,
                Case.state,
                Case.superseded_by_id,
                Decision.at,
            )
            .outerjoin(Decision, Decision.case_id == Case.id)
            .where(
                Case.unit_id == unit_id,
                Case.supersedes_id.is_(None),
                Case.received_at >= low,
                Case.received_at < high,
            )
            .order_by(Case.received_at, Case.id)
        )
    ).all()
    corrections = {
        row.id: (row.state, row.superseded_by_id, row.at)
        for row in (
            await session.execute(
                select(Case.id, Case.state, Case.superseded_by_id, Decision.at)
                .outerjoin(Decision, Decision.case_id == Case.id)
                .where(Case.supersedes_id.is_not(None), Case.received_at >= low)
            )
        ).all()
    }
    counted: dict[tuple[str, str], Answer] = {}
    for head in heads:
        state, successor, decided_at = head.state, head.superseded_by_id, head.at
        seen = {head.id}
        while successor is not None and successor in corrections and successor not in seen:
            seen.add(successor)
            state, successor, decided_at = corrections[successor]
        if state != CaseState.CANCELLED:
            counted.setdefault(
                (head.report_system, head.report_value),
                Answer(
                    arrived_on=local_date(head.received_at),
                    decided_on=(
                        local_date(decided_at)
                        if decided_at is not None and state not in _INACTIVE
                        else None
                    ),
                ),
            )
    return list(counted.values())


def _decision_filter(unit_id: int, low: datetime, high: datetime) -> Iterable[ColumnElement[bool]]:
    return (Case.unit_id == unit_id, _active(), Decision.at >= low, Decision.at < high)


async def _decision_cohort(
    session: AsyncSession, *, unit_id: int, low: datetime, high: datetime
) -> list[Decided]:
    """Active cases of the unit decided in [low, high), each with its visit if any."""
    rows = (
        await session.execute(
            select(
                Case.id,
                Case.patient_key,
                Case.received_at,
                Decision.kind,
                Decision.at,
                Visit.booked_at,
                Visit.recorded_at,
                Visit.treatment_started,
                Visit.physio_contact,
            )
            .select_from(Case)
            .join(Decision, Decision.case_id == Case.id)
            .outerjoin(Visit, Visit.case_id == Case.id)
            .where(*_decision_filter(unit_id, low, high))
            .order_by(Case.id)
        )
    ).all()
    return [
        Decided(
            case_id=row.id,
            patient_key=row.patient_key,
            kind=row.kind,
            received_on=local_date(row.received_at),
            decided_on=local_date(row.at),
            booked_at=row.booked_at,
            visit_recorded_on=local_date(row.recorded_at) if row.recorded_at else None,
            treatment_started=bool(row.treatment_started),
            physio_contact=bool(row.physio_contact),
        )
        for row in rows
    ]


async def _lab_packages_done(
    session: AsyncSession, *, unit_id: int, low: datetime, high: datetime
) -> dict[int, list[datetime]]:
    """case id -> done times of its done lab-package tasks, for call-ins decided in [low, high)."""
    rows = (
        await session.execute(
            select(Task.case_id, Task.done_at)
            .join(Case, Case.id == Task.case_id)
            .join(Decision, Decision.case_id == Case.id)
            .where(
                *_decision_filter(unit_id, low, high),
                Decision.kind == DecisionKind.CALL_IN,
                Task.kind == "lab_package",
                Task.status == TaskStatus.DONE,
                Task.done_at.is_not(None),
            )
        )
    ).all()
    done: dict[int, list[datetime]] = defaultdict(list)
    for row in rows:
        if row.done_at is not None:
            done[row.case_id].append(row.done_at)
    return done
