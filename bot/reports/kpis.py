"""The fracture-liaison KPIs of one unit (IOF Capture the Fracture, UK FLS-DB; SPEC section 5):
their cohort rules, per period and per calendar month for the run chart.

Dates are Stockholm dates and durations calendar days between them, as in
`bot.reports.service`; "active" cases are neither ``superseded`` nor ``cancelled``. Each
KPI is ``numerator`` of ``denominator``, ``percent`` rounded half up to one decimal (None
when the denominator is 0), and ``band`` its IOF level read from that rounded percent:
``"<50"`` below 50, ``"50-80"`` from 50 to 80 *both included*, ``">80"`` above 80 (None
when the denominator is 0).

``decided_within_14_days``
    Of the answer cohort (distinct answers whose first version arrived in the period and
    whose latest version is not cancelled, the cohort of ``answers_received``): those whose
    current version has a decision at most 14 days after the first version arrived (a
    correction does not restart the clock; an answer not yet decided is not counted).
``treatment_recommended``
    Of the decision cohort (active cases decided in the period, any decision): ``call_in``.
``treatment_started_16w``
    Of the call-in cohort (``call_in`` decisions of the period): treatment started at most
    112 days after the decision: a recorded visit with ``treatment_started`` true, or a
    recorded follow-up with ``treatment_started`` true, recorded by then.
``monitored_16w``
    Of the call-in cohort: a follow-up recorded at most 112 days after the decision.
``on_treatment_52w``
    Of the treated call-in cohort (treatment started at the recorded visit or at any recorded
    follow-up, whenever): the latest follow-up recorded 280 to 420 days (40–60 weeks, both
    included) after the decision says ``on_treatment`` true.
``physio_referred``
    Of the visits recorded in the period (active cases of the unit): the case has a
    ``physio`` task done with ``referral_on`` set.
``refractures``
    Counted per patient (``patient_key``): patients of the unit with a re-fracture recorded in
    the period, of the distinct patients of the decision cohort. A re-fracture is a
    follow-up (active case of the unit) recorded in the period with ``new_fracture`` true;
    or an active case of the unit received in the period with ``fracture_code`` set whose
    patient has another active, decided case of a different answer (any unit) decided
    before it was received (a correction is never a re-fracture). The numerator is not a
    subset of the denominator (the re-fracture follows an earlier decision), so this is a
    rate; lower is better, and its band reads the other way round.

The run chart of each KPI has one point per calendar month, for the 12 months up to the
period's end (the last month stops at the period's end): each month is a period of its
own, under the same rules. A month with no denominator has no point. The centre line is
the median of the points' percents (the mean of the two middle ones when even, rounded
half up to one decimal).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from bot.cases.enums import CaseState, DecisionKind
from bot.cases.models import Case, Decision
from bot.core.calendar import STOCKHOLM, add_months, local_date
from bot.tasks.enums import TaskKind, TaskStatus
from bot.tasks.models import Task
from bot.visits.models import FollowUp, Visit

__all__ = [
    "CHART_MONTHS",
    "KPI_KEYS",
    "Answer",
    "Band",
    "Decided",
    "Kpi",
    "KpiData",
    "KpiMonth",
    "RunChart",
    "band",
    "chart_months",
    "kpis",
    "load_kpi_rows",
    "percent",
    "run_charts",
    "utc_start_of",
]

Band = Literal["<50", "50-80", ">80"]

KPI_KEYS = (
    "decided_within_14_days",
    "treatment_recommended",
    "treatment_started_16w",
    "monitored_16w",
    "on_treatment_52w",
    "physio_referred",
    "refractures",
)
CHART_MONTHS = 12
DECISION_DAYS = 14
WEEKS_16 = 16 * 7  # 112 days
WEEKS_40, WEEKS_60 = 40 * 7, 60 * 7  # 280 and 420 days

INACTIVE = (CaseState.SUPERSEDED, CaseState.CANCELLED)


def percent(numerator: int, denominator: int) -> float | None:
    """``numerator`` of ``denominator`` in percent, rounded half up to one decimal; None of 0."""
    if not denominator:
        return None
    share = (Decimal(100 * numerator) / Decimal(denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )
    return float(share)


def band(value: float | None) -> Band | None:
    """The IOF level of a (rounded) percent: 50 and 80 are in the middle band."""
    if value is None:
        return None
    if value < 50:
        return "<50"
    if value <= 80:
        return "50-80"
    return ">80"


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    middle = Decimal(str(statistics.median(values)))
    return float(middle.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Kpi:
    """One KPI of a period: ``numerator`` of ``denominator`` (see the module's rules)."""

    key: str
    label: str
    numerator: int
    denominator: int
    percent: float | None
    band: Band | None
    definition: str


@dataclass(frozen=True)
class KpiMonth:
    """One month's point of a run chart: the KPI over ``start``..``end``."""

    start: date
    end: date
    numerator: int
    denominator: int
    percent: float | None


@dataclass(frozen=True)
class RunChart:
    """A KPI per calendar month, oldest first, and the median of the months with a value."""

    key: str
    label: str
    months: tuple[KpiMonth, ...]
    median: float | None


@dataclass(frozen=True)
class Answer:
    """An answer of the answer cohort: when its first version arrived, when its current
    version was decided (None: not yet)."""

    arrived_on: date
    decided_on: date | None


@dataclass(frozen=True)
class Decided:
    """An active case with a decision, and its visit if any."""

    case_id: int
    patient_key: str
    kind: str
    received_on: date
    decided_on: date
    booked_at: datetime | None
    visit_recorded_on: date | None
    treatment_started: bool
    physio_contact: bool

    @property
    def recorded(self) -> bool:
        """Whether the visit took place (its checklist is recorded)."""
        return self.visit_recorded_on is not None


@dataclass(frozen=True)
class FollowUpRecord:
    """A recorded follow-up of a call-in case."""

    recorded_at: datetime
    recorded_on: date
    treatment_started: bool
    on_treatment: bool


@dataclass(frozen=True)
class KpiData:
    """Everything the KPIs read, for a span of days that holds every period asked of it.

    ``answers`` arrived, ``decided`` were decided, ``visits`` were recorded and
    ``refractures`` were recorded in the span; ``follow_ups`` are those of the span's
    call-ins (case id -> records, oldest first), whenever recorded.
    """

    answers: tuple[Answer, ...]
    decided: tuple[Decided, ...]
    follow_ups: Mapping[int, tuple[FollowUpRecord, ...]]
    visits: tuple[tuple[date, bool], ...]  # (recorded on, physiotherapy referral sent)
    refractures: tuple[tuple[date, str], ...]  # (recorded on, patient key)


@dataclass(frozen=True)
class _Spec:
    key: str
    label: str
    definition: str


_SPECS = (
    _Spec(
        "decided_within_14_days",
        "Beslut inom 14 dagar från svar",
        "Av remissvaren vars första version kom under perioden (ej makulerade): de vars "
        "gällande version fått beslut senast 14 kalenderdagar efter att den första kom.",
    ),
    _Spec(
        "treatment_recommended",
        "Behandling rekommenderad (kallelse)",
        "Av besluten under perioden (ej ersatta eller makulerade ärenden): kallelse till "
        "läkarbesök.",
    ),
    _Spec(
        "treatment_started_16w",
        "Behandling påbörjad inom 16 veckor",
        "Av kallelsebesluten under perioden: behandling påbörjad enligt besöket eller en "
        "uppföljning, registrerad senast 112 dagar efter beslutet.",
    ),
    _Spec(
        "monitored_16w",
        "Uppföljning inom 16 veckor",
        "Av kallelsebesluten under perioden: en uppföljning registrerad senast 112 dagar "
        "efter beslutet.",
    ),
    _Spec(
        "on_treatment_52w",
        "Kvar på behandling efter 52 veckor",
        "Av kallelsebesluten under perioden där behandling påbörjats (besök eller "
        "uppföljning): den senaste uppföljningen 280–420 dagar (40–60 veckor) efter "
        "beslutet säger att patienten fortfarande tar behandlingen.",
    ),
    _Spec(
        "physio_referred",
        "Remiss till fysioterapeut skickad",
        "Av besöken registrerade under perioden: uppgiften Fysioterapikontakt klar med "
        "remissdatum.",
    ),
    _Spec(
        "refractures",
        "Ny fraktur (refraktur)",
        "Patienter med ny fraktur registrerad under perioden (uppföljning med ny fraktur, "
        "eller nytt svar med indexfraktur efter ett tidigare beslut), av patienterna med "
        "beslut under perioden. Lägre är bättre.",
    ),
)


def _within(day: date, start: date, end: date) -> bool:
    return start <= day <= end


def _counts(data: KpiData, start: date, end: date) -> dict[str, tuple[int, int]]:
    """key -> (numerator, denominator) for ``start``..``end``."""
    answers = [a for a in data.answers if _within(a.arrived_on, start, end)]
    in_time = sum(
        1
        for a in answers
        if a.decided_on is not None and (a.decided_on - a.arrived_on).days <= DECISION_DAYS
    )
    decided = [d for d in data.decided if _within(d.decided_on, start, end)]
    call_ins = [d for d in decided if d.kind == DecisionKind.CALL_IN]

    started = monitored = treated = kept = 0
    for case in call_ins:
        records = data.follow_ups.get(case.case_id, ())

        def days(day: date, case: Decided = case) -> int:
            return (day - case.decided_on).days

        visit_on = case.visit_recorded_on if case.treatment_started else None
        if (visit_on is not None and days(visit_on) <= WEEKS_16) or any(
            r.treatment_started and days(r.recorded_on) <= WEEKS_16 for r in records
        ):
            started += 1
        if any(days(r.recorded_on) <= WEEKS_16 for r in records):
            monitored += 1
        if visit_on is not None or any(r.treatment_started for r in records):
            treated += 1
            window = [r for r in records if WEEKS_40 <= days(r.recorded_on) <= WEEKS_60]
            if window and window[-1].on_treatment:
                kept += 1

    visits = [referred for on, referred in data.visits if _within(on, start, end)]
    refractured = {key for on, key in data.refractures if _within(on, start, end)}
    patients = {d.patient_key for d in decided}
    return {
        "decided_within_14_days": (in_time, len(answers)),
        "treatment_recommended": (len(call_ins), len(decided)),
        "treatment_started_16w": (started, len(call_ins)),
        "monitored_16w": (monitored, len(call_ins)),
        "on_treatment_52w": (kept, treated),
        "physio_referred": (sum(visits), len(visits)),
        "refractures": (len(refractured), len(patients)),
    }


def kpis(data: KpiData, start: date, end: date) -> tuple[Kpi, ...]:
    """The KPIs of ``start``..``end`` (both included), in the order of ``KPI_KEYS``."""
    counts = _counts(data, start, end)
    found = []
    for spec in _SPECS:
        numerator, denominator = counts[spec.key]
        share = percent(numerator, denominator)
        found.append(
            Kpi(spec.key, spec.label, numerator, denominator, share, band(share), spec.definition)
        )
    return tuple(found)


def chart_months(end: date) -> tuple[tuple[date, date], ...]:
    """The first and last day of each of the ``CHART_MONTHS`` calendar months up to ``end``,
    oldest first; the last one stops at ``end``."""
    last_first = end.replace(day=1)
    months = []
    for back in range(CHART_MONTHS - 1, -1, -1):
        first = add_months(last_first, -back)
        months.append((first, min(end, add_months(first, 1) - timedelta(days=1))))
    return tuple(months)


def run_charts(data: KpiData, end: date) -> tuple[RunChart, ...]:
    """One run chart per KPI over ``chart_months(end)``, in the order of ``KPI_KEYS``."""
    by_month = [(first, last, _counts(data, first, last)) for first, last in chart_months(end)]
    charts = []
    for spec in _SPECS:
        months = tuple(
            KpiMonth(first, last, *counts[spec.key], percent(*counts[spec.key]))
            for first, last, counts in by_month
        )
        values = [m.percent for m in months if m.percent is not None]
        charts.append(RunChart(spec.key, spec.label, months, _median(values)))
    return tuple(charts)


# --- reading the rows ---------------------------------------------------------------------


def utc_start_of(day: date) -> datetime:
    """The instant Stockholm's ``day`` begins, in UTC."""
    return datetime.combine(day, time(0), tzinfo=STOCKHOLM).astimezone(UTC)


def _active(case: type[Case] = Case) -> ColumnElement[bool]:
    return case.state.not_in(INACTIVE)


@dataclass(frozen=True)
class KpiRows:
    """The rows the KPIs read beyond the answer and decision cohorts (see ``KpiData``)."""

    follow_ups: Mapping[int, tuple[FollowUpRecord, ...]]
    visits: tuple[tuple[date, bool], ...]
    refractures: tuple[tuple[date, str], ...]


async def load_kpi_rows(session: AsyncSession, *, unit_id: int, start: date, end: date) -> KpiRows:
    """Follow-ups of the unit's call-ins decided in ``start``..``end``, visits recorded and
    re-fractures recorded in it: four queries, whatever the number of cases."""
    low, high = utc_start_of(start), utc_start_of(end + timedelta(days=1))

    def in_span(
        column: QueryableAttribute[datetime] | QueryableAttribute[datetime | None],
    ) -> Iterable[ColumnElement[bool]]:
        return (column >= low, column < high)

    follow_rows = (
        await session.execute(
            select(
                FollowUp.case_id,
                FollowUp.recorded_at,
                FollowUp.treatment_started,
                FollowUp.on_treatment,
            )
            .join(Case, Case.id == FollowUp.case_id)
            .join(Decision, Decision.case_id == Case.id)
            .where(
                Case.unit_id == unit_id,
                _active(),
                *in_span(Decision.at),
                Decision.kind == DecisionKind.CALL_IN,
                FollowUp.recorded_at.is_not(None),
            )
            .order_by(FollowUp.case_id, FollowUp.recorded_at, FollowUp.id)
        )
    ).all()
    follow_ups: dict[int, list[FollowUpRecord]] = {}
    for row in follow_rows:
        if row.recorded_at is None:
            continue
        follow_ups.setdefault(row.case_id, []).append(
            FollowUpRecord(
                recorded_at=row.recorded_at,
                recorded_on=local_date(row.recorded_at),
                treatment_started=bool(row.treatment_started),
                on_treatment=bool(row.on_treatment),
            )
        )

    referral_sent = (
        exists()
        .where(
            Task.case_id == Visit.case_id,
            Task.kind == TaskKind.PHYSIO,
            Task.status == TaskStatus.DONE,
            Task.referral_on.is_not(None),
        )
        .label("referred")
    )
    visit_rows = (
        await session.execute(
            select(Visit.recorded_at, referral_sent)
            .join(Case, Case.id == Visit.case_id)
            .where(Case.unit_id == unit_id, _active(), *in_span(Visit.recorded_at))
        )
    ).all()

    noted = (
        await session.execute(
            select(FollowUp.recorded_at, Case.patient_key)
            .join(Case, Case.id == FollowUp.case_id)
            .where(
                Case.unit_id == unit_id,
                _active(),
                FollowUp.new_fracture.is_(True),
                *in_span(FollowUp.recorded_at),
            )
        )
    ).all()
    earlier = aliased(Case)
    earlier_decision = aliased(Decision)
    decided_before = exists().where(
        earlier_decision.case_id == earlier.id,
        earlier.patient_key == Case.patient_key,
        _active(earlier),
        or_(
            earlier.report_system != Case.report_system,
            earlier.report_value != Case.report_value,
        ),
        earlier_decision.at < Case.received_at,
    )
    arrived = (
        await session.execute(
            select(Case.received_at, Case.patient_key).where(
                and_(
                    Case.unit_id == unit_id,
                    _active(),
                    Case.fracture_code.is_not(None),
                    *in_span(Case.received_at),
                    decided_before,
                )
            )
        )
    ).all()
    refractures = [(local_date(at), key) for at, key in [*noted, *arrived] if at is not None]
    return KpiRows(
        follow_ups={case_id: tuple(records) for case_id, records in follow_ups.items()},
        visits=tuple(
            (local_date(row.recorded_at), bool(row.referred))
            for row in visit_rows
            if row.recorded_at is not None
        ),
        refractures=tuple(sorted(refractures)),
    )
