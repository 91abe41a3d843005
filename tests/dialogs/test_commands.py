"""Text commands in the personal chat over the loopback harness, on both Teams runtimes and
both databases: `hjälp`, `mina ärenden`, `uppgifter`, `uppföljning`, `ärende <id>` and the
"Vilket ärende?" question."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit.models import AuditEntry
from bot.botstate.models import BotStateItem
from bot.cases.enums import CaseState
from bot.cases.models import Case
from bot.core.calendar import local_date, working_days_between
from bot.db import transaction, utcnow
from bot.demo import fresh_answer
from bot.directory.models import Staff
from bot.directory.service import load_directory
from bot.jobs.checklists import send_due_checklists
from bot.manifest import COMMANDS
from bot.tasks.models import Task
from bot.teams.texts import HELP_COMMANDS, PERSONAL_CHAT_ONLY
from bot.visits.models import FollowUp, Visit
from dialogs.commands import (
    ASK_CASE,
    CANCELLED,
    COMMAND_FAILED,
    GAVE_UP,
    LISTS,
    NOTHING_TO_CANCEL,
    RETRY_CASE,
)
from dialogs.my_cases import NOT_A_PHYSICIAN
from dialogs.my_followups import NOT_A_PHYSICIAN as NOT_A_FOLLOWUP_PHYSICIAN
from dialogs.replies import STRANGER
from dialogs.text import parse
from tests.harness import (
    ANNA,
    ERIK,
    MARIA,
    FakeConnector,
    Sent,
    Teams,
    actions_of,
    card_of,
    card_text,
    check_card,
    error_of,
    personal_conversation,
    running_bot,
)
from tests.harness import (
    STRANGER as NOBODY,
)
from tests.helpers import fixture_bytes

Factory = async_sessionmaker[AsyncSession]
pytestmark = pytest.mark.usefixtures("runtime")

OLLE = {"aad": "00000000-0000-0000-0000-000000000201", "id": "29:olle", "name": "Olle Ström"}
SARA = {"aad": "00000000-0000-0000-0000-000000000202", "id": "29:sara", "name": "Sara Ek"}
TINGVALLA = "SE2321000156-7TNG"
SOLBERGA = "SE2321000156-8SOL"

TWO_UNITS = f"""
units:
  - hsa_id: {TINGVALLA}
    name: Tingvalla vårdcentral
    mva_channel: "19:mva-tingvalla@thread.tacv2"
    settings: {{card_identity: full, call_in_months: 2, letter_tasks_to: physician}}
  - hsa_id: {SOLBERGA}
    name: Solberga vårdcentral
    mva_channel: "19:mva-solberga@thread.tacv2"
staff:
  - name: Anna Berg
    aad_object_id: {ANNA["aad"]}
    hsa_id: SE2321000156-L1AB
    units: {{{TINGVALLA}: [physician]}}
  - name: Erik Lund
    aad_object_id: {ERIK["aad"]}
    hsa_id: SE2321000156-L1EL
    units: {{{TINGVALLA}: [physician]}}
  - name: Maria Svensson
    aad_object_id: {MARIA["aad"]}
    units: {{{TINGVALLA}: [mva]}}
  - name: Olle Ström
    aad_object_id: {OLLE["aad"]}
    hsa_id: SE2321000156-L2OS
    units: {{{SOLBERGA}: [physician]}}
  - name: Sara Ek
    aad_object_id: {SARA["aad"]}
    units: {{{SOLBERGA}: [mva]}}
"""

WAITLIST = "Sätt upp på väntelista (VL) till läkare"
LETTER = "Skicka brev: svar på bentäthetsmätning och kallelse inom 2 månader"
LAB = "Beställ prover: Osteoporospaket"
BOOK = "Boka läkartid"
NORMAL_LETTER = "Skicka brevsvar om normal bentäthet"
MARGARETA = "Margareta Lindqvist, 19520314-2384"
KARL = "Karl Erik Nyberg, 19591102-4171"
INGRID = "Ingrid Sjöberg, 19480907-5627"
JOUR_VC = "03_osteopenia_jour_vc.json"  # names no physician: awaits assignment


# ------------------------------------------------------------------------------ helpers


async def two_units(factory: Factory) -> None:
    async with transaction(factory) as session:
        await load_directory(session, TWO_UNITS, actor="test")


async def intake(teams: Teams, sample: str, *, unit: str = TINGVALLA) -> int:
    body = fixture_bytes(sample)
    if unit == SOLBERGA:  # the same answer, sent to Solberga for its physician
        for old, new in [
            (TINGVALLA, SOLBERGA),
            ("SE2321000156-L1AB", "SE2321000156-L2OS"),
            ("DXA-2026-000", "DXA-2026-900"),
        ]:
            body = body.replace(old.encode(), new.encode())
    status, answer = await teams.intake(body)
    assert status == 201, answer
    case_id: int = answer["case_id"]
    return case_id


async def decide(teams: Teams, physician: dict[str, str], case_id: int, decision: str) -> None:
    status, answer = await teams.invoke(physician, "card.refresh", {"case_id": case_id})
    [action] = [a for a in actions_of(card_of(answer)) if a["data"].get("decision") == decision]
    status, answer = await teams.invoke(physician, "case.decide", action["data"])
    confirm = [a for a in actions_of(card_of(answer)) if a["data"].get("confirmed")]
    if confirm:  # a decision against the answer is asked again first
        status, answer = await teams.invoke(physician, "case.decide", confirm[0]["data"])
    assert "Beslut:" in card_text(card_of(answer))


async def say(
    teams: Teams, connector: FakeConnector, person: dict[str, str], text: str
) -> list[Sent]:
    """Post a personal-chat message; the bot's replies in that turn (not outbox sends)."""
    before = len(connector.sent)
    status, _ = await teams.message(person, text)
    assert status == 201
    return [s for s in connector.sent[before:] if s.activity.get("replyToId")]


async def card_reply(
    teams: Teams, connector: FakeConnector, person: dict[str, str], text: str
) -> dict[str, Any]:
    [sent] = await say(teams, connector, person, text)
    card = sent.card
    assert card is not None, sent.activity.get("text")
    check_card(card)
    return card


async def text_reply(
    teams: Teams, connector: FakeConnector, person: dict[str, str], text: str
) -> str:
    [sent] = await say(teams, connector, person, text)
    assert sent.card is None
    reply: str = sent.activity["text"]
    return reply


def plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).replace("\u200d", "")


def rows(card: dict[str, Any]) -> list[list[str]]:
    """Each row of a list card (a Container) as its texts, as a person reads them."""
    return [
        [plain(item["text"]) for item in row["items"] if item["type"] == "TextBlock"]
        for row in card["body"]
        if row["type"] == "Container"
    ]


def buttons(card: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every Action.Execute button of the card's body (card.refresh ones included)."""
    return [
        (a["title"], a["verb"], a["data"])
        for a in _all_actions(card)
        if a["type"] == "Action.Execute"
    ]


def _all_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Action."):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card.get("body"))
    return found


def texts(card: dict[str, Any]) -> list[str]:
    return [plain(item["text"]) for item in card["body"] if item["type"] == "TextBlock"]


def today() -> str:
    return local_date(utcnow()).isoformat()


async def set_received(factory: Factory, received: dict[int, datetime]) -> None:
    async with transaction(factory) as session:
        for case_id, at in received.items():
            await session.execute(update(Case).where(Case.id == case_id).values(received_at=at))


async def tasks_of(factory: Factory, case_id: int) -> dict[str, int]:
    async with factory() as session:
        found = await session.scalars(select(Task).where(Task.case_id == case_id))
        return {task.kind: task.id for task in found}


async def set_due(factory: Factory, dues: dict[int, date]) -> None:
    async with transaction(factory) as session:
        for task_id, due in dues.items():
            await session.execute(update(Task).where(Task.id == task_id).values(due=due))


async def audit_rows(factory: Factory, action: str) -> list[AuditEntry]:
    async with factory() as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return list(found)


async def dialog_rows(factory: Factory) -> list[BotStateItem]:
    async with factory() as session:
        return list(await session.scalars(select(BotStateItem)))


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 9, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------ hjälp


async def test_help_and_any_other_text_get_the_help_card(db_url: str, factory: Factory) -> None:
    expected = [(c["command"], c["description"]) for c in HELP_COMMANDS]
    async with running_bot(db_url) as (teams, connector):
        for text in (
            "hjälp",
            "  HJALP ",
            "help",
            "Hjälp!",
            "<at>Frakturkedjan</at> hjälp",
            "hej, vad kan du?",
            "ärenden",
            "12",
            "",
        ):
            card = await card_reply(teams, connector, ANNA, text)
            assert texts(card)[0] == "Frakturkedjan – kommandon", text
            [facts] = [item for item in card["body"] if item["type"] == "FactSet"]
            assert [(plain(f["title"]), plain(f["value"])) for f in facts["facts"]] == expected
            assert actions_of(card) == []
        # a stranger may read the help too
        card = await card_reply(teams, connector, NOBODY, "hjälp")
        assert texts(card)[0] == "Frakturkedjan – kommandon"


def test_every_command_is_in_the_help_and_the_manifest_menu() -> None:
    """The help card and the Teams command menu list every command, "uppföljning" too."""
    for listed in ([c["command"] for c in HELP_COMMANDS], [c["title"] for c in COMMANDS]):
        named = {parse(text.removesuffix(" <id>")).name for text in listed}
        assert named == {"help", "case", *LISTS}, listed
    assert "uppföljning" in [c["command"] for c in HELP_COMMANDS]


async def test_commands_are_answered_only_in_the_personal_chat(
    db_url: str, factory: Factory
) -> None:
    async with running_bot(db_url) as (teams, connector):
        conversation = {"id": "19:mva-tingvalla@thread.tacv2", "conversationType": "channel"}
        activity = {
            **teams._base(MARIA, conversation, {"team": {"id": "19:team"}}),
            "type": "message",
            "text": "<at>Frakturkedjan</at> uppgifter",
        }
        status, _ = await teams.post(activity)
        assert status == 201
        [reply] = [s for s in connector.sent if s.activity.get("replyToId")]
        assert reply.conversation_id == "19:mva-tingvalla@thread.tacv2"
        assert reply.activity["text"] == PERSONAL_CHAT_ONLY
    assert await audit_rows(factory, "tasks.listed") == []


# ------------------------------------------------------------------------------ mina ärenden


async def test_my_cases_lists_the_physicians_undecided_cases_oldest_first(
    db_url: str, factory: Factory
) -> None:
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        margareta = await intake(teams, "01_osteoporosis_named.json")
        karl = await intake(teams, "02_normal_named.json")
        protected = await intake(teams, "05_protected_identity.json")
        decided = await intake(teams, "04_hip_fracture_osteopenia.json")
        await intake(teams, "03_osteopenia_jour_vc.json")  # awaiting assignment: nobody's
        await intake(teams, "09_young_zscore.json", unit=SOLBERGA)  # Olle's
        await decide(teams, ANNA, decided, "normal_letter")
        await set_received(factory, {karl: at(2), protected: at(3), margareta: at(4)})

        for text in ("mina ärenden", "Mina Ärenden", "mina arenden", "<at>Bot</at> mina ärenden"):
            card = await card_reply(teams, connector, ANNA, text)
            waited = [
                working_days_between(date(2026, 11, d), local_date(utcnow())) for d in (2, 3, 4)
            ]
            assert texts(card) == [
                "Svar som väntar på ditt beslut",
                f"Anna Berg · {today()}",
                "3 svar väntar på ditt beslut, äldst först.",
            ]
            assert rows(card) == [
                [
                    f"Ärende {karl} · mottaget 2026-11-02 · väntat {waited[0]} arbetsdagar",
                    KARL,
                    "Tingvalla vårdcentral · Proximal humerusfraktur",
                ],
                [
                    f"Ärende {protected} · mottaget 2026-11-03 · väntat {waited[1]} arbetsdagar",
                    "Skyddad identitet",
                    "Tingvalla vårdcentral · Kotfraktur",
                ],
                [
                    f"Ärende {margareta} · mottaget 2026-11-04 · väntat {waited[2]} arbetsdagar",
                    MARGARETA,
                    "Tingvalla vårdcentral · Handledsfraktur",
                ],
            ]
            assert buttons(card) == [
                ("Öppna beslutskortet", "card.refresh", {"case_id": case_id})
                for case_id in (karl, protected, margareta)
            ]
            assert "Uppgift" not in json.dumps(card, ensure_ascii=False)  # the protected name

        # Olle sees his own case at Solberga only; Erik has none
        [[olle_row, *_]] = rows(await card_reply(teams, connector, OLLE, "mina ärenden"))
        assert olle_row.startswith("Ärende ")
        empty = await card_reply(teams, connector, ERIK, "mina ärenden")
        assert texts(empty)[2] == "Inga svar väntar på ditt beslut just nu."
        assert rows(empty) == [] and actions_of(empty) == []

    listed = await audit_rows(factory, "cases.listed")
    anna = [(a.case_id, a.outcome) for a in listed if a.actor == f"staff:{ANNA['aad']}"]
    assert anna == [(karl, "ok"), (protected, "ok"), (margareta, "ok")] * 4
    assert all(a.patient_key for a in listed)
    assert [a.actor for a in listed if a.actor != f"staff:{ANNA['aad']}"] == [
        f"staff:{OLLE['aad']}"
    ]


async def test_my_cases_opens_the_decision_card_and_a_decision_from_it_counts(
    db_url: str, factory: Factory
) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id = await intake(teams, "01_osteoporosis_named.json")
        card = await card_reply(teams, connector, ANNA, "mina ärenden")
        [(title, verb, data)] = buttons(card)
        assert (title, verb, data) == ("Öppna beslutskortet", "card.refresh", {"case_id": case_id})

        status, answer = await teams.invoke(ANNA, verb, data)
        decision_card = card_of(answer)
        assert [a["title"] for a in decision_card["actions"]] == [
            "Ingen osteoporos – brevsvar",
            "Ingen osteoporos – ring patienten",
            "Kalla till läkarbesök",
            "Annan åtgärd",
            "Fördela om",
        ]
        assert decision_card["refresh"]["action"]["data"] == {"case_id": case_id}
        decisions = {a["data"]["decision"]: a["data"] for a in actions_of(decision_card)}
        assert decisions["normal_letter"] == {
            "case_id": case_id,
            "version": 1,
            "decision": "normal_letter",
        }

        status, answer = await teams.invoke(ANNA, "case.decide", decisions["normal_letter"])
        assert "Bekräfta beslut" in card_text(card_of(answer))  # the sample shows osteoporosis
        confirmed = {**decisions["normal_letter"], "confirmed": True}
        status, answer = await teams.invoke(ANNA, "case.decide", confirmed)
        summary = card_text(card_of(answer))
        assert "Beslut: Ingen osteoporos – brevsvar" in summary
        assert NORMAL_LETTER in summary

        after = await card_reply(teams, connector, ANNA, "mina ärenden")
        assert texts(after)[2] == "Inga svar väntar på ditt beslut just nu."
        status, case = await teams.case(case_id)
        assert case["state"] == "decided" and case["decision"]["kind"] == "normal_letter"


async def test_my_cases_answers_others_plainly(db_url: str, factory: Factory) -> None:
    async with running_bot(db_url) as (teams, connector):
        assert await text_reply(teams, connector, MARIA, "mina ärenden") == NOT_A_PHYSICIAN
        assert await text_reply(teams, connector, NOBODY, "mina ärenden") == STRANGER
    assert NOT_A_PHYSICIAN.startswith("Kommandot mina ärenden visar DXA-svar")
    assert STRANGER.startswith("Hej! Du finns inte i Frakturkedjans personalregister")
    refused = [
        (a.actor, a.outcome, a.detail["reason"]) for a in await audit_rows(factory, "cases.listed")
    ]
    assert refused == [
        (f"staff:{MARIA['aad']}", "refused", "not a physician"),
        (f"aad:{NOBODY['aad']}", "refused", "not in the directory"),
    ]


async def book_today(
    teams: Teams, factory: Factory, case_id: int, *, visit_physician: dict[str, str]
) -> None:
    """Call the patient in (to `visit_physician`), tick the MVA tasks off with the visit
    booked for today, and send the checklist, as the job does on the day."""
    status, answer = await teams.invoke(ANNA, "card.refresh", {"case_id": case_id})
    [data] = [
        a["data"] for a in actions_of(card_of(answer)) if a["data"].get("decision") == "call_in"
    ]
    status, answer = await teams.invoke(
        ANNA, "case.decide", {**data, "visit_physician": visit_physician["aad"]}
    )
    assert "Beslut:" in card_text(card_of(answer))
    for kind, task_id in (await tasks_of(factory, case_id)).items():
        booked = {"booked_date": today(), "booked_time": "23:59"} if kind == "book_visit" else {}
        status, answer = await teams.invoke(MARIA, "task.complete", {"task_id": task_id, **booked})
        assert "Klar – Maria Svensson" in card_text(card_of(answer)), kind
    await send_due_checklists(factory, now=utcnow())


async def test_my_cases_lists_my_visits_whose_checklist_is_out_each_opening_it(
    db_url: str, factory: Factory
) -> None:
    """After a reload of the chat, "mina ärenden" brings back the visit checklists too."""
    async with running_bot(db_url) as (teams, connector):
        margareta = await intake(teams, "01_osteoporosis_named.json")
        karl = await intake(teams, "02_normal_named.json")
        protected = await intake(teams, "05_protected_identity.json")
        undecided = await intake(teams, "06_samordningsnummer.json")
        await book_today(teams, factory, margareta, visit_physician=ANNA)
        await book_today(teams, factory, protected, visit_physician=ANNA)
        await book_today(teams, factory, karl, visit_physician=ERIK)  # Erik sees Karl
        async with factory() as session:
            booked = {v.case_id: v.booked_at for v in await session.scalars(select(Visit))}
        assert set(booked) == {margareta, protected, karl}

        card = await card_reply(teams, connector, ANNA, "mina ärenden")
        assert texts(card)[2:] == [
            "1 svar väntar på ditt beslut, äldst först.",
            "Besök att registrera",
            "2 besök väntar på din besökschecklista, tidigast bokade först.",
        ]
        unit = "Tingvalla vårdcentral"
        assert rows(card)[1:] == [
            [f"Ärende {margareta} · besök {today()} 23:59", MARGARETA, unit],
            [f"Ärende {protected} · besök {today()} 23:59", "Skyddad identitet", unit],
        ]
        assert buttons(card) == [
            ("Öppna beslutskortet", "card.refresh", {"case_id": undecided}),
            ("Öppna besökschecklistan", "card.refresh", {"case_id": margareta, "view": "visit"}),
            ("Öppna besökschecklistan", "card.refresh", {"case_id": protected, "view": "visit"}),
        ]
        assert "Uppgift" not in json.dumps(card, ensure_ascii=False)  # the protected name
        [sent] = [s for s in connector.sent if s.card == card]
        assert sent.activity["summary"] == ("1 svar väntar på ditt beslut, 2 besök att registrera")
        erik = await card_reply(teams, connector, ERIK, "mina ärenden")
        assert [row[0] for row in rows(erik)] == [f"Ärende {karl} · besök {today()} 23:59"]

        # the button opens the checklist; once recorded, the visit leaves the list
        status, answer = await teams.invoke(ANNA, *buttons(card)[1][1:])
        checklist = card_of(answer)
        check_card(checklist)
        [record] = actions_of(checklist)
        assert record["verb"] == "visit.record" and "Besökschecklista" in card_text(checklist)
        status, answer = await teams.invoke(
            ANNA, "visit.record", {**record["data"], "treatment": "alendronat"}
        )
        assert "Ärendet är avslutat" in card_text(card_of(answer))
        after = await card_reply(teams, connector, ANNA, "mina ärenden")
        assert [row[0] for row in rows(after)][1:] == [
            f"Ärende {protected} · besök {today()} 23:59"
        ]
        assert texts(after)[-1] == "1 besök väntar på din besökschecklista."

    listed = [
        (a.case_id, a.detail)
        for a in await audit_rows(factory, "cases.listed")
        if a.actor == f"staff:{ANNA['aad']}"
    ]
    visit = {"command": "mina ärenden", "card": "visit"}
    assert listed == [
        (undecided, {"command": "mina ärenden"}),
        (margareta, visit),
        (protected, visit),
        (undecided, {"command": "mina ärenden"}),
        (protected, visit),
    ]


async def test_my_cases_leaves_out_visits_not_due_and_checklists_of_another_unit(
    db_url: str, factory: Factory
) -> None:
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        case_id = await intake(teams, "01_osteoporosis_named.json")
        await book_today(teams, factory, case_id, visit_physician=ANNA)
        async with transaction(factory) as session:  # the visit is tomorrow: no checklist yet
            await session.execute(update(Visit).values(checklist_sent_at=None))
        card = await card_reply(teams, connector, ANNA, "mina ärenden")
        assert texts(card)[2:] == ["Inga svar väntar på ditt beslut just nu."]
        assert buttons(card) == []

        async with transaction(factory) as session:  # sent, but Anna has left Tingvalla
            await session.execute(update(Visit).values(checklist_sent_at=utcnow()))
        shown = await card_reply(teams, connector, ANNA, "mina ärenden")
        assert rows(shown) == [
            [f"Ärende {case_id} · besök {today()} 23:59", MARGARETA, "Tingvalla vårdcentral"]
        ]
        moved = TWO_UNITS.replace(
            f"""hsa_id: SE2321000156-L1AB
    units: {{{TINGVALLA}: [physician]}}""",
            f"""hsa_id: SE2321000156-L1AB
    units: {{{SOLBERGA}: [physician]}}""",
        )
        async with transaction(factory) as session:
            await load_directory(session, moved, actor="test")
        gone = await card_reply(teams, connector, ANNA, "mina ärenden")
        assert rows(gone) == [] and buttons(gone) == []


# ------------------------------------------------------------------------------ uppgifter


async def _call_ins(teams: Teams, factory: Factory) -> dict[str, Any]:
    """Two call-ins and a letter at Tingvalla and one call-in at Solberga, dues set."""
    margareta = await intake(teams, "01_osteoporosis_named.json")
    protected = await intake(teams, "05_protected_identity.json")
    karl = await intake(teams, "02_normal_named.json")
    solberga = await intake(teams, "04_hip_fracture_osteopenia.json", unit=SOLBERGA)
    await decide(teams, ANNA, margareta, "call_in")
    await decide(teams, ANNA, protected, "call_in")
    await decide(teams, ANNA, karl, "normal_letter")
    await decide(teams, OLLE, solberga, "call_in")
    a, b, k = [await tasks_of(factory, c) for c in (margareta, protected, karl)]
    await set_due(
        factory,
        {
            a["waitlist"]: date(2026, 1, 6),
            a["invitation_letter"]: date(2099, 1, 10),
            a["lab_package"]: date(2099, 1, 8),
            a["book_visit"]: date(2099, 3, 1),
            b["waitlist"]: date(2026, 1, 5),
            b["invitation_letter"]: date(2099, 1, 9),
            b["lab_package"]: date(2099, 1, 8),
            b["book_visit"]: date(2099, 2, 1),
            k["normal_letter"]: date(2099, 1, 1),
        },
    )
    return {"a": margareta, "b": protected, "k": karl, "s": solberga, "ta": a, "tb": b, "tk": k}


async def test_tasks_lists_the_units_open_mva_tasks_earliest_due_first(
    db_url: str, factory: Factory
) -> None:
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        ids = await _call_ins(teams, factory)
        a, b, ta, tb = ids["a"], ids["b"], ids["ta"], ids["tb"]
        card = await card_reply(teams, connector, MARIA, "uppgifter")
        assert texts(card) == [
            "Öppna uppgifter",
            f"MVA-uppgifter för Tingvalla vårdcentral · {today()}",
        ]
        [facts] = [item for item in card["body"] if item["type"] == "FactSet"]
        assert facts["facts"] == [
            {"title": "Öppna", "value": "8"},
            {"title": "Försenade", "value": "2"},
        ]
        unit = "Tingvalla vårdcentral"
        assert rows(card) == [
            [f"Ärende {b} · {WAITLIST}", "Skyddad identitet", "Senast 2026-01-05 · Försenad", unit],
            [f"Ärende {a} · {WAITLIST}", MARGARETA, "Senast 2026-01-06 · Försenad", unit],
            [f"Ärende {a} · {LAB}", MARGARETA, "Senast 2099-01-08", unit],
            [f"Ärende {b} · {LAB}", "Skyddad identitet", "Senast 2099-01-08", unit],
            [f"Ärende {b} · {LETTER}", "Skyddad identitet", "Senast 2099-01-09", unit],
            [f"Ärende {a} · {LETTER}", MARGARETA, "Senast 2099-01-10", unit],
            [f"Ärende {b} · {BOOK}", "Skyddad identitet", "Senast 2099-02-01", unit],
            [f"Ärende {a} · {BOOK}", MARGARETA, "Senast 2099-03-01", unit],
        ]
        overdue = [row["items"][2] for row in card["body"] if row["type"] == "Container"][:3]
        assert [(t.get("color"), t.get("weight")) for t in overdue] == [
            ("attention", "bolder"),
            ("attention", "bolder"),
            (None, None),
        ]
        klar = "Klar"
        assert buttons(card) == [
            (klar, "task.complete", {"task_id": tb["waitlist"]}),
            (klar, "task.complete", {"task_id": ta["waitlist"]}),
            (klar, "task.complete", {"task_id": ta["lab_package"]}),
            (klar, "task.complete", {"task_id": tb["lab_package"]}),
            (klar, "task.complete", {"task_id": tb["invitation_letter"]}),
            (klar, "task.complete", {"task_id": ta["invitation_letter"]}),
            ("Spara bokad tid", "task.complete", {"task_id": tb["book_visit"]}),
            ("Spara bokad tid", "task.complete", {"task_id": ta["book_visit"]}),
        ]
        # a booking asks for the date and time first, with inputs named per task
        bookings = [a for a in _all_actions(card) if a["type"] == "Action.ShowCard"]
        assert [
            (a["title"], [(i["type"], i["id"]) for i in a["card"]["body"]]) for a in bookings
        ] == [
            (
                "Klar – ange bokad tid",
                [("Input.Date", f"booked_date_{t}"), ("Input.Time", f"booked_time_{t}")],
            )
            for t in (tb["book_visit"], ta["book_visit"])
        ]
        assert "Uppgift" not in json.dumps(card, ensure_ascii=False)  # the protected name

        # Solberga's MVA sees Solberga's tasks only
        solberga = rows(await card_reply(teams, connector, SARA, "uppgifter"))
        assert [row[0] for row in solberga] == [
            f"Ärende {ids['s']} · {title}" for title in (WAITLIST, LETTER, LAB, BOOK)
        ]
        assert {row[3] for row in solberga} == {"Solberga vårdcentral"}

    listed = await audit_rows(factory, "tasks.listed")
    maria = [
        (e.case_id, e.detail["task_ids"]) for e in listed if e.actor == f"staff:{MARIA['aad']}"
    ]
    assert maria == [
        (b, [tb["waitlist"], tb["lab_package"], tb["invitation_letter"], tb["book_visit"]]),
        (a, [ta["waitlist"], ta["lab_package"], ta["invitation_letter"], ta["book_visit"]]),
    ]
    assert all(e.patient_key and e.unit_id for e in listed)


async def test_tasks_lists_the_answers_awaiting_assignment_first_each_opening_its_triage_card(
    db_url: str, factory: Factory
) -> None:
    """After a reload of the chat, "uppgifter" brings back the triage cards too."""
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        first = await intake(teams, JOUR_VC)
        status, answer = await teams.intake(fresh_answer(fixture_bytes(JOUR_VC), now=utcnow()))
        assert status == 201, answer
        second = answer["case_id"]
        solberga = await intake(teams, JOUR_VC, unit=SOLBERGA)
        named = await intake(teams, "01_osteoporosis_named.json")
        await decide(teams, ANNA, named, "call_in")
        await set_received(factory, {second: at(2), first: at(3)})
        waited = [working_days_between(date(2026, 11, d), local_date(utcnow())) for d in (2, 3)]

        card = await card_reply(teams, connector, MARIA, "uppgifter")
        assert texts(card) == [
            "Öppna uppgifter",
            f"MVA-uppgifter för Tingvalla vårdcentral · {today()}",
            "Svar att fördela",
            "2 svar väntar på fördelning till läkare, äldst först.",
            "Uppgifter",
        ]
        unit = "Tingvalla vårdcentral · Handledsfraktur"
        assert rows(card)[:2] == [
            [f"Ärende {c} · mottaget 2026-11-0{d} · väntat {w} arbetsdagar", INGRID, unit]
            for c, d, w in ((second, 2, waited[0]), (first, 3, waited[1]))
        ]
        assert [row[0] for row in rows(card)[2:]] == [
            f"Ärende {named} · {title}" for title in (WAITLIST, LETTER, LAB, BOOK)
        ]
        triage = [
            ("Öppna fördelningskortet", "card.refresh", {"case_id": case_id, "view": "triage"})
            for case_id in (second, first)
        ]
        assert buttons(card)[:2] == triage
        [sent] = [s for s in connector.sent if s.card == card]
        assert sent.activity["summary"] == "4 öppna uppgifter, 0 försenade, 2 svar att fördela"

        # Solberga's MVA sees Solberga's; a physician, her own tasks only
        sara = await card_reply(teams, connector, SARA, "uppgifter")
        assert buttons(sara) == [
            ("Öppna fördelningskortet", "card.refresh", {"case_id": solberga, "view": "triage"})
        ]
        assert texts(sara)[2:] == [
            "Svar att fördela",
            "1 svar väntar på fördelning till läkare.",
            "Uppgifter",
            "Inga öppna uppgifter.",
        ]
        anna = await card_reply(teams, connector, ANNA, "uppgifter")
        assert "Svar att fördela" not in texts(anna)

        # the button opens the triage card; once assigned, the answer leaves the list
        status, answer = await teams.invoke(MARIA, "card.refresh", triage[0][2])
        opened = card_of(answer)
        check_card(opened)
        assert f"Ärende {second} · Väntar på fördelning" in card_text(opened)
        [assign] = actions_of(opened)
        assert assign["verb"] == "case.assign"
        status, answer = await teams.invoke(
            MARIA, "case.assign", {**assign["data"], "physician": ANNA["aad"]}
        )
        assert "Fördelat till Anna Berg av Maria Svensson" in card_text(card_of(answer))
        after = await card_reply(teams, connector, MARIA, "uppgifter")
        assert buttons(after)[:1] == triage[1:]
        assert texts(after)[3] == "1 svar väntar på fördelning till läkare."
        # the old list's button still shows who took it
        status, answer = await teams.invoke(MARIA, "card.refresh", triage[0][2])
        assert "Fördelat till Anna Berg av Maria Svensson" in card_text(card_of(answer))

    listed = [
        (e.case_id, e.detail)
        for e in await audit_rows(factory, "tasks.listed")
        if e.actor == f"staff:{MARIA['aad']}"
    ]
    triaged = {"command": "uppgifter", "card": "triage"}
    task_ids = list((await tasks_of(factory, named)).values())
    assert [case_id for case_id, _ in listed] == [second, first, named, first, named]
    assert [detail for _, detail in listed[:2]] == [triaged, triaged]
    assert sorted(listed[2][1]["task_ids"]) == sorted(task_ids)


async def test_tasks_of_a_physician_are_their_own(db_url: str, factory: Factory) -> None:
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        ids = await _call_ins(teams, factory)
        card = await card_reply(teams, connector, ANNA, "uppgifter")
        assert texts(card)[1] == f"Dina egna uppgifter · {today()}"
        assert rows(card) == [
            [
                f"Ärende {ids['k']} · {NORMAL_LETTER}",
                KARL,
                "Senast 2099-01-01 · Läkare: Anna Berg",
                "Tingvalla vårdcentral",
            ]
        ]
        assert buttons(card) == [("Klar", "task.complete", {"task_id": ids["tk"]["normal_letter"]})]

        empty = await card_reply(teams, connector, ERIK, "uppgifter")
        assert texts(empty) == [
            "Öppna uppgifter",
            f"Dina egna uppgifter · {today()}",
            "Inga öppna uppgifter.",
        ]
        assert actions_of(empty) == []
        assert await text_reply(teams, connector, NOBODY, "uppgifter") == STRANGER


async def test_tasks_buttons_complete_and_book_from_the_list(db_url: str, factory: Factory) -> None:
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        ids = await _call_ins(teams, factory)
        card = await card_reply(teams, connector, MARIA, "uppgifter")
        by_task = {data["task_id"]: (title, verb, data) for title, verb, data in buttons(card)}

        # "Klar" ticks the task off and answers with its case's task card
        _, verb, data = by_task[ids["tb"]["waitlist"]]
        status, answer = await teams.invoke(MARIA, verb, data)
        assert "Klar – Maria Svensson" in card_text(card_of(answer))

        # "Boka läkartid" asks for the booked date and time, as Teams sends them: the inputs
        # of the clicked form merged into the button's data
        book = ids["ta"]["book_visit"]
        [booking] = [
            a
            for a in _all_actions(card)
            if a["type"] == "Action.ShowCard" and a["card"]["actions"][0]["data"]["task_id"] == book
        ]
        [save] = booking["card"]["actions"]
        status, answer = await teams.invoke(MARIA, save["verb"], save["data"])
        assert error_of(answer) == "Ange datum och klockslag för det bokade läkarbesöket."
        status, answer = await teams.invoke(
            MARIA,
            save["verb"],
            {**save["data"], f"booked_date_{book}": "2099-02-20", f"booked_time_{book}": "09:30"},
        )
        assert "Bokad tid: 2099-02-20 09:30" in card_text(card_of(answer))
        async with factory() as session:
            booked = await session.get(Task, book)
            assert booked is not None and booked.status == "done"

        again = await card_reply(teams, connector, MARIA, "uppgifter")
        assert [row[0] for row in rows(again)] == [
            f"Ärende {ids['a']} · {WAITLIST}",
            f"Ärende {ids['a']} · {LAB}",
            f"Ärende {ids['b']} · {LAB}",
            f"Ärende {ids['b']} · {LETTER}",
            f"Ärende {ids['a']} · {LETTER}",
            f"Ärende {ids['b']} · {BOOK}",
        ]


async def test_a_long_task_list_is_capped_and_only_shown_rows_are_audited(
    db_url: str, factory: Factory
) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id = await intake(teams, "01_osteoporosis_named.json")
        await decide(teams, ANNA, case_id, "call_in")
        async with transaction(factory) as session:
            template = await session.scalar(select(Task).where(Task.kind == "lab_package"))
            assert template is not None
            for i in range(36):
                session.add(
                    Task(
                        case_id=case_id,
                        unit_id=template.unit_id,
                        kind="lab_package",
                        position=10 + i,
                        title=f"Extra {i:02d}",
                        assignee_role="mva",
                        due=date(2099, 6, 1),
                        status="open",
                    )
                )
        card = await card_reply(teams, connector, MARIA, "uppgifter")
        assert len(rows(card)) == 30
        assert texts(card)[-1] == "… och 10 till (de med senare förfallodag)."
        [facts] = [item for item in card["body"] if item["type"] == "FactSet"]
        assert facts["facts"][0] == {"title": "Öppna", "value": "40"}
    [entry] = await audit_rows(factory, "tasks.listed")
    assert entry.case_id == case_id
    assert len(entry.detail["task_ids"]) == 30


# ------------------------------------------------------------------------------ uppföljning


async def in_follow_up(
    factory: Factory, plans: dict[int, tuple[int, dict[str, str] | None]]
) -> None:
    """Put each case in follow-up, its follow-up 1 planned `days` from today (negative:
    overdue) for `physician` (None: the case's)."""
    now = utcnow()
    async with transaction(factory) as session:
        for case_id, (days, physician) in plans.items():
            staff = None
            if physician is not None:
                staff = await session.scalar(
                    select(Staff.id).where(Staff.aad_object_id == physician["aad"])
                )
                assert staff is not None
            await session.execute(
                update(Case).where(Case.id == case_id).values(state=CaseState.FOLLOW_UP)
            )
            session.add(
                FollowUp(
                    case_id=case_id,
                    number=1,
                    due=local_date(now) + timedelta(days=days),
                    physician_id=staff,
                    created_at=now,
                )
            )


def day(offset: int) -> str:
    return (local_date(utcnow()) + timedelta(days=offset)).isoformat()


async def test_followups_lists_my_due_and_overdue_followups_earliest_first(
    db_url: str, factory: Factory
) -> None:
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        margareta = await intake(teams, "01_osteoporosis_named.json")
        karl = await intake(teams, "02_normal_named.json")
        protected = await intake(teams, "05_protected_identity.json")
        eriks = await intake(teams, "04_hip_fracture_osteopenia.json")  # Anna's case
        later = await intake(teams, "06_samordningsnummer.json")
        olles = await intake(teams, "09_young_zscore.json", unit=SOLBERGA)
        await in_follow_up(
            factory,
            {
                margareta: (-7, ANNA),
                protected: (-1, None),  # planned with no physician: the case's, Anna
                karl: (0, ANNA),
                eriks: (-3, ERIK),  # Erik does this follow-up
                later: (3, ANNA),  # not due yet
                olles: (-2, OLLE),
            },
        )
        unit = "Tingvalla vårdcentral"
        texts_sent = (
            "uppföljning",
            "Uppföljningar",
            "UPPFOLJNING",
            "<at>Bot</at> mina uppföljningar",
        )
        for text in texts_sent:
            card = await card_reply(teams, connector, ANNA, text)
            assert texts(card) == [
                "Uppföljningar att registrera",
                f"Anna Berg · {today()}",
                "3 uppföljningar efter läkarbesök väntar på dig, 2 försenade, "
                "tidigast planerade först.",
            ], text
            assert rows(card) == [
                [
                    f"Ärende {margareta} · Uppföljning 1",
                    MARGARETA,
                    f"Planerad {day(-7)} · 7 dagar försenad",
                    unit,
                ],
                [
                    f"Ärende {protected} · Uppföljning 1",
                    "Skyddad identitet",
                    f"Planerad {day(-1)} · 1 dag försenad",
                    unit,
                ],
                [f"Ärende {karl} · Uppföljning 1", KARL, f"Planerad {day(0)} · i dag", unit],
            ]
            assert buttons(card) == [
                ("Öppna uppföljningen", "card.refresh", {"case_id": case_id, "view": "followup"})
                for case_id in (margareta, protected, karl)
            ]
            assert "Uppgift" not in json.dumps(card, ensure_ascii=False)  # the protected name

        [[erik_row, *_]] = rows(await card_reply(teams, connector, ERIK, "uppföljning"))
        assert erik_row == f"Ärende {eriks} · Uppföljning 1"
        [[olle_row, _, olle_due, olle_unit]] = rows(
            await card_reply(teams, connector, OLLE, "uppföljning")
        )
        assert (olle_row, olle_due, olle_unit) == (
            f"Ärende {olles} · Uppföljning 1",
            f"Planerad {day(-2)} · 2 dagar försenad",
            "Solberga vårdcentral",
        )
        for person in (MARIA, SARA):
            reply = await text_reply(teams, connector, person, "uppföljning")
            assert reply == NOT_A_FOLLOWUP_PHYSICIAN
        assert await text_reply(teams, connector, NOBODY, "uppföljning") == STRANGER

    listed = await audit_rows(factory, "followups.listed")
    shown = [(a.actor, a.case_id) for a in listed if a.outcome == "ok"]
    anna = f"staff:{ANNA['aad']}"
    assert shown == [(anna, margareta), (anna, protected), (anna, karl)] * len(texts_sent) + [
        (f"staff:{ERIK['aad']}", eriks),
        (f"staff:{OLLE['aad']}", olles),
    ]
    assert all(a.patient_key and a.detail["command"] == "uppföljning" for a in listed if a.case_id)
    refused = [(a.actor, a.detail["reason"]) for a in listed if a.outcome == "refused"]
    assert refused == [
        (f"staff:{MARIA['aad']}", "not a physician"),
        (f"staff:{SARA['aad']}", "not a physician"),
        (f"aad:{NOBODY['aad']}", "not in the directory"),
    ]


async def test_followups_button_opens_the_followup_card_and_recording_empties_the_list(
    db_url: str, factory: Factory
) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id = await intake(teams, "01_osteoporosis_named.json")
        await in_follow_up(factory, {case_id: (-2, ANNA)})
        card = await card_reply(teams, connector, ANNA, "uppföljning")
        [(title, verb, data)] = buttons(card)
        assert (title, verb, data) == (
            "Öppna uppföljningen",
            "card.refresh",
            {"case_id": case_id, "view": "followup"},
        )

        status, answer = await teams.invoke(ANNA, verb, data)
        followup_card = card_of(answer)
        check_card(followup_card)
        assert "Uppföljning 1 – frakturkedjan" in card_text(followup_card)
        [record] = actions_of(followup_card)
        assert record["verb"] == "followup.record"

        # recorded without a next follow-up: the case closes and leaves the list
        answers = {
            "treatment": "alendronat",
            "on_treatment": "true",
            "falls": "false",
            "new_fracture": "false",
        }
        status, answer = await teams.invoke(ANNA, "followup.record", {**record["data"], **answers})
        assert "Ärendet är avslutat" in card_text(card_of(answer))
        empty = await card_reply(teams, connector, ANNA, "uppföljning")
        assert texts(empty)[2] == "Inga uppföljningar att registrera just nu."
        assert rows(empty) == [] and actions_of(empty) == []
    [entry] = await audit_rows(factory, "followups.listed")
    assert (entry.case_id, entry.detail) == (
        case_id,
        {"command": "uppföljning", "follow_up": 1},
    )


# ------------------------------------------------------------------------------ ärende <id>


async def test_case_shows_the_summary_to_the_unit_and_is_audited(
    db_url: str, factory: Factory
) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id = await intake(teams, "01_osteoporosis_named.json")
        for person, text in [
            (MARIA, f"ärende {case_id}"),
            (MARIA, f"Ärende {case_id}"),
            (ERIK, f"arende {case_id}"),
            (ANNA, f"<at>Frakturkedjan</at> ärende #{case_id}"),
        ]:
            card = await card_reply(teams, connector, person, text)
            assert texts(card)[:2] == [
                "Svar på bentäthetsmätning",
                f"Ärende {case_id} · Väntar på beslut",
            ], text
            assert "Inget beslut registrerat." in texts(card)
            assert MARGARETA in card_text(card)
            assert "Svar mottaget" in card_text(card)  # the history
            assert actions_of(card) == []  # read-only
    shown = [
        (a.actor, a.case_id, a.detail)
        for a in await audit_rows(factory, "card.shown")
        if a.detail.get("trigger") == "command"
    ]
    assert shown == [
        (f"staff:{MARIA['aad']}", case_id, {"trigger": "command"}),
        (f"staff:{MARIA['aad']}", case_id, {"trigger": "command"}),
        (f"staff:{ERIK['aad']}", case_id, {"trigger": "command"}),
        (f"staff:{ANNA['aad']}", case_id, {"trigger": "command"}),
    ]


async def test_case_refusals_are_clear_and_audited(db_url: str, factory: Factory) -> None:
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        case_id = await intake(teams, "01_osteoporosis_named.json")
        assert await text_reply(teams, connector, MARIA, "ärende 999999") == (
            "Ärende 999999 finns inte. Kontrollera numret."
        )
        huge = "9" * 40
        assert await text_reply(teams, connector, MARIA, f"ärende {huge}") == (
            "Det finns inget ärende med det numret. Kontrollera numret."
        )
        for person in (OLLE, SARA):
            assert await text_reply(teams, connector, person, f"ärende {case_id}") == (
                f"Du saknar behörighet till ärende {case_id}. Ett ärende visas bara för läkare, "
                "MVA och administratörer på ärendets enhet."
            )
        assert await text_reply(teams, connector, NOBODY, f"ärende {case_id}") == STRANGER
    refused = [
        (a.actor, a.case_id, a.detail["reason"])
        for a in await audit_rows(factory, "card.refresh")
        if a.outcome == "refused"
    ]
    assert refused == [
        (f"staff:{MARIA['aad']}", None, "unknown case"),
        (f"staff:{MARIA['aad']}", None, "unknown case"),
        (f"staff:{OLLE['aad']}", case_id, "role"),
        (f"staff:{SARA['aad']}", case_id, "role"),
        (f"aad:{NOBODY['aad']}", case_id, "role"),
    ]
    assert [a for a in await audit_rows(factory, "card.shown") if a.outcome != "ok"] == []


async def test_case_without_a_number_asks_and_the_answer_survives_a_restart(
    db_url: str, factory: Factory
) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id = await intake(teams, "01_osteoporosis_named.json")
        assert await text_reply(teams, connector, MARIA, "ärende") == ASK_CASE
    # the question is in the database, under the personal conversation's key
    [stored] = await dialog_rows(factory)
    assert stored.key == f"msteams/conversations/{personal_conversation(MARIA)}"
    assert '"case_number"' in stored.data

    async with running_bot(db_url) as (teams, connector):  # a new process, a new engine
        assert await text_reply(teams, connector, MARIA, "tolv") == RETRY_CASE
        card = await card_reply(teams, connector, MARIA, f" {case_id} ")
        assert texts(card)[1] == f"Ärende {case_id} · Väntar på beslut"
        # the question is answered: a number alone is no command now
        card = await card_reply(teams, connector, MARIA, f"{case_id}")
        assert texts(card)[0] == "Frakturkedjan – kommandon"
    [stored] = await dialog_rows(factory)
    assert '"case_number"' not in stored.data


async def test_case_question_answered_by_ärende_and_a_number(db_url: str, factory: Factory) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id = await intake(teams, "01_osteoporosis_named.json")
        assert await text_reply(teams, connector, ANNA, "Ärende?") == ASK_CASE
        card = await card_reply(teams, connector, ANNA, f"ärende {case_id}")
        assert texts(card)[1] == f"Ärende {case_id} · Väntar på beslut"
        assert await text_reply(teams, connector, ANNA, "ärende abc") == ASK_CASE
        assert await text_reply(teams, connector, ANNA, "999999") == (
            "Ärende 999999 finns inte. Kontrollera numret."
        )


async def test_another_command_replaces_the_question_and_avbryt_drops_it(
    db_url: str, factory: Factory
) -> None:
    async with running_bot(db_url) as (teams, connector):
        assert await text_reply(teams, connector, MARIA, "ärende") == ASK_CASE
        card = await card_reply(teams, connector, MARIA, "uppgifter")
        assert texts(card)[0] == "Öppna uppgifter"
        card = await card_reply(teams, connector, MARIA, "12")  # no question open any more
        assert texts(card)[0] == "Frakturkedjan – kommandon"

        assert await text_reply(teams, connector, MARIA, "ärende") == ASK_CASE
        assert await text_reply(teams, connector, MARIA, "Avbryt") == CANCELLED
        assert await text_reply(teams, connector, MARIA, "avbryt") == NOTHING_TO_CANCEL

        assert await text_reply(teams, connector, MARIA, "ärende") == ASK_CASE
        card = await card_reply(teams, connector, MARIA, "hjälp")
        assert texts(card)[0] == "Frakturkedjan – kommandon"


async def test_the_question_is_given_up_after_three_answers_that_are_no_number(
    db_url: str, factory: Factory
) -> None:
    async with running_bot(db_url) as (teams, connector):
        assert await text_reply(teams, connector, MARIA, "ärende") == ASK_CASE
        assert await text_reply(teams, connector, MARIA, "det gamla") == RETRY_CASE
        assert await text_reply(teams, connector, MARIA, "det med höften") == RETRY_CASE
        assert await text_reply(teams, connector, MARIA, "vet inte") == GAVE_UP
        card = await card_reply(teams, connector, MARIA, "vet inte")
        assert texts(card)[0] == "Frakturkedjan – kommandon"


async def test_every_reply_of_a_conversation_round_validates(db_url: str, factory: Factory) -> None:
    """Every card the commands send is valid Adaptive Card 1.5 and small, protected
    identities included."""
    await two_units(factory)
    async with running_bot(db_url) as (teams, connector):
        ids = await _call_ins(teams, factory)
        await intake(teams, "06_samordningsnummer.json")
        for person in (ANNA, ERIK, MARIA, OLLE, SARA, NOBODY):
            for text in (
                "hjälp",
                "mina ärenden",
                "uppgifter",
                "uppföljning",
                f"ärende {ids['b']}",
                f"ärende {ids['s']}",
                "ärende",
                "1",
                "x",
            ):
                for sent in await say(teams, connector, person, text):
                    if sent.card is not None:
                        check_card(sent.card)
                    else:
                        assert sent.activity["text"] and sent.activity["text"] != COMMAND_FAILED
