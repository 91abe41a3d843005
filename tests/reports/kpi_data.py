"""A known data set for the fracture-liaison KPIs, built straight through the ORM.

Unit Tingvalla unless said; times UTC at 10:00 (the same Stockholm date) unless said.
Patients are `patient-<ref>` unless said. "FU" is a recorded follow-up.

| case | received | decision                | visit (recorded)      | and                          |
|------|----------|-------------------------|-----------------------|------------------------------|
| OLD  | 25-03-15 | normal_letter 25-03-16  | —                     | before the chart's 12 months |
| P1   | 01-10    | call_in 01-12           | 03-10 treated         | physio done, referral 03-15; |
|      |          |                         |                       | FU 03-20 started, on, NEW FX |
| P2   | 01-11    | call_in 01-13           | 03-11 not treated     | physio done, no referral day |
| P3   | 01-12    | call_in 01-14           | 03-12                 | physio open, referral 03-13  |
| P4   | 01-13    | call_in 01-15           | 03-31 22:30 (04-01)   | physio done, referral 04-02  |
| P5   | 01-14    | call_in 01-16           | 03-13 not treated     | —                            |
| K8   | 02-20    | call_in 03-02           | —                     | —                            |
| K9   | 02-25    | other 03-04             | —                     | —                            |
| K1   | 03-02    | call_in 03-16 (14 d)    | 04-20 treated         | FU 05-10 started, on, NEW FX;|
|      |          |                         |                       | FU 27-01-04 on; 27-03-01 off |
| K2   | 03-03    | call_in 03-18 (15 d)    | 05-05 not treated     | FU 07-10 (114 d) started, on;|
|      |          |                         |                       | FU 12-23 (280 d) on          |
| K3   | 03-05    | call_in 03-06           | 06-26 (112 d) treated | FU 06-27 (113 d);            |
|      |          |                         |                       | FU 27-05-13 (433 d) on       |
| K4   | 03-10    | normal_letter 03-11     | —                     | —                            |
| K5   | 03-20    | —                       | —                     | —                            |
| K6   | 03-25    | normal_letter 03-26, superseded by its correction (received 04-02 09:00, |
|      |          | fracture S72.0, normal_letter 04-05 09:00): decided 11 days after 03-25  |
| K7   | 03-12    | cancelled               | —                     | —                            |
| N1   | 03-22    | —                       | —                     | patient-P1, fracture S52.5   |
| N2   | 03-23    | —                       | —                     | patient-K5, fracture S72.0   |
| N3   | 03-29    | normal_letter 03-30     | —                     | patient-K4, fracture S22.3   |
| O1   | 03-20    | — (unit Other)          | —                     | patient-K2, fracture S42.2   |
| O2   | 01-05    | call_in 01-06 (Other)   | —                     | FU 03-15 NEW FX              |

Dates without a year are 2026; "25-" is 2025 and "27-" 2027.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases.models import Case
from bot.directory.models import Staff, Unit
from bot.tasks.models import Task
from bot.visits.models import FollowUp
from tests.reports.test_quality import OTHER, UNIT, Builder, utc

__all__ = ["OTHER", "UNIT", "KpiBuilder", "seed_kpis"]


class KpiBuilder(Builder):
    """The quality report's builder, with a patient, an index fracture, follow-ups and the
    physiotherapy referral."""

    async def answer(
        self,
        ref: str,
        received: str,
        state: str,
        *,
        patient: str | None = None,
        fracture: str | None = None,
        other_unit: bool = False,
        supersedes: Case | None = None,
    ) -> Case:
        case = await self.case(ref, received, state, other_unit=other_unit, supersedes=supersedes)
        case.patient_key = patient or f"patient-{ref}"
        case.fracture_code = fracture
        await self.session.flush()
        return case

    async def follow_up(
        self,
        case: Case,
        recorded: str,
        *,
        started: bool | None = None,
        on: bool | None = None,
        new_fracture: bool | None = False,
        number: int = 1,
    ) -> None:
        self.session.add(
            FollowUp(
                case_id=case.id,
                number=number,
                due=utc(recorded).date(),
                physician_id=self.physician.id,
                created_at=utc("2026-01-01 00:00"),
                recorded_at=utc(recorded),
                recorded_by_id=self.physician.id,
                treatment_started=started,
                on_treatment=on,
                falls=False,
                new_fracture=new_fracture,
            )
        )
        await self.session.flush()

    async def physio(self, case: Case, status: str, referral_on: date | None) -> None:
        self.session.add(
            Task(
                case_id=case.id,
                unit_id=case.unit_id,
                kind="physio",
                title="Fysioterapikontakt",
                assignee_role="mva",
                due=date(2026, 3, 20),
                status=status,
                created_at=utc("2026-03-01 00:00"),
                done_at=utc("2026-03-16 10:00") if status == "done" else None,
                referral_on=referral_on,
                referral_clinic="Fysioterapi Tingvalla" if referral_on else None,
            )
        )
        await self.session.flush()


async def seed_kpis(session: AsyncSession) -> None:
    """The data of the module docstring (the sample directory must be loaded)."""
    unit = await session.scalar(select(Unit).where(Unit.hsa_id == UNIT))
    anna = await session.scalar(select(Staff).where(Staff.name == "Anna Berg"))
    assert unit is not None and anna is not None
    other = Unit(hsa_id=OTHER, name="Annan vårdcentral", settings={})
    session.add(other)
    await session.flush()
    b = KpiBuilder(session, unit, other, anna)

    old = await b.answer("OLD", "2025-03-15 10:00", "closed")
    await b.decide(old, "normal_letter", "2025-03-16 10:00")

    p1 = await b.answer("P1", "2026-01-10 10:00", "closed")
    await b.decide(p1, "call_in", "2026-01-12 10:00")
    await b.visit(p1, "2026-03-10 10:00", treated=True, physio=True)
    await b.physio(p1, "done", date(2026, 3, 15))
    await b.follow_up(p1, "2026-03-20 10:00", started=True, on=True, new_fracture=True)
    p2 = await b.answer("P2", "2026-01-11 10:00", "closed")
    await b.decide(p2, "call_in", "2026-01-13 10:00")
    await b.visit(p2, "2026-03-11 10:00", treated=False, physio=True)
    await b.physio(p2, "done", None)
    p3 = await b.answer("P3", "2026-01-12 10:00", "closed")
    await b.decide(p3, "call_in", "2026-01-14 10:00")
    await b.visit(p3, "2026-03-12 10:00", physio=True)
    await b.physio(p3, "open", date(2026, 3, 13))
    p4 = await b.answer("P4", "2026-01-13 10:00", "closed")
    await b.decide(p4, "call_in", "2026-01-15 10:00")
    await b.visit(p4, "2026-03-31 22:30", physio=True)
    await b.physio(p4, "done", date(2026, 4, 2))
    p5 = await b.answer("P5", "2026-01-14 10:00", "closed")
    await b.decide(p5, "call_in", "2026-01-16 10:00")
    await b.visit(p5, "2026-03-13 10:00", treated=False, physio=False)

    k8 = await b.answer("K8", "2026-02-20 10:00", "decided")
    await b.decide(k8, "call_in", "2026-03-02 10:00")
    k9 = await b.answer("K9", "2026-02-25 10:00", "closed")
    await b.decide(k9, "other", "2026-03-04 10:00")

    k1 = await b.answer("K1", "2026-03-02 10:00", "follow_up")
    await b.decide(k1, "call_in", "2026-03-16 10:00")
    await b.visit(k1, "2026-04-20 10:00", treated=True, physio=False)
    await b.follow_up(k1, "2026-05-10 10:00", started=True, on=True, new_fracture=True)
    await b.follow_up(k1, "2027-01-04 10:00", started=True, on=True, number=2)
    await b.follow_up(k1, "2027-03-01 10:00", started=True, on=False, number=3)
    k2 = await b.answer("K2", "2026-03-03 10:00", "follow_up")
    await b.decide(k2, "call_in", "2026-03-18 10:00")
    await b.visit(k2, "2026-05-05 10:00", treated=False, physio=False)
    await b.follow_up(k2, "2026-07-10 10:00", started=True, on=True)
    await b.follow_up(k2, "2026-12-23 10:00", started=True, on=True, number=2)
    k3 = await b.answer("K3", "2026-03-05 10:00", "follow_up")
    await b.decide(k3, "call_in", "2026-03-06 10:00")
    await b.visit(k3, "2026-06-26 10:00", treated=True, physio=False)
    await b.follow_up(k3, "2026-06-27 10:00")
    await b.follow_up(k3, "2027-05-13 10:00", started=True, on=True, number=2)
    k4 = await b.answer("K4", "2026-03-10 10:00", "closed")
    await b.decide(k4, "normal_letter", "2026-03-11 10:00")
    await b.answer("K5", "2026-03-20 10:00", "awaiting_decision")
    k6 = await b.answer("K6", "2026-03-25 10:00", "superseded")
    await b.decide(k6, "normal_letter", "2026-03-26 10:00")
    k6b = await b.answer("K6", "2026-04-02 09:00", "closed", fracture="S72.0", supersedes=k6)
    await b.decide(k6b, "normal_letter", "2026-04-05 09:00")
    await b.answer("K7", "2026-03-12 10:00", "cancelled")

    await b.answer("N1", "2026-03-22 10:00", "awaiting_decision", patient="patient-P1",
                   fracture="S52.5")  # fmt: skip
    await b.answer("N2", "2026-03-23 10:00", "awaiting_decision", patient="patient-K5",
                   fracture="S72.0")  # fmt: skip
    n3 = await b.answer("N3", "2026-03-29 10:00", "closed", patient="patient-K4",
                        fracture="S22.3")  # fmt: skip
    await b.decide(n3, "normal_letter", "2026-03-30 10:00")

    await b.answer("O1", "2026-03-20 10:00", "awaiting_decision", patient="patient-K2",
                   fracture="S42.2", other_unit=True)  # fmt: skip
    o2 = await b.answer("O2", "2026-01-05 10:00", "follow_up", other_unit=True)
    await b.decide(o2, "call_in", "2026-01-06 10:00")
    await b.follow_up(o2, "2026-03-15 10:00", new_fracture=True)
