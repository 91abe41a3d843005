"""The daily digest and reminders (SPEC 5) on SQLite and PostgreSQL, with literal dates.

The reference morning is Monday 2026-11-23 07:31 in Stockholm. Working days around it:
Thu 11-19, Fri 11-20, Mon 11-23, Tue 11-24, Wed 11-25, Thu 11-26 (the third working day
after Monday), Fri 11-27.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot import cli
from bot.audit.models import AuditEntry
from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.core.calendar import STOCKHOLM
from bot.db import create_engine, session_factory, transaction
from bot.directory.models import Staff, StaffRole, Unit
from bot.jobs import scheduler as scheduler_module
from bot.jobs.models import JobRun
from bot.jobs.scheduler import Scheduler
from bot.jobs.service import DailyResult, run_daily
from bot.outbox.models import OutboxMessage
from bot.tasks.models import Task
from bot.visits.models import FollowUp
from tests.cards.cardtools import executes, of_type
from tests.harness import (
    ANNA,
    CHANNEL,
    MARIA,
    card_of,
    card_text,
    check_card,
    personal_conversation,
    running_bot,
)
from tests.helpers import FIXTURES

Factory = async_sessionmaker[AsyncSession]

NOW = datetime(2026, 11, 23, 7, 31, tzinfo=STOCKHOLM)  # Monday
TINGVALLA = "SE2321000156-7TNG"
BACKA_CHANNEL = "19:mva-backa@thread.tacv2"
ANNA_AAD = ANNA["aad"]
ERIK_AAD = "00000000-0000-0000-0000-000000000103"
OLLE_AAD = "00000000-0000-0000-0000-000000000201"


def at(day: str, hhmm: str = "07:31") -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=STOCKHOLM)


# --- seeding ----------------------------------------------------------------------------


async def unit_id(session: AsyncSession, hsa_id: str = TINGVALLA) -> int:
    found = await session.scalar(select(Unit.id).where(Unit.hsa_id == hsa_id))
    assert found is not None
    return found


async def staff_id(session: AsyncSession, aad: str) -> int:
    found = await session.scalar(select(Staff.id).where(Staff.aad_object_id == aad))
    assert found is not None
    return found


async def add_backa(session: AsyncSession, *, digest_time: str | None = None) -> int:
    """A second unit with its own channel and physician (Olle Nord)."""
    unit = Unit(
        hsa_id="SE2321000156-7BCK",
        name="Backa vårdcentral",
        mva_channel=BACKA_CHANNEL,
        settings={"digest_time": digest_time} if digest_time else {},
        active=True,
    )
    session.add(unit)
    await session.flush()
    olle = Staff(name="Olle Nord", aad_object_id=OLLE_AAD, active=True)
    olle.roles = [StaffRole(unit_id=unit.id, role="physician")]
    session.add(olle)
    await session.flush()
    return unit.id


_numbers = iter(range(1000, 10_000))


async def add_case(
    session: AsyncSession,
    *,
    unit: int,
    state: str = CaseState.DECIDED,
    physician: int | None = None,
    received: datetime = at("2026-11-16", "09:00"),
    name: str = "Karin Holm",
    number: str = "194501011234",
    protected: bool = False,
) -> int:
    serial = next(_numbers)
    case = Case(
        state=state,
        unit_id=unit,
        physician_id=physician,
        received_at=received,
        scan_date=received.date(),
        report_system="urn:oid:1.2.752.test",
        report_value=f"dxa-{serial}",
        report_status="final",
        content_hash=hashlib.sha256(str(serial).encode()).hexdigest(),
        measurements=[],
        patient_key=hashlib.sha256(f"patient-{serial}".encode()).hexdigest(),
        patient_number=number,
        patient_id_kind="personnummer",
        patient_name=name,
        patient_birth_date=date(int(number[:4]), int(number[4:6]), int(number[6:8])),
        protected_identity=protected,
    )
    session.add(case)
    await session.flush()
    return case.id


async def add_task(
    session: AsyncSession,
    *,
    case: int,
    unit: int,
    due: str,
    title: str,
    status: str = "open",
    role: str = "mva",
    assignee: int | None = None,
    position: int = 1,
) -> int:
    task = Task(
        case_id=case,
        unit_id=unit,
        kind="waitlist",
        position=position,
        title=title,
        assignee_role=role,
        assignee_id=assignee,
        due=date.fromisoformat(due),
        status=status,
    )
    session.add(task)
    await session.flush()
    return task.id


async def seed_digest(factory: Factory) -> dict[str, int]:
    """Tasks around Monday 2026-11-23 in Tingvalla, one in Backa, one case to assign."""
    async with transaction(factory) as s:
        ting = await unit_id(s)
        backa = await add_backa(s)
        anna = await staff_id(s, ANNA_AAD)
        c1 = await add_case(s, unit=ting, name="Karin Holm", number="194501011234")
        c2 = await add_case(s, unit=ting, name="Sven Berg", number="193902028765")
        c3 = await add_case(s, unit=backa, name="Gun Ek", number="194203034321")
        await add_case(s, unit=ting, state=CaseState.AWAITING_ASSIGNMENT)
        ids = {
            "due_today": await add_task(
                s,
                case=c2,
                unit=ting,
                due="2026-11-23",
                title="Ring patienten om normalt svar",
                role="physician",
                assignee=anna,
            ),
            "late_fri": await add_task(
                s, case=c1, unit=ting, due="2026-11-20", title="Skicka brev", position=2
            ),
            "late_thu": await add_task(s, case=c2, unit=ting, due="2026-11-19", title="Boka"),
            "due_thu": await add_task(s, case=c1, unit=ting, due="2026-11-26", title="Prover"),
            "late_fri_first": await add_task(
                s, case=c1, unit=ting, due="2026-11-20", title="Väntelista", position=1
            ),
            "due_fri": await add_task(s, case=c1, unit=ting, due="2026-11-27", title="Läkartid"),
            "done": await add_task(
                s, case=c2, unit=ting, due="2026-11-20", title="Klar redan", status="done"
            ),
            "cancelled": await add_task(
                s, case=c2, unit=ting, due="2026-11-20", title="Avbruten", status="cancelled"
            ),
            "backa": await add_task(s, case=c3, unit=backa, due="2026-11-20", title="Backas"),
        }
    return ids


async def seed_reminders(factory: Factory) -> dict[str, int]:
    """Cases awaiting Anna's and Erik's decisions, received at known days."""
    async with transaction(factory) as s:
        ting = await unit_id(s)
        anna = await staff_id(s, ANNA_AAD)
        erik = await staff_id(s, ERIK_AAD)
        waiting = CaseState.AWAITING_DECISION
        return {
            # Tue 11-17: 18, 19, 20, 23 = 4 working days by Monday: reminded
            "four_days": await add_case(
                s, unit=ting, state=waiting, physician=anna, received=at("2026-11-17", "16:59")
            ),
            # Wed 11-18 00:30 in Stockholm (still 11-17 in UTC): 19, 20, 23 = 3 working
            # days: not yet
            "three_days": await add_case(
                s, unit=ting, state=waiting, physician=anna, received=at("2026-11-18", "00:30")
            ),
            # Thu 11-12: 7 working days, the oldest: first
            "seven_days": await add_case(
                s, unit=ting, state=waiting, physician=anna, received=at("2026-11-12", "10:00")
            ),
            # decided long ago: never in a reminder
            "decided": await add_case(
                s, unit=ting, state=CaseState.DECIDED, physician=anna, received=at("2026-11-02")
            ),
            # Erik's only case is 3 working days old: no reminder for Erik
            "erik_three_days": await add_case(
                s, unit=ting, state=waiting, physician=erik, received=at("2026-11-18", "12:00")
            ),
        }


# --- reading what was sent ------------------------------------------------------------------


async def outbox(factory: Factory, purpose: str) -> list[OutboxMessage]:
    async with factory() as s:
        rows = await s.scalars(
            select(OutboxMessage).where(OutboxMessage.purpose == purpose).order_by(OutboxMessage.id)
        )
        return list(rows.all())


def card_in(message: OutboxMessage) -> dict[str, Any]:
    [attachment] = message.activity["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


def plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).replace("\u200d", "")


def rows(card: dict[str, Any]) -> list[list[str]]:
    """Each list row of a card (one Container): its texts, markdown escapes removed."""
    return [
        [plain(item["text"]) for item in c["items"] if item["type"] == "TextBlock"]
        for c in of_type(card, "Container")
    ]


def facts(card: dict[str, Any]) -> dict[str, str]:
    return {plain(f["title"]): f["value"] for s in of_type(card, "FactSet") for f in s["facts"]}


async def count(factory: Factory, model: Any, *where: Any) -> int:
    async with factory() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- the digest -------------------------------------------------------------------------


async def test_digest_lists_overdue_and_soon_due_tasks_earliest_first(factory: Factory) -> None:
    ids = await seed_digest(factory)
    result = await run_daily(factory, now=NOW)
    assert (result.digests_sent, result.digests_skipped, result.failed) == (2, 0, 0)

    digests = await outbox(factory, "digest")
    assert [(m.target_kind, m.target) for m in digests] == [
        ("channel", CHANNEL),
        ("channel", BACKA_CHANNEL),
    ]
    card = card_in(digests[0])
    check_card(card)
    assert [a["data"] for a in executes(card)] == [
        {"task_id": ids[name], "view": "digest"}
        for name in ("late_thu", "late_fri_first", "late_fri", "due_today", "due_thu")
    ]
    assert {a["verb"] for a in executes(card)} == {"task.complete"}
    assert {a["title"] for a in executes(card)} == {"Klar"}
    got = rows(card)
    case_refs = [r[0].split(" · ")[0] for r in got]
    assert [r[0].split(" · ", 1)[1] for r in got] == [
        "Boka",
        "Väntelista",
        "Skicka brev",
        "Ring patienten om normalt svar",
        "Prover",
    ]
    assert [r[2] for r in got] == [
        "Senast 2026-11-19 · Försenad",
        "Senast 2026-11-20 · Försenad",
        "Senast 2026-11-20 · Försenad",
        "Senast 2026-11-23 · Läkare: Anna Berg",
        "Senast 2026-11-26",
    ]
    assert [r[1] for r in got] == [
        "Sven Berg, 19390202-8765",
        "Karin Holm, 19450101-1234",
        "Karin Holm, 19450101-1234",
        "Sven Berg, 19390202-8765",
        "Karin Holm, 19450101-1234",
    ]
    assert all(ref.startswith("Ärende ") for ref in case_refs)
    assert facts(card) == {
        "Försenade": "3",
        "Förfaller till och med 2026-11-26": "2",
        "Väntar på fördelning": "1",
    }
    text = card_text(card)
    for absent in ("Läkartid", "Klar redan", "Avbruten", "Backas"):
        assert absent not in text

    backa = card_in(digests[1])
    assert [a["data"] for a in executes(backa)] == [{"task_id": ids["backa"], "view": "digest"}]
    assert facts(backa)["Väntar på fördelning"] == "0"

    async with factory() as s:
        audits = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "digest.sent").order_by(AuditEntry.id)
            )
        ).all()
        shown = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "card.shown", AuditEntry.actor == "system:daily"
                )
            )
        ).all()
    assert [(a.unit_id, a.detail["overdue"], a.detail["due"]) for a in audits] == [
        (digests[0].unit_id, 3, 2),
        (digests[1].unit_id, 1, 0),
    ]
    assert len(shown) == 3  # two cases in Tingvalla's digest, one in Backa's
    assert all(a.patient_key and a.detail["card"] == "digest" for a in shown)


async def test_digest_looks_three_working_days_past_the_christmas_holidays(
    factory: Factory,
) -> None:
    async with transaction(factory) as s:
        ting = await unit_id(s)
        case = await add_case(s, unit=ting)
        # Wed 12-23: 12-24 julafton, 12-25, 12-26, 12-27 off; Mon 12-28, Tue 12-29, Wed 12-30
        for day in ("2026-12-30", "2026-12-31", "2027-01-04"):
            await add_task(s, case=case, unit=ting, due=day, title=f"Uppgift {day}")
    await run_daily(factory, now=at("2026-12-23"))
    [digest] = await outbox(factory, "digest")
    card = card_in(digest)
    assert [r[0].split(" · ")[1] for r in rows(card)] == ["Uppgift 2026-12-30"]
    assert "Förfaller till och med 2026-12-30" in facts(card)


async def test_an_empty_digest_still_goes_out(factory: Factory) -> None:
    result = await run_daily(factory, now=NOW)
    assert result.digests_sent == 1
    [digest] = await outbox(factory, "digest")
    card = card_in(digest)
    check_card(card)
    assert executes(card) == []
    assert "Inga uppgifter förfaller de närmaste tre arbetsdagarna" in card_text(card)
    assert facts(card) == {
        "Försenade": "0",
        "Förfaller till och med 2026-11-26": "0",
        "Väntar på fördelning": "0",
    }
    assert digest.activity["summary"] == "Dagens uppgifter: 0 försenade, 0 förfaller snart"


async def test_protected_identity_is_not_shown(factory: Factory) -> None:
    async with transaction(factory) as s:
        ting = await unit_id(s)
        anna = await staff_id(s, ANNA_AAD)
        secret = await add_case(
            s, unit=ting, name="Margareta Lindqvist", number="195203142384", protected=True
        )
        await add_task(s, case=secret, unit=ting, due="2026-11-20", title="Skicka brev")
        await add_case(
            s,
            unit=ting,
            state=CaseState.AWAITING_DECISION,
            physician=anna,
            received=at("2026-11-10"),
            name="Margareta Lindqvist",
            number="195203142384",
            protected=True,
        )
    await run_daily(factory, now=NOW)
    [digest] = await outbox(factory, "digest")
    [reminder] = await outbox(factory, "reminder")
    for message in (digest, reminder):
        dumped = json.dumps(message.activity, ensure_ascii=False)
        for leak in ("Margareta", "Lindqvist", "19520314", "2384", "M. L."):
            assert leak not in dumped
        [row] = rows(card_in(message))
        assert row[0].startswith("Ärende ")
        assert row[1] == "Skyddad identitet"


async def test_card_identity_setting_is_followed(factory: Factory) -> None:
    async with transaction(factory) as s:
        unit = await s.scalar(select(Unit).where(Unit.hsa_id == TINGVALLA))
        assert unit is not None
        unit.settings = {**unit.settings, "card_identity": "reference"}
        case = await add_case(s, unit=unit.id, name="Karin Holm", number="194501011234")
        await add_task(s, case=case, unit=unit.id, due="2026-11-24", title="Prover")
    await run_daily(factory, now=NOW)
    [digest] = await outbox(factory, "digest")
    assert rows(card_in(digest)) == [
        [f"Ärende {case} · Prover", f"Ärende {case}", "Senast 2026-11-24"]
    ]
    assert "Karin" not in json.dumps(digest.activity, ensure_ascii=False)


async def test_200_tasks_make_a_valid_card_under_40_kb(factory: Factory) -> None:
    async with transaction(factory) as s:
        ting = await unit_id(s)
        for i in range(200):
            case = await add_case(s, unit=ting, name=f"Patient Nummer{i} Långtnamnsson" * 3)
            await add_task(
                s, case=case, unit=ting, due="2026-11-20", title=f"Uppgift {i} " + "lång text " * 48
            )
    result = await run_daily(factory, now=NOW)
    assert result.digests_sent == 1
    [digest] = await outbox(factory, "digest")
    card = card_in(digest)
    check_card(card)
    size = len(json.dumps(digest.activity, ensure_ascii=False, separators=(",", ":")).encode())
    assert size < 40_000
    shown = len(executes(card))
    assert 0 < shown < 200
    assert f"… och {200 - shown} till (skriv uppgifter i chatten med boten)" in card_text(card)
    assert facts(card)["Försenade"] == "200"
    assert (
        await count(
            factory,
            AuditEntry,
            AuditEntry.action == "card.shown",
            AuditEntry.actor == "system:daily",
        )
        == shown
    )  # the audit names the cases the card shows


# --- the reminders ----------------------------------------------------------------------


async def test_reminder_lists_cases_waiting_more_than_three_working_days(
    factory: Factory,
) -> None:
    ids = await seed_reminders(factory)
    result = await run_daily(factory, now=NOW)
    assert (result.reminders_sent, result.reminders_skipped) == (1, 1)  # Erik: nothing
    [reminder] = await outbox(factory, "reminder")
    assert (reminder.target_kind, reminder.target) == ("user", ANNA_AAD)
    card = card_in(reminder)
    check_card(card)
    assert [(a["title"], a["verb"], a["data"]) for a in executes(card)] == [
        ("Öppna beslutskortet", "card.refresh", {"case_id": ids["seven_days"]}),
        ("Öppna beslutskortet", "card.refresh", {"case_id": ids["four_days"]}),
    ]
    assert rows(card) == [
        [
            f"Ärende {ids['seven_days']} · mottaget 2026-11-12 · 7 arbetsdagar",
            "Karin Holm, 19450101-1234",
        ],
        [
            f"Ärende {ids['four_days']} · mottaget 2026-11-17 · 4 arbetsdagar",
            "Karin Holm, 19450101-1234",
        ],
    ]
    assert "Anna Berg: 2 svar har väntat på ditt beslut i mer än 3 arbetsdagar." in card_text(card)
    assert reminder.activity["summary"] == "2 svar väntar på ditt beslut"
    async with factory() as s:
        [audit] = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "reminder.sent"))
        ).all()
    assert audit.detail["case_ids"] == sorted([ids["seven_days"], ids["four_days"]])
    assert audit.detail["staff"] == ANNA_AAD


async def test_a_physician_of_two_units_gets_one_card_per_unit(factory: Factory) -> None:
    async with transaction(factory) as s:
        ting = await unit_id(s)
        backa = await add_backa(s)
        anna = await s.scalar(
            select(Staff).options(selectinload(Staff.roles)).where(Staff.aad_object_id == ANNA_AAD)
        )
        assert anna is not None
        anna.roles.append(StaffRole(unit_id=backa, role="physician"))
        waiting = CaseState.AWAITING_DECISION
        a = await add_case(
            s, unit=ting, state=waiting, physician=anna.id, received=at("2026-11-10")
        )
        b = await add_case(
            s, unit=backa, state=waiting, physician=anna.id, received=at("2026-11-11")
        )
    result = await run_daily(factory, now=NOW)
    assert result.reminders_sent == 2
    reminders = await outbox(factory, "reminder")
    assert [(m.target, m.unit_id) for m in reminders] == [(ANNA_AAD, ting), (ANNA_AAD, backa)]
    assert [[x["data"] for x in executes(card_in(m))] for m in reminders] == [
        [{"case_id": a}],
        [{"case_id": b}],
    ]  # a card that falls back to an MVA channel names only that unit's patients
    assert await count(factory, JobRun, JobRun.job == "reminder") == 3  # Anna, Erik, Olle


# --- overdue follow-ups, in the reminders and the digest ---------------------------------------


async def add_follow_up(
    session: AsyncSession,
    *,
    case: int,
    due: str,
    physician: int | None,
    number: int = 1,
    recorded: bool = False,
) -> None:
    """A follow-up of `case` planned for `due`; its card went out that day."""
    session.add(
        FollowUp(
            case_id=case,
            number=number,
            due=date.fromisoformat(due),
            physician_id=physician,
            created_at=at("2026-11-02"),
            card_sent_at=at(due),
            recorded_at=at(due, "10:00") if recorded else None,
        )
    )
    await session.flush()


async def seed_follow_ups(factory: Factory) -> dict[str, int]:
    """Cases in follow-up around Monday 2026-11-23: Anna's, Erik's, one in Backa."""
    async with transaction(factory) as s:
        ting = await unit_id(s)
        backa = await add_backa(s)
        anna = await staff_id(s, ANNA_AAD)
        erik = await staff_id(s, ERIK_AAD)
        olle = await staff_id(s, OLLE_AAD)
        follow_up = CaseState.FOLLOW_UP

        async def case_with(
            due: str,
            *,
            unit: int = ting,
            case_physician: int = anna,
            physician: int | None = anna,
            state: str = follow_up,
            **patient: Any,
        ) -> int:
            case = await add_case(s, unit=unit, state=state, physician=case_physician, **patient)
            await add_follow_up(s, case=case, due=due, physician=physician)
            return case

        ids = {
            # a week late, Anna's
            "week": await case_with("2026-11-16", name="Gun Ek", number="194203034321"),
            # Friday's, planned with no physician: the case's (Anna), protected
            "friday": await case_with(
                "2026-11-20",
                physician=None,
                name="Margareta Lindqvist",
                number="195203142384",
                protected=True,
            ),
            # Anna's case, but Erik does its follow-up
            "erik": await case_with("2026-11-18", physician=erik),
            # due today: not yet overdue
            "today": await case_with("2026-11-23"),
            # closed with an unrecorded follow-up: nobody's any more
            "closed": await case_with("2026-11-10", state=CaseState.CLOSED),
            # Anna's follow-up in Backa, where she is no physician: not in her reminder,
            # in Backa's digest
            "backa": await case_with("2026-11-19", unit=backa, case_physician=olle),
            # Olle's follow-up today in Backa: nothing for Olle yet
            "olle_today": await case_with(
                "2026-11-23", unit=backa, case_physician=olle, physician=olle
            ),
            # waiting for Anna's decision 4 working days
            "waiting": await add_case(
                s,
                unit=ting,
                state=CaseState.AWAITING_DECISION,
                physician=anna,
                received=at("2026-11-17", "16:59"),
            ),
        }
        # the first follow-up recorded, the next planned in December: not overdue
        recorded = await add_case(s, unit=ting, state=follow_up, physician=anna)
        await add_follow_up(s, case=recorded, due="2026-11-09", physician=anna, recorded=True)
        await add_follow_up(s, case=recorded, due="2026-12-10", physician=anna, number=2)
        ids["recorded"] = recorded
    return ids


async def test_reminder_lists_the_physicians_overdue_follow_ups(factory: Factory) -> None:
    ids = await seed_follow_ups(factory)
    result = await run_daily(factory, now=NOW)
    assert (result.reminders_sent, result.reminders_skipped, result.failed) == (2, 1, 0)  # Olle
    assert result.followups_sent == 0  # their cards went out on their days
    anna, erik = await outbox(factory, "reminder")
    assert [(m.target, m.unit_id) for m in (anna, erik)] == [
        (ANNA_AAD, anna.unit_id),
        (ERIK_AAD, anna.unit_id),
    ]

    card = card_in(anna)
    check_card(card)
    assert [(a["title"], a["verb"], a["data"]) for a in executes(card)] == [
        ("Öppna beslutskortet", "card.refresh", {"case_id": ids["waiting"]}),
        ("Öppna uppföljningen", "card.refresh", {"case_id": ids["week"], "view": "followup"}),
        ("Öppna uppföljningen", "card.refresh", {"case_id": ids["friday"], "view": "followup"}),
    ]
    assert rows(card)[1:] == [
        [
            f"Ärende {ids['week']} · Uppföljning 1",
            "Gun Ek, 19420303-4321",
            "Planerad 2026-11-16 · 7 dagar försenad",
        ],
        [
            f"Ärende {ids['friday']} · Uppföljning 1",
            "Skyddad identitet",
            "Planerad 2026-11-20 · 3 dagar försenad",
        ],
    ]
    text = card_text(card)
    assert "Anna Berg: 2 uppföljningar efter läkarbesök är försenade." in text
    dumped = json.dumps(anna.activity, ensure_ascii=False)
    for leak in ("Margareta", "Lindqvist", "19520314", "2384"):
        assert leak not in dumped
    assert anna.activity["summary"] == "1 svar väntar på ditt beslut, 2 försenade uppföljningar"

    # Erik has no case to decide: his reminder is his follow-up alone
    card = card_in(erik)
    check_card(card)
    assert of_type(card, "TextBlock")[0]["text"] == "Försenade uppföljningar"
    assert rows(card) == [
        [
            f"Ärende {ids['erik']} · Uppföljning 1",
            "Karin Holm, 19450101-1234",
            "Planerad 2026-11-18 · 5 dagar försenad",
        ]
    ]
    assert [a["data"] for a in executes(card)] == [{"case_id": ids["erik"], "view": "followup"}]
    assert erik.activity["summary"] == "1 försenad uppföljning"

    async with factory() as s:
        sent = (
            await s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "reminder.sent")
                .order_by(AuditEntry.id)
            )
        ).all()
        shown = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "card.shown", AuditEntry.actor == "system:daily"
                )
            )
        ).all()
    assert [
        (a.detail["staff"], a.detail["case_ids"], a.detail["follow_up_case_ids"]) for a in sent
    ] == [
        (ANNA_AAD, [ids["waiting"]], sorted([ids["week"], ids["friday"]])),
        (ERIK_AAD, [], [ids["erik"]]),
    ]
    reminded = sorted((a.detail["to"], a.case_id) for a in shown if a.detail["card"] == "reminder")
    assert reminded == sorted(
        [(f"staff:{ANNA_AAD}", ids[k]) for k in ("waiting", "week", "friday")]
        + [(f"staff:{ERIK_AAD}", ids["erik"])]
    )
    assert all(a.patient_key for a in shown)

    # once a day: the claim holds; on Tuesday today's follow-up is a day late
    assert (await run_daily(factory, now=at("2026-11-23", "15:00"))).reminders_sent == 0
    tuesday = await run_daily(factory, now=at("2026-11-24"))
    assert tuesday.reminders_sent == 3  # Olle's is late now too
    anna_tuesday = [m for m in await outbox(factory, "reminder") if m.target == ANNA_AAD][-1]
    assert [r[2] for r in rows(card_in(anna_tuesday))[1:]] == [
        "Planerad 2026-11-16 · 8 dagar försenad",
        "Planerad 2026-11-20 · 4 dagar försenad",
        "Planerad 2026-11-23 · 1 dag försenad",
    ]


async def test_digest_lists_the_units_overdue_follow_ups(factory: Factory) -> None:
    ids = await seed_follow_ups(factory)
    await run_daily(factory, now=NOW)
    ting, backa = await outbox(factory, "digest")

    card = card_in(ting)
    check_card(card)
    assert facts(card)["Försenade uppföljningar"] == "3"
    assert "Försenade uppföljningar (3)" in card_text(card)
    assert rows(card) == [
        [
            f"Ärende {ids['week']} · Uppföljning 1",
            "Gun Ek, 19420303-4321",
            "Planerad 2026-11-16 · Försenad · Läkare: Anna Berg",
        ],
        [
            f"Ärende {ids['erik']} · Uppföljning 1",
            "Karin Holm, 19450101-1234",
            "Planerad 2026-11-18 · Försenad · Läkare: Erik Lund",
        ],
        [
            f"Ärende {ids['friday']} · Uppföljning 1",
            "Skyddad identitet",
            "Planerad 2026-11-20 · Försenad · Läkare: Anna Berg",
        ],
    ]
    assert executes(card) == []  # only the physician records a follow-up
    assert ting.activity["summary"] == (
        "Dagens uppgifter: 0 försenade, 0 förfaller snart, 3 försenade uppföljningar"
    )
    for leak in ("Margareta", "Lindqvist", "19520314"):
        assert leak not in json.dumps(ting.activity, ensure_ascii=False)

    card = card_in(backa)
    assert [r[0::2] for r in rows(card)] == [
        [
            f"Ärende {ids['backa']} · Uppföljning 1",
            "Planerad 2026-11-19 · Försenad · Läkare: Anna Berg",
        ]
    ]
    assert backa.activity["summary"].endswith(", 1 försenad uppföljning")

    async with factory() as s:
        audits = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "digest.sent").order_by(AuditEntry.id)
            )
        ).all()
        shown = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "card.shown", AuditEntry.actor == "system:daily"
                )
            )
        ).all()
    assert [(a.detail["overdue_follow_ups"], a.detail["case_ids"]) for a in audits] == [
        (3, sorted([ids["week"], ids["erik"], ids["friday"]])),
        (1, [ids["backa"]]),
    ]
    digested = sorted(a.case_id for a in shown if a.detail["card"] == "digest")
    assert digested == sorted([ids["week"], ids["erik"], ids["friday"], ids["backa"]])


# --- when: working days, digest time, once per day -----------------------------------------


@pytest.mark.parametrize(
    "now",
    [at("2026-11-28", "10:00"), at("2026-12-25", "10:00"), at("2026-11-23", "07:29")],
    ids=["saturday", "christmas", "before-0730"],
)
async def test_nothing_on_weekends_holidays_or_before_the_digest_time(
    factory: Factory, now: datetime
) -> None:
    await seed_digest(factory)
    await seed_reminders(factory)
    result = await run_daily(factory, now=now)
    assert result.sent == []
    assert (result.digests_sent, result.reminders_sent, result.failed) == (0, 0, 0)
    assert await count(factory, OutboxMessage) == 0
    assert await count(factory, JobRun) == 0


async def test_once_per_day_and_again_the_next_working_day(factory: Factory) -> None:
    await seed_digest(factory)
    await seed_reminders(factory)
    first = await run_daily(factory, now=NOW)
    assert (first.digests_sent, first.reminders_sent) == (2, 1)

    again = await run_daily(factory, now=at("2026-11-23", "15:00"))
    assert (again.digests_sent, again.reminders_sent) == (0, 0)
    assert (again.digests_skipped, again.reminders_skipped) == (2, 3)
    forced = await run_daily(factory, now=at("2026-11-23", "16:00"), force_time=True)
    assert forced.sent == []
    assert await count(factory, OutboxMessage) == 3

    tuesday = await run_daily(factory, now=at("2026-11-24"))
    assert (tuesday.digests_sent, tuesday.reminders_sent) == (2, 2)
    reminders = await outbox(factory, "reminder")
    # Tuesday: the cases that were 3 working days old on Monday are now 4 days old
    assert [(m.target, len(executes(card_in(m)))) for m in reminders] == [
        (ANNA_AAD, 2),
        (ANNA_AAD, 3),
        (ERIK_AAD, 1),
    ]
    assert await count(factory, JobRun, JobRun.day == date(2026, 11, 24)) == 5


async def test_each_unit_at_its_own_digest_time(factory: Factory) -> None:
    async with transaction(factory) as s:
        await add_backa(s, digest_time="09:00")
    early = await run_daily(factory, now=NOW)
    assert [m.target for m in await outbox(factory, "digest")] == [CHANNEL]
    assert early.units_due == 1
    await run_daily(factory, now=at("2026-11-23", "08:59"))
    assert len(await outbox(factory, "digest")) == 1
    await run_daily(factory, now=at("2026-11-23", "09:00"))
    assert [m.target for m in await outbox(factory, "digest")] == [CHANNEL, BACKA_CHANNEL]


async def test_force_time_sends_before_the_digest_time(factory: Factory) -> None:
    result = await run_daily(factory, now=at("2026-11-23", "06:00"), force_time=True)
    assert result.digests_sent == 1
    weekend = await run_daily(factory, now=at("2026-11-28", "06:00"), force_time=True)
    assert weekend.sent == [] and not weekend.working_day


async def test_a_unit_without_mva_channel_gets_no_digest_and_keeps_its_claim_open(
    factory: Factory,
) -> None:
    async with transaction(factory) as s:
        unit = await s.scalar(select(Unit).where(Unit.hsa_id == TINGVALLA))
        assert unit is not None
        unit.mva_channel = None
    result = await run_daily(factory, now=NOW)
    assert (result.digests_sent, result.digests_skipped) == (0, 1)
    assert await count(factory, JobRun, JobRun.job == "digest") == 0
    async with transaction(factory) as s:
        unit = await s.scalar(select(Unit).where(Unit.hsa_id == TINGVALLA))
        assert unit is not None
        unit.mva_channel = CHANNEL
    later = await run_daily(factory, now=at("2026-11-23", "10:00"))
    assert later.digests_sent == 1


async def test_two_processes_at_once_send_each_card_once(
    db_url: str, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="frakturkedjan.jobs")
    await seed_digest(factory)
    await seed_reminders(factory)
    engines = [create_engine(db_url), create_engine(db_url)]
    factories = [session_factory(e) for e in engines]
    try:
        days = ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
        for day in days:
            results = await asyncio.gather(
                *(run_daily(f, now=at(day, "07:30")) for f in factories for _ in range(2))
            )
            assert sum(r.digests_sent for r in results) == 2, day
            # Erik's case reaches 4 working days on Tuesday
            assert sum(r.reminders_sent for r in results) == (1 if day == days[0] else 2), day
            assert sum(r.failed for r in results) == 0, day
    finally:
        for engine in engines:
            await engine.dispose()
    async with factory() as s:
        sent = (
            await s.execute(
                select(OutboxMessage.purpose, OutboxMessage.target, func.count())
                .group_by(OutboxMessage.purpose, OutboxMessage.target)
                .order_by(OutboxMessage.purpose, OutboxMessage.target)
            )
        ).all()
    assert [tuple(row) for row in sent] == [
        ("digest", BACKA_CHANNEL, 5),
        ("digest", CHANNEL, 5),
        ("reminder", ANNA_AAD, 5),
        ("reminder", ERIK_AAD, 4),
    ]
    assert await count(factory, AuditEntry, AuditEntry.action == "digest.sent") == 10
    assert await count(factory, AuditEntry, AuditEntry.action == "reminder.sent") == 9
    assert await count(factory, JobRun) == 5 * (2 + 3)
    # the unique claim, not only the early check, decided some of the races
    assert any(r.getMessage() == "daily job already done by another run" for r in caplog.records)


async def test_a_failing_scope_is_left_for_the_next_run(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.jobs import digest

    real = digest.send_digest

    async def broken(session: AsyncSession, *, unit: Unit, today: date) -> list[str]:
        raise RuntimeError("template broken")

    monkeypatch.setattr(digest, "send_digest", broken)
    result = await run_daily(factory, now=NOW)
    assert (result.digests_sent, result.failed) == (0, 1)
    assert await count(factory, JobRun, JobRun.job == "digest") == 0
    monkeypatch.setattr(digest, "send_digest", real)
    assert (await run_daily(factory, now=NOW)).digests_sent == 1


# --- the scheduler and the command --------------------------------------------------------


async def test_scheduler_runs_the_job_and_survives_failures() -> None:
    calls: list[datetime] = []
    woken: list[bool] = []
    four = asyncio.Event()

    async def job(factory: Any, *, now: datetime) -> DailyResult:
        calls.append(now)
        if len(calls) == 4:
            four.set()
        if len(calls) == 2:
            raise OSError("database restarting")
        return DailyResult(day=now.date(), working_day=True, digests_sent=1, sent=["digest"])

    scheduler = Scheduler(
        None,  # type: ignore[arg-type]
        interval_seconds=0.01,
        clock=lambda: NOW,
        on_sent=lambda: woken.append(True),
        job=job,
    )
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(four.wait(), timeout=5)
    scheduler.stop()
    await asyncio.wait_for(task, timeout=2)
    assert calls == [NOW] * 4
    assert woken == [True] * 3  # not after the failed pass


async def test_scheduler_stops_at_once_while_waiting() -> None:
    async def job(factory: Any, *, now: datetime) -> DailyResult:
        return DailyResult(day=now.date(), working_day=False)

    scheduler = Scheduler(None, interval_seconds=3600, job=job)  # type: ignore[arg-type]
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.05)
    scheduler.stop()
    await asyncio.wait_for(task, timeout=1)
    assert scheduler.passes == 1


async def test_scheduler_on_the_database_sends_once(factory: Factory) -> None:
    await seed_reminders(factory)
    results: list[DailyResult] = []
    five = asyncio.Event()

    async def job(factory: Factory, *, now: datetime) -> DailyResult:
        results.append(await run_daily(factory, now=now))
        if len(results) == 5:
            five.set()
        return results[-1]

    scheduler = Scheduler(factory, interval_seconds=0.01, clock=lambda: NOW, job=job)
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(five.wait(), timeout=20)
    scheduler.stop()
    await asyncio.wait_for(task, timeout=5)
    assert [(r.digests_sent, r.reminders_sent) for r in results[:5]] == [(1, 1)] + [(0, 0)] * 4
    assert len(await outbox(factory, "digest")) == 1
    assert len(await outbox(factory, "reminder")) == 1


def test_cli_remind_now(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def seed() -> None:
        engine = create_engine(db_url)
        made = session_factory(engine)
        try:
            from bot.directory.service import load_directory

            async with transaction(made) as s:
                await load_directory(
                    s, (FIXTURES / "directory.yaml").read_text(encoding="utf-8"), actor="test"
                )
            await seed_reminders(made)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    monkeypatch.chdir(tmp_path)  # no .env of the working copy
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr(cli, "configure_logging", lambda: None)  # keep the test log handlers
    monkeypatch.setattr(scheduler_module, "utcnow", lambda: at("2026-11-23", "06:00"))

    assert cli.main(["remind"]) == 0
    assert "no unit has reached its digest time yet" in capsys.readouterr().out

    assert cli.main(["remind", "--now"]) == 0
    out = capsys.readouterr().out
    assert "sent: digest to Tingvalla vårdcentral" in out
    assert "sent: reminder to Anna Berg" in out
    assert "1 digest(s) and 1 reminder(s) sent" in out
    assert "19450101" not in out and "Karin" not in out

    assert cli.main(["remind", "--now"]) == 0
    assert "0 digest(s) and 0 reminder(s) sent" in capsys.readouterr().out

    monkeypatch.setattr(scheduler_module, "utcnow", lambda: at("2026-11-28", "09:00"))
    assert cli.main(["remind", "--now"]) == 0
    assert "2026-11-28 is not a working day" in capsys.readouterr().out

    async def sent() -> int:
        engine = create_engine(db_url)
        try:
            return await count(session_factory(engine), OutboxMessage)
        finally:
            await engine.dispose()

    assert asyncio.run(sent()) == 2


# --- through Teams (the loopback harness) ------------------------------------------------


async def test_digest_reaches_the_channel_and_its_klar_completes_the_task(
    db_url: str, factory: Factory
) -> None:
    async with transaction(factory) as s:
        ting = await unit_id(s)
        anna = await staff_id(s, ANNA_AAD)
        case = await add_case(s, unit=ting, name="Karin Holm", number="194501011234")
        task_id = await add_task(s, case=case, unit=ting, due="2026-11-20", title="Boka läkartid")
        waiting = await add_case(
            s,
            unit=ting,
            state=CaseState.AWAITING_DECISION,
            physician=anna,
            received=at("2026-11-10"),
        )
    async with running_bot(db_url) as (teams, connector):
        await teams.install_channel(MARIA)
        await teams.install_personal(ANNA)
        await run_daily(factory, now=NOW)

        [posted] = await connector.wait_count(CHANNEL, 1)
        card = posted.card
        assert card is not None
        check_card(card)
        [klar] = executes(card)
        assert (klar["title"], klar["verb"], klar["data"]) == (
            "Klar",
            "task.complete",
            {"task_id": task_id, "view": "digest"},
        )
        status, answer = await teams.invoke(
            MARIA,
            klar["verb"],
            klar["data"],
            conversation_id=f"{CHANNEL};messageid={posted.activity_id}",
        )
        assert status == 200
        # the answer is the digest as it is now: the task is no longer listed
        assert executes(card_of(answer)) == []

        [reminded] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert reminded.card is not None
        [open_card] = [a for a in of_type(reminded.card, "Action.Execute")]
        status, answer = await teams.invoke(ANNA, open_card["verb"], open_card["data"])
        assert status == 200
        decision = card_of(answer)
        assert {a["verb"] for a in executes(decision)} == {"case.decide"}
        assert {a["data"]["case_id"] for a in executes(decision)} == {waiting}

    async with factory() as s:
        task = await s.get(Task, task_id)
        assert task is not None
        assert task.status == "done"
        assert task.done_at is not None and task.done_at.tzinfo == UTC
