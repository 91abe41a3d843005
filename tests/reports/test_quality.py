"""Quality figures (SPEC section 5) on known data, on SQLite and PostgreSQL.

The data (unit Tingvalla unless said), times in UTC, local Stockholm date in brackets
where it differs; March 2026 is CET (UTC+1) until the 29th, CEST (UTC+2) after:

| case | answer | received            | decision (at)                     | visit                 |
|------|--------|---------------------|-----------------------------------|-----------------------|
| c1   | R1     | 02-28 23:30 (03-01) | call_in 03-03 09:00               | 04-20 T P, lab 04-10  |
| c2   | R2     | 03-10 10:00         | call_in 03-15 10:00               | 05-20 07:00 lab 08:00 |
| c3   | R3     | 03-21 08:00         | call_in 03-31 21:30 (23:30 local) | 05-31 T, lab 05-25    |
| c4   | R4     | 03-05 10:00         | call_in 03-06 10:00               | 06-20, not recorded   |
| c5   | R5     | 02-26 10:00         | normal_letter 02-28 23:10 (03-01) | —                     |
| c6   | R6     | 03-26 10:00         | call_in 03-30 07:00               | 04-29 T P, lab open   |
| c7   | R7     | 03-08, superseded   | call_in 03-09                     | —                     |
| c8   | R7     | 03-16, corrects c7  | —                                 | —                     |
| c9   | R9     | 02-20, superseded   | —                                 | —                     |
| c10  | R9     | 03-02, corrects c9  | —                                 | —                     |
| c11  | R11    | 04-02, unassigned   | —                                 | —                     |
| c12  | R12    | 03-18, cancelled    | normal_letter 03-19               | —                     |
| c14  | R14    | 03-31 22:00 (04-01) | —                                 | —                     |
| c15  | R15    | 02-28 22:59         | —                                 | —                     |
| c16  | R16    | 03-28 09:00         | normal_call 03-31 22:30 (04-01)   | —                     |

T: treatment started, P: physiotherapy contact. Another unit has c13 (R13, a call-in
decided 03-11 with a recorded visit) and c18 (R18, unassigned).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.audit.models import AuditEntry
from bot.cases.models import Case, Decision
from bot.cli import main
from bot.config import Settings
from bot.db import create_engine, session_factory, transaction
from bot.directory.models import Staff, Unit
from bot.directory.service import load_directory
from bot.reports import export
from bot.reports.kpis import KPI_KEYS
from bot.reports.page import report_page
from bot.reports.service import (
    KEYS,
    Figure,
    QualityReport,
    ReportError,
    UnknownUnit,
    quality_figures,
)
from bot.tasks.models import Task
from bot.visits.models import Visit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UNIT = "SE2321000156-7TNG"
OTHER = "SE2321000156-9OTH"
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
TODAY = date(2026, 6, 15)
TOKEN = "report-test-token"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Builder:
    """Adds cases, decisions, tasks and visits straight through the ORM."""

    def __init__(self, session: AsyncSession, unit: Unit, other: Unit, physician: Staff) -> None:
        self.session = session
        self.unit = unit
        self.other = other
        self.physician = physician

    async def case(
        self,
        ref: str,
        received: str,
        state: str,
        *,
        other_unit: bool = False,
        supersedes: Case | None = None,
    ) -> Case:
        case = Case(
            state=state,
            unit_id=(self.other if other_unit else self.unit).id,
            physician_id=None if state == "awaiting_assignment" else self.physician.id,
            received_at=utc(received),
            report_system="urn:oid:1.2.752.test",
            report_value=ref,
            report_status="corrected" if supersedes else "final",
            content_hash=f"hash-{ref}-{received}",
            patient_key=f"patient-{ref}",
            measurements=[],
            supersedes_id=supersedes.id if supersedes else None,
        )
        self.session.add(case)
        await self.session.flush()
        if supersedes is not None:
            supersedes.superseded_by_id = case.id
            await self.session.flush()
        return case

    async def decide(self, case: Case, kind: str, at: str) -> None:
        self.session.add(Decision(case_id=case.id, kind=kind, by_id=self.physician.id, at=utc(at)))
        case.decided_at = utc(at)
        await self.session.flush()

    async def task(
        self, case: Case, kind: str, due: date, status: str = "open", done_at: str | None = None
    ) -> None:
        self.session.add(
            Task(
                case_id=case.id,
                unit_id=case.unit_id,
                kind=kind,
                title=kind,
                assignee_role="mva",
                due=due,
                status=status,
                created_at=utc("2026-01-01 00:00"),
                done_at=utc(done_at) if done_at else None,
            )
        )
        await self.session.flush()

    async def visit(
        self,
        case: Case,
        booked: str,
        *,
        recorded: bool = True,
        treated: bool | None = None,
        physio: bool | None = None,
    ) -> None:
        self.session.add(
            Visit(
                case_id=case.id,
                physician_id=self.physician.id,
                booked_at=utc(booked),
                recorded_at=utc(booked) if recorded else None,
                patient_informed=True if recorded else None,
                treatment_started=treated,
                treatment_drug="alendronat" if treated else None,
                no_treatment_reason="avböjer" if treated is False else None,
                physio_contact=physio,
            )
        )
        await self.session.flush()


async def seed(session: AsyncSession) -> None:
    """The data of the module docstring."""
    unit = await session.scalar(select(Unit).where(Unit.hsa_id == UNIT))
    anna = await session.scalar(select(Staff).where(Staff.name == "Anna Berg"))
    assert unit is not None and anna is not None
    other = Unit(hsa_id=OTHER, name="Annan vårdcentral", settings={})
    session.add(other)
    await session.flush()
    b = Builder(session, unit, other, anna)

    c1 = await b.case("R1", "2026-02-28 23:30", "closed")
    await b.decide(c1, "call_in", "2026-03-03 09:00")
    await b.task(c1, "lab_package", date(2026, 3, 6), "done", "2026-04-10 12:00")
    await b.task(c1, "book_visit", date(2026, 5, 3), "done", "2026-03-20 12:00")
    await b.visit(c1, "2026-04-20 08:00", treated=True, physio=True)

    c2 = await b.case("R2", "2026-03-10 10:00", "decided")
    await b.decide(c2, "call_in", "2026-03-15 10:00")
    await b.task(c2, "lab_package", date(2026, 3, 18), "done", "2026-05-20 08:00")
    await b.visit(c2, "2026-05-20 07:00", treated=False, physio=False)

    c3 = await b.case("R3", "2026-03-21 08:00", "decided")
    await b.decide(c3, "call_in", "2026-03-31 21:30")
    await b.task(c3, "lab_package", date(2026, 4, 3), "done", "2026-05-25 10:00")
    await b.visit(c3, "2026-05-31 08:00", treated=True, physio=False)

    c4 = await b.case("R4", "2026-03-05 10:00", "decided")
    await b.decide(c4, "call_in", "2026-03-06 10:00")
    await b.task(c4, "invitation_letter", date(2026, 3, 11))  # overdue
    await b.task(c4, "waitlist", date(2026, 3, 25))  # overdue at 03-31, not at 03-20
    await b.task(c4, "lab_package", date(2026, 3, 11), "done", "2026-03-09 10:00")
    await b.visit(c4, "2026-06-20 08:00", recorded=False)

    c5 = await b.case("R5", "2026-02-26 10:00", "closed")
    await b.decide(c5, "normal_letter", "2026-02-28 23:10")
    await b.task(c5, "normal_letter", date(2026, 3, 8), "done", "2026-03-02 10:00")

    c6 = await b.case("R6", "2026-03-26 10:00", "decided")
    await b.decide(c6, "call_in", "2026-03-30 07:00")
    await b.task(c6, "lab_package", date(2026, 3, 31))  # due on the reference date: not overdue
    await b.visit(c6, "2026-04-29 08:00", treated=True, physio=True)

    c7 = await b.case("R7", "2026-03-08 09:00", "superseded")
    await b.decide(c7, "call_in", "2026-03-09 09:00")
    await b.task(c7, "waitlist", date(2026, 3, 12), "cancelled")
    await b.case("R7", "2026-03-16 09:00", "awaiting_decision", supersedes=c7)

    c9 = await b.case("R9", "2026-02-20 09:00", "superseded")
    await b.case("R9", "2026-03-02 09:00", "awaiting_decision", supersedes=c9)

    await b.case("R11", "2026-04-02 09:00", "awaiting_assignment")

    c12 = await b.case("R12", "2026-03-18 09:00", "cancelled")
    await b.decide(c12, "normal_letter", "2026-03-19 09:00")
    await b.task(c12, "normal_letter", date(2026, 3, 26))  # open, but the case is cancelled

    c13 = await b.case("R13", "2026-03-10 09:00", "decided", other_unit=True)
    await b.decide(c13, "call_in", "2026-03-11 09:00")
    await b.task(c13, "lab_package", date(2026, 3, 1))
    await b.visit(c13, "2026-04-01 08:00", treated=True, physio=True)
    await b.case("R18", "2026-03-12 09:00", "awaiting_assignment", other_unit=True)

    await b.case("R14", "2026-03-31 22:00", "awaiting_decision")
    await b.case("R15", "2026-02-28 22:59", "awaiting_decision")

    c16 = await b.case("R16", "2026-03-28 09:00", "decided")
    await b.decide(c16, "normal_call", "2026-03-31 22:30")
    await b.task(c16, "normal_call", date(2026, 4, 8))


async def report_for(
    factory: async_sessionmaker[AsyncSession],
    start: date,
    end: date,
    today: date = TODAY,
    unit: str = UNIT,
) -> QualityReport:
    async with factory() as session:
        return await quality_figures(session, unit_hsa=unit, start=start, end=end, today=today)


def rows(report: QualityReport) -> list[tuple[str, int | float | None, int | None, int | None]]:
    return [(f.key, f.value, f.numerator, f.denominator) for f in report.figures()]


def shown(report: QualityReport) -> dict[str, str]:
    return {f.key: export.display_value(f) for f in report.figures()}


@pytest.fixture
async def seeded(
    factory: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    async with transaction(factory) as session:
        await seed(session)
    return factory


async def test_march(seeded: async_sessionmaker[AsyncSession]) -> None:
    report = await report_for(seeded, *MARCH)
    assert rows(report) == [
        ("answers_received", 7, None, None),
        ("median_days_answer_to_decision", 3.5, None, 6),
        ("median_days_decision_to_visit", 54.5, None, 4),
        ("seen_within_call_in_months", 75.0, 3, 4),
        ("call_ins_without_visit", 1, 1, 5),
        ("lab_package_before_visit", 50.0, 2, 4),
        ("treatment_started", 75.0, 3, 4),
        ("physio_contacts", 2, 2, 4),
        ("overdue_tasks", 2, None, None),
        ("awaiting_assignment", 1, None, None),
    ]
    assert shown(report) == {
        "answers_received": "7",
        "median_days_answer_to_decision": "3.5 (n=6)",
        "median_days_decision_to_visit": "54.5 (n=4)",
        "seen_within_call_in_months": "75.0 % (3/4)",
        "call_ins_without_visit": "1 av 5",
        "lab_package_before_visit": "50.0 % (2/4)",
        "treatment_started": "75.0 % (3/4)",
        "physio_contacts": "2 av 4",
        "overdue_tasks": "2",
        "awaiting_assignment": "1",
    }
    assert report.overdue_reference == date(2026, 3, 31)
    assert report.call_in_months == 2
    assert report.seen_within_call_in_months.label == "Kallade med besök inom 2 månader"
    assert [f.key for f in report.figures()] == list(KEYS)
    assert all(f.definition for f in report.figures())


async def test_to_is_inclusive_and_odd_median(seeded: async_sessionmaker[AsyncSession]) -> None:
    """Ending on 03-30 leaves out c3 (decided 03-31 23:30 local) and keeps c6 (03-30)."""
    report = await report_for(seeded, date(2026, 3, 1), date(2026, 3, 30))
    assert rows(report) == [
        ("answers_received", 7, None, None),  # c14 and c16 are still in; c3 on 03-21
        ("median_days_answer_to_decision", 3.0, None, 5),  # [1, 2, 3, 4, 5]
        ("median_days_decision_to_visit", 48.0, None, 3),  # [30, 48, 66]
        ("seen_within_call_in_months", 66.7, 2, 3),
        ("call_ins_without_visit", 1, 1, 4),
        ("lab_package_before_visit", 33.3, 1, 3),
        ("treatment_started", 66.7, 2, 3),
        ("physio_contacts", 2, 2, 3),
        ("overdue_tasks", 2, None, None),  # reference 03-30: c4 waitlist 03-25, letter 03-11
        ("awaiting_assignment", 1, None, None),
    ]
    assert shown(report)["median_days_answer_to_decision"] == "3 (n=5)"
    assert shown(report)["seen_within_call_in_months"] == "66.7 % (2/3)"


async def test_single_days_at_the_boundaries(seeded: async_sessionmaker[AsyncSession]) -> None:
    # 03-01 local: c1 received 00:30 (02-28 23:30 UTC), c5 decided 00:10 (02-28 23:10 UTC)
    first = await report_for(seeded, date(2026, 3, 1), date(2026, 3, 1))
    assert first.answers_received.value == 1
    assert first.median_days_answer_to_decision.value == 3.0
    assert first.median_days_answer_to_decision.denominator == 1
    # 03-31 local: c3 decided 23:30 CEST; c14 received 04-01 00:00 CEST is not in
    last = await report_for(seeded, date(2026, 3, 31), date(2026, 3, 31))
    assert last.answers_received.value == 0
    assert last.median_days_answer_to_decision.value == 10.0
    assert last.seen_within_call_in_months.value == 100.0  # 05-31 is 03-31 + 2 months
    # 02-28 local: c15 (23:59 local) only; c1 and c5's decision are on 03-01
    feb = await report_for(seeded, date(2026, 2, 28), date(2026, 2, 28))
    assert feb.answers_received.value == 1
    assert feb.median_days_answer_to_decision.value is None


async def test_overdue_is_counted_up_to_today_when_earlier(
    seeded: async_sessionmaker[AsyncSession],
) -> None:
    report = await report_for(seeded, *MARCH, today=date(2026, 3, 20))
    assert report.overdue_reference == date(2026, 3, 20)
    assert report.overdue_tasks.value == 1  # c4's letter (03-11); its waitlist is due 03-25


async def test_empty_period(seeded: async_sessionmaker[AsyncSession]) -> None:
    report = await report_for(seeded, date(2025, 1, 1), date(2025, 1, 31))
    assert rows(report) == [
        ("answers_received", 0, None, None),
        ("median_days_answer_to_decision", None, None, 0),
        ("median_days_decision_to_visit", None, None, 0),
        ("seen_within_call_in_months", None, 0, 0),
        ("call_ins_without_visit", 0, 0, 0),
        ("lab_package_before_visit", None, 0, 0),
        ("treatment_started", None, 0, 0),
        ("physio_contacts", 0, 0, 0),
        ("overdue_tasks", 0, None, None),
        ("awaiting_assignment", 1, None, None),
    ]
    assert shown(report) == {
        "answers_received": "0",
        "median_days_answer_to_decision": "–",
        "median_days_decision_to_visit": "–",
        "seen_within_call_in_months": "–",
        "call_ins_without_visit": "0 av 0",
        "lab_package_before_visit": "–",
        "treatment_started": "–",
        "physio_contacts": "0 av 0",
        "overdue_tasks": "0",
        "awaiting_assignment": "1",
    }


async def test_other_unit_sees_only_its_own(seeded: async_sessionmaker[AsyncSession]) -> None:
    report = await report_for(seeded, *MARCH, unit=OTHER)
    assert rows(report) == [
        ("answers_received", 2, None, None),  # R13 and the unassigned R18
        ("median_days_answer_to_decision", 1.0, None, 1),
        ("median_days_decision_to_visit", 21.0, None, 1),
        ("seen_within_call_in_months", 100.0, 1, 1),
        ("call_ins_without_visit", 0, 0, 1),
        ("lab_package_before_visit", 0.0, 0, 1),
        ("treatment_started", 100.0, 1, 1),
        ("physio_contacts", 1, 1, 1),
        ("overdue_tasks", 1, None, None),
        ("awaiting_assignment", 1, None, None),
    ]


async def test_unknown_unit_and_reversed_period(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(UnknownUnit, match="SE0000000000-NONE"):
        await report_for(factory, *MARCH, unit="SE0000000000-NONE")
    with pytest.raises(ReportError):
        await report_for(factory, date(2026, 4, 1), date(2026, 3, 1))
    assert issubclass(UnknownUnit, ValueError)


EXPECTED_CSV = (
    "key,label,value,numerator,denominator,band\r\n"
    "answers_received,Mottagna svar,7,,,\r\n"
    'median_days_answer_to_decision,"Mediantid svar → beslut, dagar",3.5,,6,\r\n'
    'median_days_decision_to_visit,"Mediantid beslut → besök, dagar",54.5,,4,\r\n'
    "seen_within_call_in_months,Kallade med besök inom 2 månader,75.0,3,4,\r\n"
    "call_ins_without_visit,Kallade utan registrerat besök,1,1,5,\r\n"
    "lab_package_before_visit,Osteoporospaket taget före besöket,50.0,2,4,\r\n"
    "treatment_started,Behandling påbörjad,75.0,3,4,\r\n"
    "physio_contacts,Kontakt med fysioterapeut,2,2,4,\r\n"
    "overdue_tasks,Försenade uppgifter,2,,,\r\n"
    "awaiting_assignment,Väntar på fördelning (nu),1,,,\r\n"
    # the KPIs (tests/reports/test_kpis.py has their own data set): R1 R2 R3 R4 R6 R16
    # decided within 14 days of 7 answers (R7's correction is undecided); c1-c4 and c6
    # call-ins of c1-c6; c1 c3 c6 treated at the visit within 112 days; no follow-up, no
    # visit recorded in March, no re-fracture
    "decided_within_14_days,Beslut inom 14 dagar från svar,85.7,6,7,>80\r\n"
    "treatment_recommended,Behandling rekommenderad (kallelse),83.3,5,6,>80\r\n"
    "treatment_started_16w,Behandling påbörjad inom 16 veckor,60.0,3,5,50-80\r\n"
    "monitored_16w,Uppföljning inom 16 veckor,0.0,0,5,<50\r\n"
    "on_treatment_52w,Kvar på behandling efter 52 veckor,0.0,0,3,<50\r\n"
    "physio_referred,Remiss till fysioterapeut skickad,,0,0,\r\n"
    "refractures,Ny fraktur (refraktur),0.0,0,6,<50\r\n"
)


async def test_csv(seeded: async_sessionmaker[AsyncSession]) -> None:
    text = export.to_csv(await report_for(seeded, *MARCH))
    assert text == EXPECTED_CSV
    parsed = list(csv.reader(io.StringIO(text)))
    assert len(parsed) == 18 and all(len(row) == 6 for row in parsed)
    assert parsed[0][:5] == ["key", "label", "value", "numerator", "denominator"]  # as before

    empty = export.to_csv(await report_for(seeded, date(2025, 1, 1), date(2025, 1, 31)))
    assert (
        empty.splitlines()[2]
        == 'median_days_answer_to_decision,"Mediantid svar → beslut, dagar",,,0,'
    )


def test_figure_display() -> None:
    assert export.display_value(Figure("k", "L", 12.5, 1, 8, "share")) == "12.5 % (1/8)"
    assert export.display_value(Figure("k", "L", None, 0, 0, "share")) == "–"
    assert export.display_value(Figure("k", "L", 61.0, None, 4, "median_days")) == "61 (n=4)"
    assert export.display_value(Figure("k", "L", 12)) == "12"


# --- the command -----------------------------------------------------------------------


async def _seed_database(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with transaction(session_factory(engine)) as session:
            await load_directory(
                session, (FIXTURES / "directory.yaml").read_text(encoding="utf-8"), actor="test"
            )
            await seed(session)
    finally:
        await engine.dispose()


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """`main` reconfigures the root logger; put back the handlers the test run installed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


EXPECTED_TEXT = """\
Kvalitetsmått för Tingvalla vårdcentral (SE2321000156-7TNG)
Period 2026-03-01 – 2026-03-31 (båda dagarna ingår, datum i Europe/Stockholm)
Ögonblicksbild (försenade uppgifter, väntar på fördelning) per 2026-06-15

answers_received                Mottagna svar                       7
median_days_answer_to_decision  Mediantid svar → beslut, dagar      3.5 (n=6)
median_days_decision_to_visit   Mediantid beslut → besök, dagar     54.5 (n=4)
seen_within_call_in_months      Kallade med besök inom 2 månader    75.0 % (3/4)
call_ins_without_visit          Kallade utan registrerat besök      1 av 5
lab_package_before_visit        Osteoporospaket taget före besöket  50.0 % (2/4)
treatment_started               Behandling påbörjad                 75.0 % (3/4)
physio_contacts                 Kontakt med fysioterapeut           2 av 4
overdue_tasks                   Försenade uppgifter                 2
awaiting_assignment             Väntar på fördelning (nu)           1

Frakturkedjans indikatorer (IOF-nivå <50, 50-80 eller >80 %):
decided_within_14_days  Beslut inom 14 dagar från svar       85.7 % (6/7)  >80
treatment_recommended   Behandling rekommenderad (kallelse)  83.3 % (5/6)  >80
treatment_started_16w   Behandling påbörjad inom 16 veckor   60.0 % (3/5)  50-80
monitored_16w           Uppföljning inom 16 veckor           0.0 % (0/5)   <50
on_treatment_52w        Kvar på behandling efter 52 veckor   0.0 % (0/3)   <50
physio_referred         Remiss till fysioterapeut skickad    –             –
refractures             Ny fraktur (refraktur)               0.0 % (0/6)   <50

Definitioner:
"""


def test_cli_report(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keep_logging: None,
) -> None:
    asyncio.run(_seed_database(db_url))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr("bot.reports.command._today", lambda: TODAY)
    out_csv = tmp_path / "kvalitet.csv"

    argv = ["report", "--unit", UNIT, "--from", "2026-03-01", "--to", "2026-03-31"]
    assert main([*argv, "--csv", str(out_csv)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(EXPECTED_TEXT)
    definitions = text[len(EXPECTED_TEXT) :].splitlines()
    assert [line.split(":")[0].strip() for line in definitions] == [*KEYS, *KPI_KEYS]
    overdue = "  overdue_tasks: Enhetens uppgifter som är öppna nu med förfallodag före 2026-03-31"
    assert overdue in text
    assert out_csv.read_bytes() == EXPECTED_CSV.encode("utf-8")

    assert main([*argv, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["unit"] == {"hsa_id": UNIT, "name": "Tingvalla vårdcentral"}
    assert (body["from"], body["to"], body["today"]) == ("2026-03-01", "2026-03-31", "2026-06-15")
    assert body["figures"][1] == {
        "key": "median_days_answer_to_decision",
        "label": "Mediantid svar → beslut, dagar",
        "kind": "median_days",
        "value": 3.5,
        "numerator": None,
        "denominator": 6,
        "display": "3.5 (n=6)",
        "definition": body["figures"][1]["definition"],
    }
    assert [f["display"] for f in body["figures"]][3] == "75.0 % (3/4)"
    assert [(k["key"], k["percent"], k["band"]) for k in body["kpis"]] == [
        ("decided_within_14_days", 85.7, ">80"),
        ("treatment_recommended", 83.3, ">80"),
        ("treatment_started_16w", 60.0, "50-80"),
        ("monitored_16w", 0.0, "<50"),
        ("on_treatment_52w", 0.0, "<50"),
        ("physio_referred", None, None),
        ("refractures", 0.0, "<50"),
    ]

    assert main(["report", "--unit", "SE0000000000-NONE", "--from", "2026-03-01",
                 "--to", "2026-03-31"]) == 1  # fmt: skip
    assert "unknown unit 'SE0000000000-NONE'" in capsys.readouterr().err

    for bad in (["--from", "2026-02-30", "--to", "2026-03-31"],
                ["--from", "1 mars", "--to", "2026-03-31"],
                ["--from", "2026-04-01", "--to", "2026-03-31"],
                ["--from", "0001-01-01", "--to", "0001-01-02"],
                ["--from", "2026-01-01", "--to", "9999-12-31"]):  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            main(["report", "--unit", UNIT, *bad])
        assert exited.value.code == 2
        assert "frakturkedjan report: error:" in capsys.readouterr().err

    async def reads() -> list[tuple[str, str, str]]:
        engine = create_engine(db_url)
        try:
            async with session_factory(engine)() as session:
                found = await session.scalars(
                    select(AuditEntry).where(AuditEntry.action == "report.read")
                )
                return [(a.actor, a.outcome, a.detail["to"]) for a in found.all()]
        finally:
            await engine.dispose()

    assert asyncio.run(reads()) == [("cli:report", "ok", "2026-03-31")] * 2


# --- the page --------------------------------------------------------------------------


async def test_page(db_url: str, seeded: async_sessionmaker[AsyncSession]) -> None:
    settings = Settings(database_url=db_url, report_tokens_raw=TOKEN)
    app = create_app(settings, local=True, run_worker=False, clock=lambda: utc("2026-06-15 10:00"))
    app.router.add_get("/reports/quality", report_page)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    march: dict[str, Any] = {"unit": UNIT, "from": "2026-03-01", "to": "2026-03-31"}
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/reports/quality", params=march)
        assert response.status == 401
        response = await client.get(
            "/reports/quality", params=march, headers={"Authorization": "Bearer nope"}
        )
        assert response.status == 401

        response = await client.get("/reports/quality", params=march, headers=auth)
        assert response.status == 200
        assert response.content_type == "text/html"
        html = await response.text()
        assert "<h1>Kvalitetsmått för Tingvalla vårdcentral (SE2321000156-7TNG)</h1>" in html
        assert '<td class="value">75.0 % (3/4)</td>' in html
        assert '<td class="value">3.5 (n=6)</td>' in html
        assert "Mediantid svar → beslut, dagar" in html
        assert "format=csv" in html and "&amp;" in html  # the CSV link, escaped

        response = await client.get(
            "/reports/quality", params={**march, "format": "csv"}, headers=auth
        )
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Content-Disposition"] == (
            'attachment; filename="kvalitet-SE2321000156-7TNG-2026-03-01-2026-03-31.csv"'
        )
        assert (await response.read()).decode("utf-8") == EXPECTED_CSV

        response = await client.get(
            "/reports/quality", params={**march, "format": "json"}, headers=auth
        )
        assert [f["value"] for f in (await response.json())["figures"]] == [
            7, 3.5, 54.5, 75.0, 1, 50.0, 75.0, 2, 2, 1,
        ]  # fmt: skip

        response = await client.get(
            "/reports/quality",
            params={"unit": UNIT, "from": "2025-01-01", "to": "2025-01-31"},
            headers=auth,
        )
        assert '<td class="value">–</td>' in await response.text()

        for params, path in (
            ({"from": "2026-03-01", "to": "2026-03-31"}, "unit"),
            ({**march, "from": "2026-3-1"}, "from"),
            ({**march, "to": "2026-02-30"}, "to"),
            ({**march, "from": "2026-04-01"}, "from"),
            ({**march, "format": "pdf"}, "format"),
        ):
            response = await client.get("/reports/quality", params=params, headers=auth)
            assert response.status == 400, params
            assert (await response.json())["problems"][0]["path"] == path

        response = await client.get(
            "/reports/quality", params={**march, "unit": "<b>SE0</b>"}, headers=auth
        )
        assert response.status == 404

    async with seeded() as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "report.read").order_by(AuditEntry.id)
        )
        reads = [(a.outcome, a.detail["format"], a.actor.startswith("api:token-")) for a in found]
    assert reads == [
        ("ok", "html", True),
        ("ok", "csv", True),
        ("ok", "json", True),
        ("ok", "html", True),
        ("not_found", "html", True),
    ]


async def test_page_escapes_unit_name(
    db_url: str, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(factory) as session:
        unit = await session.scalar(select(Unit).where(Unit.hsa_id == UNIT))
        assert unit is not None
        unit.name = "<script>alert(1)</script> & Co"
    settings = Settings(database_url=db_url, report_tokens_raw=TOKEN)
    app = create_app(settings, local=True, run_worker=False)
    app.router.add_get("/reports/quality", report_page)
    async with TestClient(TestServer(app)) as client:
        response = await client.get(
            "/reports/quality",
            params={"unit": UNIT, "from": "2026-03-01", "to": "2026-03-31"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        html = await response.text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_reports_call_no_teams_code() -> None:
    """`bot/reports/` is domain code: no Bot Framework SDK, no Teams layer (STYLE.md)."""
    from tests.test_layering import ROOT, SDK, TEAMS_LAYER, _is_under, imported_modules

    files = sorted((ROOT / "bot" / "reports").rglob("*.py"))
    assert len(files) >= 5
    offending = [
        f"{path.name}:{line}: {module}"
        for path in files
        for line, module in imported_modules(path)
        if _is_under(module, SDK + TEAMS_LAYER)
    ]
    assert offending == []
