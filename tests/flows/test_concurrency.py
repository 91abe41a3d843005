"""Two people clicking the same card at the same moment, over the loopback harness, on
SQLite and PostgreSQL: exactly one action wins, the other records nothing but its audit
row and is told what happened. Each race runs several rounds on fresh cases."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from bot.audit.models import AuditEntry
from bot.cases.enums import EventKind
from bot.cases.models import Case, CaseEvent, Decision
from bot.db import transaction
from bot.directory.service import load_directory
from bot.outbox.models import OutboxMessage
from bot.tasks.models import Task
from tests.harness import (
    ANNA,
    CHANNEL,
    ERIK,
    MARIA,
    Teams,
    card_of,
    card_text,
    running_bot,
)
from tests.helpers import FIXTURES, fixture_bytes

ROUNDS = 5
TASK_KINDS = {
    "call_in": ["waitlist", "invitation_letter", "lab_package", "book_visit"],
    "normal_letter": ["normal_letter"],
    "normal_call": ["normal_call"],
    "other": ["other"],
}


def fresh_bundle(sample: str, round_no: int) -> bytes:
    """The sample with its own answer identifier, so that each round is a new case."""
    bundle = json.loads(fixture_bytes(sample))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "DiagnosticReport":
            resource["identifier"][0]["value"] += f"-race{round_no}"
    return json.dumps(bundle, ensure_ascii=False).encode()


async def new_case(teams: Teams, sample: str, round_no: int) -> int:
    status, body = await teams.intake(fresh_bundle(sample, round_no))
    assert status == 201, body
    case_id: int = body["case_id"]
    return case_id


async def audit_outcomes(factory: Any, case_id: int, action: str) -> list[tuple[str, str]]:
    async with factory() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.case_id == case_id, AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return sorted((a.outcome, a.actor) for a in rows.all())


async def events(factory: Any, case_id: int, action: str) -> list[CaseEvent]:
    async with factory() as session:
        rows = await session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == action)
        )
        return list(rows.all())


async def setup(teams: Teams) -> None:
    for person in (ANNA, ERIK, MARIA):
        await teams.install_personal(person)
    await teams.install_channel(MARIA)


KARIN = {"aad": "00000000-0000-0000-0000-000000000104", "id": "29:karin", "name": "Karin Holm"}


async def test_two_assignments_at_once_give_one_owner(db_url: str, factory: Any) -> None:
    # (who clicks, to whom) for both clicks of each round
    # a second medical secretary of the unit, so that two secretaries race too
    text = (FIXTURES / "directory.yaml").read_text(encoding="utf-8") + (
        "  - name: Karin Holm\n"
        f"    aad_object_id: {KARIN['aad']}\n"
        "    units: {SE2321000156-7TNG: [mva]}\n"
    )
    async with transaction(factory) as session:
        await load_directory(session, text, actor="test")
    races = [
        ((MARIA, ERIK), (KARIN, ANNA)),  # two secretaries at once
        ((MARIA, ERIK), (ANNA, ANNA)),
        ((ERIK, ANNA), (MARIA, ERIK)),
    ]
    async with running_bot(db_url) as (teams, _connector):
        await setup(teams)
        for round_no in range(ROUNDS):
            case_id = await new_case(teams, "03_osteopenia_jour_vc.json", round_no)
            clicks = races[round_no % len(races)]
            answers = await asyncio.gather(
                *(
                    teams.invoke(
                        who,
                        "case.assign",
                        {"case_id": case_id, "version": 1, "physician": to["aad"]},
                        conversation_id=CHANNEL,
                    )
                    for who, to in clicks
                )
            )
            assert [status for status, _ in answers] == [200, 200]
            texts = [card_text(card_of(answer)) for _, answer in answers]
            lost = [i for i, text in enumerate(texts) if "Redan fördelat" in text]
            assert len(lost) == 1, (round_no, texts)
            won = 1 - lost[0]
            winner, target = clicks[won]
            assert f"Redan fördelat till {target['name']}" in texts[lost[0]]

            async with factory() as session:
                case = await session.get(Case, case_id)
                assert case is not None and case.physician is not None
                assert case.physician.aad_object_id == target["aad"]
                assert (case.state, case.version) == ("awaiting_decision", 2)
                cards = (
                    await session.scalars(
                        select(OutboxMessage).where(
                            OutboxMessage.case_id == case_id,
                            OutboxMessage.purpose == "decision_card",
                        )
                    )
                ).all()
                assert [c.target for c in cards] == [target["aad"]]
            assert await audit_outcomes(factory, case_id, "case.assign") == sorted(
                [
                    ("ok", f"staff:{winner['aad']}"),
                    ("stale", f"staff:{clicks[lost[0]][0]['aad']}"),
                ]
            )
            assert len(await events(factory, case_id, EventKind.ASSIGNED)) == 1


async def test_two_decisions_at_once_give_one_decision(db_url: str, factory: Any) -> None:
    # the sample shows osteoporosis: a normal decision is the confirmation's click
    letter = {"decision": "normal_letter", "confirmed": True}
    races: list[tuple[tuple[dict[str, str], dict[str, Any]], ...]] = [
        ((ANNA, {"decision": "call_in"}), (ERIK, letter)),
        (
            (ERIK, {"decision": "other", "other_note": "Ring patienten"}),
            (ANNA, {"decision": "normal_call", "confirmed": True}),
        ),
        ((ANNA, letter), (ERIK, {"decision": "call_in"})),
    ]
    async with running_bot(db_url) as (teams, _connector):
        await setup(teams)
        for round_no in range(ROUNDS):
            case_id = await new_case(teams, "01_osteoporosis_named.json", round_no)
            clicks = races[round_no % len(races)]
            answers = await asyncio.gather(
                *(
                    teams.invoke(who, "case.decide", {"case_id": case_id, "version": 1, **data})
                    for who, data in clicks
                )
            )
            assert [status for status, _ in answers] == [200, 200]
            texts = [card_text(card_of(answer)) for _, answer in answers]
            lost = [i for i, text in enumerate(texts) if "Redan beslutat" in text]
            assert len(lost) == 1, (round_no, texts)
            won = 1 - lost[0]
            winner, data = clicks[won]
            assert f"Redan beslutat av {winner['name']}" in texts[lost[0]]

            async with factory() as session:
                decisions = (
                    await session.scalars(select(Decision).where(Decision.case_id == case_id))
                ).all()
                assert [d.kind for d in decisions] == [data["decision"]]
                assert decisions[0].by.aad_object_id == winner["aad"]
                tasks = (
                    await session.scalars(
                        select(Task).where(Task.case_id == case_id).order_by(Task.position)
                    )
                ).all()
                assert [t.kind for t in tasks] == TASK_KINDS[data["decision"]]
                case = await session.get(Case, case_id)
                assert case is not None and (case.state, case.version) == ("decided", 2)
                task_cards = (
                    await session.scalars(
                        select(OutboxMessage).where(
                            OutboxMessage.case_id == case_id, OutboxMessage.purpose == "task_card"
                        )
                    )
                ).all()
                assert len(task_cards) == 1
                assert task_cards[0].task_id == tasks[0].id
            assert await audit_outcomes(factory, case_id, "case.decide") == sorted(
                [
                    ("ok", f"staff:{winner['aad']}"),
                    ("stale", f"staff:{clicks[lost[0]][0]['aad']}"),
                ]
            )
            assert len(await events(factory, case_id, EventKind.DECIDED)) == 1


async def _call_in(teams: Teams, factory: Any, round_no: int) -> tuple[int, list[int]]:
    case_id = await new_case(teams, "01_osteoporosis_named.json", round_no)
    status, answer = await teams.invoke(
        ANNA, "case.decide", {"case_id": case_id, "version": 1, "decision": "call_in"}
    )
    card_of(answer)
    async with factory() as session:
        ids = (
            await session.scalars(
                select(Task.id).where(Task.case_id == case_id).order_by(Task.position)
            )
        ).all()
    assert len(ids) == 4
    return case_id, list(ids)


async def test_two_completions_of_one_task_at_once(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        await setup(teams)
        for round_no in range(ROUNDS):
            case_id, task_ids = await _call_in(teams, factory, round_no)
            # two different clicks (the same click twice is answered once: test_clicks)
            answers = await asyncio.gather(
                *(
                    teams.invoke(
                        MARIA,
                        "task.complete",
                        {"task_id": task_ids[0], "note": f"klick {i}"},
                        conversation_id=CHANNEL,
                    )
                    for i in range(2)
                )
            )
            assert [status for status, _ in answers] == [200, 200]
            texts = [card_text(card_of(answer)) for _, answer in answers]
            assert sum("Redan klar – Maria Svensson" in text for text in texts) == 1, texts

            async with factory() as session:
                task = await session.get(Task, task_ids[0])
                assert task is not None and task.status == "done"
                assert task.done_by is not None and task.done_by.aad_object_id == MARIA["aad"]
                others = (
                    await session.scalars(select(Task.status).where(Task.id.in_(task_ids[1:])))
                ).all()
                assert list(others) == ["open"] * 3
            assert await audit_outcomes(factory, case_id, "task.complete") == [
                ("ok", f"staff:{MARIA['aad']}"),
                ("stale", f"staff:{MARIA['aad']}"),
            ]
            assert len(await events(factory, case_id, EventKind.TASK_DONE)) == 1


async def test_two_clicks_on_the_last_task_close_the_case_once(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        await setup(teams)
        for round_no in range(ROUNDS):
            case_id = await new_case(teams, "02_normal_named.json", round_no)
            status, answer = await teams.invoke(
                ANNA, "case.decide", {"case_id": case_id, "version": 1, "decision": "normal_letter"}
            )
            card_of(answer)
            async with factory() as session:
                [task_id] = (
                    await session.scalars(select(Task.id).where(Task.case_id == case_id))
                ).all()
            answers = await asyncio.gather(
                *(
                    teams.invoke(ANNA, "task.complete", {"task_id": task_id, "note": f"klick {i}"})
                    for i in range(2)
                )
            )
            texts = [card_text(card_of(answer)) for _, answer in answers]
            assert sum("Redan klar – Anna Berg" in text for text in texts) == 1, texts

            async with factory() as session:
                case = await session.get(Case, case_id)
                assert case is not None
                assert (case.state, case.version) == ("closed", 3), round_no
                assert case.closed_at is not None
            assert len(await events(factory, case_id, EventKind.CLOSED)) == 1
            assert len(await events(factory, case_id, EventKind.TASK_DONE)) == 1
            assert await audit_outcomes(factory, case_id, "task.complete") == [
                ("ok", f"staff:{ANNA['aad']}"),
                ("stale", f"staff:{ANNA['aad']}"),
            ]


async def test_different_tasks_of_one_case_at_once_are_all_recorded(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, _connector):
        await setup(teams)
        for round_no in range(ROUNDS):
            case_id, task_ids = await _call_in(teams, factory, round_no)
            answers = await asyncio.gather(
                *(
                    teams.invoke(
                        MARIA, "task.complete", {"task_id": task_id}, conversation_id=CHANNEL
                    )
                    for task_id in task_ids[:3]
                )
            )
            for _, answer in answers:
                assert "Redan klar" not in card_text(card_of(answer))

            async with factory() as session:
                statuses = (
                    await session.scalars(
                        select(Task.status).where(Task.case_id == case_id).order_by(Task.position)
                    )
                ).all()
                assert list(statuses) == ["done", "done", "done", "open"]
            assert len(await events(factory, case_id, EventKind.TASK_DONE)) == 3
            assert [o for o, _ in await audit_outcomes(factory, case_id, "task.complete")] == [
                "ok",
                "ok",
                "ok",
            ]


async def test_the_same_answer_twice_at_once_is_stored_once(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        for _ in range(5):
            results = await asyncio.gather(
                *(teams.intake(fixture_bytes("02_normal_named.json")) for _ in range(4))
            )
            statuses = sorted(status for status, _ in results)
            assert statuses in ([200, 200, 200, 200], [200, 200, 200, 201])
            assert len({body["case_id"] for _, body in results}) == 1
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 1
