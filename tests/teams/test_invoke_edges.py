"""Card clicks a hostile or broken client can send (issue 10, point 3), through the real
`POST /api/messages`, on both databases and on both paths (without and through the SDK's
turn): each gets a Swedish answer that names the problem, never InternalError, and
records nothing but the audit row of the refusal."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.audit.models import AuditEntry
from bot.cases.models import Decision
from bot.tasks.models import Task
from tests.harness import ANNA, ERIK, MARIA, card_of
from tests.helpers import pg_admin
from tests.teams.clicks import Product, World, product, recorded, world

Factory = async_sessionmaker[AsyncSession]

ID_RANGE = "ska vara ett heltal från 1 till 2 147 483 647"


def refused(status: int, answer: Any) -> str:
    """The message of a refusal: HTTP 200, Teams' error type, never InternalError."""
    assert status == 200, answer
    assert answer["statusCode"] == 400, answer
    assert answer["type"] == "application/vnd.microsoft.error", answer
    assert answer["value"]["code"] == "BadRequest", answer
    message: str = answer["value"]["message"]
    return message


def invalid(*problems: str) -> str:
    return "Ogiltiga uppgifter i kortet: " + "; ".join(problems) + ". Ladda om kortet."


def cases_of(w: World) -> dict[str, Any]:
    return {
        "decide": {"case_id": w.undecided, "version": 1, "decision": "normal_letter"},
        "call_in": {"case_id": w.undecided, "version": 1, "decision": "call_in"},
        "other": {"case_id": w.undecided, "version": 1, "decision": "other"},
        "visit": {"case_id": w.booked, "treatment": "alendronat", "patient_informed": "true"},
        "task": {"task_id": w.task},
    }


async def check_all(
    p: Product, factory: Factory, clicks: list[tuple[Any, Any, dict[str, str], str]]
) -> None:
    """Each click gets exactly its message, and none of them records anything."""
    before = await recorded(factory)
    got = []
    for verb, data, person, _ in clicks:
        status, answer = await p.act(verb, data, person=person)
        got.append(refused(status, answer))
    assert got == [message for *_, message in clicks]
    assert await recorded(factory) == before


async def test_ids_outside_the_integer_range_are_refused_by_name(
    db_url: str, factory: Factory, click_path: str
) -> None:
    w = await world(factory)
    data = cases_of(w)
    async with product(db_url) as p:
        await check_all(
            p,
            factory,
            [
                (
                    "case.decide",
                    {**data["decide"], "case_id": 2**31},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "case_id": 2**70},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "case_id": 0},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "case_id": -1},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "version": 2**31},
                    ANNA,
                    invalid("version ska vara ett heltal från 0 till 2 147 483 647"),
                ),
                (
                    "case.assign",
                    {"case_id": 2**31, "version": 1, "physician": ANNA["aad"]},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                ("task.complete", {"task_id": 2**31}, MARIA, invalid(f"task_id {ID_RANGE}")),
                ("task.reopen", {"task_id": -(2**70)}, MARIA, invalid(f"task_id {ID_RANGE}")),
                ("card.refresh", {"case_id": 2**63}, ANNA, invalid(f"case_id {ID_RANGE}")),
                ("card.refresh", {"task_id": "99999999999"}, ANNA, invalid(f"task_id {ID_RANGE}")),
                (
                    "visit.record",
                    {**data["visit"], "case_id": 2**31},
                    ERIK,
                    invalid(f"case_id {ID_RANGE}"),
                ),
            ],
        )


async def test_wrong_json_types_are_refused_by_name(
    db_url: str, factory: Factory, click_path: str
) -> None:
    w = await world(factory)
    data = cases_of(w)
    assert w.undecided == 1  # `true` would be taken for case 1 by lax parsing
    async with product(db_url) as p:
        await check_all(
            p,
            factory,
            [
                (
                    "case.decide",
                    {**data["decide"], "case_id": True},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "case_id": 1.0},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "case_id": [1]},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "case_id": {"id": 1}},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "case_id": None},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "case_id": "1.0"},
                    ANNA,
                    invalid(f"case_id {ID_RANGE}"),
                ),
                (
                    "case.decide",
                    {**data["decide"], "decision": ["normal_letter"]},
                    ANNA,
                    invalid("decision ska vara text"),
                ),
                (
                    "case.decide",
                    {**data["call_in"], "note": {"text": "x"}},
                    ANNA,
                    invalid("note ska vara text"),
                ),
                (
                    "case.decide",
                    {**data["call_in"], "visit_physician": 17},
                    ANNA,
                    invalid("visit_physician ska vara text"),
                ),
                (
                    "case.decide",
                    {**data["call_in"], "visit_physician": "x" * 100_000},
                    ANNA,
                    invalid("visit_physician är inget giltigt val"),
                ),
                (
                    "case.decide",
                    {**data["call_in"], "note": "tid\x00"},
                    ANNA,
                    invalid("note innehåller tecken som inte kan sparas"),
                ),
                (
                    "case.decide",
                    {**data["other"], "other_note": "a\ud800b"},
                    ANNA,
                    invalid("other_note innehåller tecken som inte kan sparas"),
                ),
                (
                    "case.decide",
                    [1, 1, "normal_letter"],
                    ANNA,
                    invalid("case_id saknas", "version saknas", "decision saknas"),
                ),
                (
                    "case.assign",
                    {"case_id": w.undecided, "version": 1, "physician": ["x"]},
                    ANNA,
                    invalid("physician ska vara text"),
                ),
                (
                    "task.complete",
                    {**data["task"], "note": ["klar"]},
                    MARIA,
                    invalid("note ska vara text"),
                ),
                (
                    "task.complete",
                    {**data["task"], "note": "\x00"},
                    MARIA,
                    invalid("note innehåller tecken som inte kan sparas"),
                ),
                (
                    "task.complete",
                    {**data["task"], "booked_date": [2026]},
                    MARIA,
                    invalid("booked_date ska vara ett datum (ÅÅÅÅ-MM-DD)"),
                ),
                (
                    "card.refresh",
                    {"case_id": w.undecided, "view": {"v": 1}},
                    ANNA,
                    invalid("view ska vara text"),
                ),
                (
                    "visit.record",
                    {**data["visit"], "physio_contact": [True]},
                    ERIK,
                    invalid("physio_contact ska vara true eller false"),
                ),
                (
                    "visit.record",
                    {**data["visit"], "treatment": 7},
                    ERIK,
                    invalid("treatment ska vara text"),
                ),
            ],
        )


async def test_ids_sent_as_numbers_or_digits_still_work(
    db_url: str, factory: Factory, click_path: str
) -> None:
    w = await world(factory)
    async with product(db_url) as p:
        for case_id in (w.undecided, str(w.undecided)):
            status, answer = await p.act("card.refresh", {"case_id": case_id})
            assert f"Ärende {w.undecided}" in str(card_of(answer))
        status, answer = await p.act(
            "case.decide",
            {
                "case_id": str(w.undecided),
                "version": "1",
                "decision": "normal_letter",
                "confirmed": "true",  # the sample shows osteoporosis
            },
        )
        card_of(answer)
    async with factory() as session:
        decision = await session.scalar(select(Decision).where(Decision.case_id == w.undecided))
        assert decision is not None and decision.kind == "normal_letter"


UNKNOWN_VERBS: list[Any] = [
    {"action": {"verb": "no.such.verb", "data": {}}},
    {"action": {"verb": ["case.decide"], "data": {}}},
    {"action": {"verb": {"verb": "case.decide"}, "data": {}}},
    {"action": {"verb": 17, "data": {}}},
    {"action": {"verb": 1.5, "data": {}}},
    {"action": {"verb": True, "data": {}}},
    {"action": {"verb": None, "data": {}}},
    {"action": {"data": {"case_id": 1}}},  # no verb
    {"action": {"verb": "x" * 100_000}},
    {"action": {"verb": "case.decide\x00"}},
    {"action": {"verb": "\ud800"}},
    {"action": ["case.decide"]},
    ["case.decide"],
    "case.decide",
    None,
]


async def test_unknown_verbs_of_any_json_type(
    db_url: str, factory: Factory, click_path: str
) -> None:
    await world(factory)
    before = await recorded(factory)
    async with product(db_url) as p:
        got = [refused(*await p.click(value)) for value in UNKNOWN_VERBS]
    assert got == ["Okänd åtgärd. Ladda om kortet."] * len(UNKNOWN_VERBS)
    assert await recorded(factory) == before


async def test_text_over_its_limit_is_refused_with_the_limit_never_cut(
    db_url: str, factory: Factory, click_path: str
) -> None:
    w = await world(factory)
    data = cases_of(w)
    async with product(db_url) as p:
        await check_all(
            p,
            factory,
            [
                (
                    "case.decide",
                    {**data["call_in"], "note": "x" * 100_000},
                    ANNA,
                    "Anteckningen är 100 000 tecken; högst 1 000 får plats.",
                ),
                (
                    "case.decide",
                    {**data["other"], "other_note": "å" * 1001},
                    ANNA,
                    "Beskrivningen av åtgärden är 1 001 tecken; högst 1 000 får plats.",
                ),
                (
                    "task.complete",
                    {**data["task"], "note": "n" * 1001},
                    MARIA,
                    "Anteckningen är 1 001 tecken; högst 1 000 får plats.",
                ),
                (
                    "visit.record",
                    {**data["visit"], "investigation": "u" * 501},
                    ERIK,
                    "Kompletterande utredning är 501 tecken; högst 500 får plats.",
                ),
                (
                    "visit.record",
                    {**data["visit"], "treatment": "none", "no_treatment_reason": "s" * 100_000},
                    ERIK,
                    "Skälet till att ingen behandling sätts in är 100 000 tecken; "
                    "högst 500 får plats.",
                ),
                (
                    "visit.record",
                    {**data["visit"], "investigation": "u" * 600, "case_id": 0},
                    ERIK,
                    invalid(f"case_id {ID_RANGE}")
                    + " Kompletterande utredning är 600 tecken; högst 500 får plats.",
                ),
            ],
        )
        # at the limit, the whole text is kept (surrounding blanks aside)
        status, answer = await p.act(
            "case.decide", {**data["other"], "other_note": "  " + "å" * 1000 + "\n"}
        )
        card_of(answer)
        status, answer = await p.act(
            "task.complete", {**data["task"], "note": "n" * 1000}, person=MARIA
        )
        card_of(answer)
    async with factory() as session:
        decision = await session.scalar(select(Decision).where(Decision.case_id == w.undecided))
        assert decision is not None and decision.note == "å" * 1000
        task = await session.get(Task, w.task)
        assert task is not None and task.note == "n" * 1000


async def test_hostile_activity_fields_around_the_data(
    db_url: str, factory: Factory, click_path: str
) -> None:
    """The clicker's object id and the trigger reach the database too (the directory, the
    audit row): one that no directory holds is an unknown person; an unknown trigger is
    recorded as unknown."""
    w = await world(factory)
    refresh = {"action": {"verb": "card.refresh", "data": {"case_id": w.undecided}}}
    async with product(db_url) as p:
        for aad in ("a" * 100_000, "aad\x00", "\ud800"):
            message = refused(*await p.click({**refresh, "trigger": "manual"}, aad=aad))
            assert message == "Du saknar behörighet till ärendet."
        status, answer = await p.click({**refresh, "trigger": "x" * 100_000})
        card_of(answer)
    async with factory() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(a.actor, a.action, a.outcome) for a in rows[-4:]] == [
        ("aad:unknown", "card.refresh", "refused"),
        ("aad:unknown", "card.refresh", "refused"),
        ("aad:unknown", "card.refresh", "refused"),
        (f"staff:{ANNA['aad']}", "card.shown", "ok"),
    ]
    assert rows[-1].detail == {"trigger": "unknown"}


async def test_refused_data_is_audited_by_field_name(db_url: str, factory: Factory) -> None:
    await world(factory)
    async with product(db_url) as p:
        await p.act(
            "case.decide",
            {"case_id": 2**40, "version": 1, "decision": "other", "other_note": "x" * 2000},
        )
    async with factory() as session:
        last = await session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert last is not None
    assert (last.actor, last.action, last.outcome, last.case_id) == (
        f"aad:{ANNA['aad']}",
        "case.decide",
        "refused",
        None,
    )
    assert last.detail == {"reason": "invalid data", "fields": ["case_id", "other_note"]}


# ---------------------------------------------------------------- the database down


@asynccontextmanager
async def database_down(p: Product, db_url: str) -> AsyncIterator[None]:
    """No new connection to the app's database, and none of its connections left; back
    afterwards. PostgreSQL: the test's own database stops accepting connections and its
    backends are terminated (the shared server runs on). SQLite: the file is gone."""
    if db_url.startswith("postgresql"):
        name = db_url.rsplit("/", 1)[1]
        await pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await pg_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        try:
            yield
        finally:
            await pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        return
    path = db_url.split("///", 1)[1]
    await p.state.engine.dispose()
    os.rename(path, path + ".away")
    os.mkdir(path)  # "unable to open database file"
    try:
        yield
    finally:
        shutil.rmtree(path)
        os.rename(path + ".away", path)


async def test_a_click_while_the_database_is_down_says_try_again(
    db_url: str, factory: Factory, click_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    w = await world(factory)
    click = {"case_id": w.undecided, "version": 1, "decision": "call_in", "note": "Tolk: arabiska"}
    await factory.kw["bind"].dispose()  # the test's own connections, on SQLite too
    before = await recorded(factory)
    async with product(db_url) as p:
        status, answer = await p.act("card.refresh", {"case_id": w.undecided})
        card_of(answer)
        with caplog.at_level(logging.INFO, logger="frakturkedjan.teams"):
            async with database_down(p, db_url):
                status, answer = await p.act("case.decide", click)
        assert status == 200
        assert answer == {
            "statusCode": 400,
            "type": "application/vnd.microsoft.error",
            "value": {
                "code": "ServiceUnavailable",
                "message": "Databasen svarar inte just nu. Försök igen om en stund.",
            },
        }
        [line] = [r for r in caplog.records if r.name == "frakturkedjan.teams"]
        assert line.getMessage() == "card action: database unavailable"
        assert (line.verb, line.case_id) == ("case.decide", w.undecided)  # type: ignore[attr-defined]
        assert "Tolk" not in caplog.text
        await factory.kw["bind"].dispose()
        assert await recorded(factory) == before
        # the database is back: the same click records the decision
        status, answer = await p.act("case.decide", click)
        card_of(answer)
    async with factory() as session:
        decision = await session.scalar(select(Decision).where(Decision.case_id == w.undecided))
        assert decision is not None and decision.note == "Tolk: arabiska"


async def test_a_database_server_that_refuses_connections_says_try_again(
    click_path: str,
) -> None:
    async with product("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere") as p:
        status, answer = await p.act("card.refresh", {"case_id": 1})
    assert answer["value"] == {
        "code": "ServiceUnavailable",
        "message": "Databasen svarar inte just nu. Försök igen om en stund.",
    }


async def test_a_body_nested_deeper_than_the_parser_goes_is_400(db_url: str) -> None:
    """`json.loads` raises RecursionError (not ValueError) past ~1 000 levels."""
    depth = 100_000
    body = '{"type": "invoke", "name": "adaptiveCard/action", "value": '
    body += "[" * depth + "]" * depth + "}"
    async with product(db_url) as p:
        async with p.http.post(
            f"{p.url}/api/messages", data=body, headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 400
            assert await response.json() == {"error": "body_not_json"}
