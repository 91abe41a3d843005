"""The physiotherapy hand-off (issue 12, point 3): "Ja" on physiotherapy contact in the visit
checklist makes an MVA task with a referral draft, due the unit's working days later;
ticking it off asks for the day the referral went and the receiving clinic, which the
case's history and summary then show. Driven end to end over HTTP, on both databases."""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Any

import yaml
from sqlalchemy import select

from bot.audit.models import AuditEntry
from bot.core.calendar import add_working_days, local_date
from bot.db import transaction, utcnow
from bot.directory.service import load_directory
from bot.jobs.checklists import send_due_checklists
from bot.tasks.models import Task
from tests.harness import (
    ANNA,
    CHANNEL,
    ERIK,
    MARIA,
    FakeConnector,
    Teams,
    actions_of,
    card_of,
    card_text,
    check_card,
    error_of,
    personal_conversation,
    running_bot,
)
from tests.helpers import FIXTURES, fixture_bytes

NOTE = "Tolk behövs (finska)."
INVESTIGATION = "Kontroll av D-vitamin och kalcium"
CLINIC = "Fysioterapin Tingvalla"


def plain(text: str) -> str:
    """A card's markdown text as people read it: escapes and joiners gone, one line break."""
    text = re.sub(r"\\(.)", r"\1", text).replace("\u200d", "")
    return re.sub(r"\n\n", "\n", text)


def show_card(card: dict[str, Any], title: str) -> dict[str, Any]:
    """The card of the (one) Action.ShowCard titled `title`, anywhere in `card`."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.ShowCard" and node.get("title") == title:
                found.append(node["card"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    [sub] = found
    return sub


async def _set_physio_days(factory: Any, days: int) -> None:
    data = copy.deepcopy(yaml.safe_load((FIXTURES / "directory.yaml").read_text("utf-8")))
    data["units"][0]["settings"]["physio_due_working_days"] = days
    async with transaction(factory) as session:
        report = await load_directory(session, yaml.safe_dump(data, allow_unicode=True),
                                      actor="test")
    assert report.units_updated == 1


async def _physio_task_card(
    teams: Teams, connector: FakeConnector, factory: Any, sample: str, *, investigation: str
) -> tuple[int, dict[str, Any]]:
    """A call-in of `sample` with a decision note, its visit booked for today and recorded by
    Erik with a physiotherapy contact: the case id and the task card the MVA channel got."""
    for person in (ANNA, ERIK, MARIA):
        await teams.install_personal(person)
    await teams.install_channel(MARIA)
    status, body = await teams.intake(fixture_bytes(sample))
    assert status == 201, body
    case_id: int = body["case_id"]
    [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
    assert sent.card is not None
    data = next(a["data"] for a in actions_of(sent.card) if a["data"]["decision"] == "call_in")
    await teams.invoke(
        ANNA, "case.decide", {**data, "visit_physician": ERIK["aad"], "note": NOTE}
    )
    [task_sent] = await connector.wait_count(CHANNEL, 1)
    assert task_sent.card is not None
    for action in actions_of(task_sent.card):
        if action["verb"] == "task.complete" and action["title"] == "Klar":
            await teams.invoke(MARIA, "task.complete", action["data"], conversation_id=CHANNEL)
    book = show_card(task_sent.card, "Klar – ange bokad tid")["actions"][0]
    today = local_date(utcnow()).isoformat()
    status, answer = await teams.invoke(
        MARIA,
        "task.complete",
        {**book["data"], "booked_date": today, "booked_time": "23:59"},
        conversation_id=CHANNEL,
    )
    card_of(answer)
    assert await send_due_checklists(factory, now=utcnow()) == 1
    [checklist] = await connector.wait_count(personal_conversation(ERIK), 1)
    assert checklist.card is not None
    [record] = actions_of(checklist.card)
    status, answer = await teams.invoke(
        ERIK,
        "visit.record",
        {
            **record["data"],
            "patient_informed": "true",
            "treatment": "alendronat",
            "physio_contact": "true",
            "investigation": investigation,
        },
    )
    assert "Besöket registrerat" in card_text(card_of(answer))
    channel = await connector.wait_count(CHANNEL, 2)
    card = channel[1].card
    assert card is not None and "Fysioterapikontakt" in card_text(card)
    check_card(card)
    return case_id, card


async def _physio_task(factory: Any, case_id: int) -> Task:
    async with factory() as session:
        task = await session.scalar(
            select(Task).where(Task.case_id == case_id, Task.kind == "physio")
        )
        assert task is not None
        return task


async def test_referral_draft_due_date_and_the_tick_off(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _physio_task_card(
            teams, connector, factory, "01_osteoporosis_named.json", investigation=INVESTIGATION
        )
        today = local_date(utcnow())

        # due five working days after the visit was recorded (the product default)
        status, case = await teams.case(case_id)
        [physio] = [t for t in case["tasks"] if t["kind"] == "physio"]
        assert physio["due"] == add_working_days(today, 5).isoformat()
        assert physio["assignee_role"] == "mva" and physio["status"] == "open"

        # the referral draft: reason, finding, ask, the physician's notes, and who sends it
        draft_card = show_card(card, "Visa remissutkast")
        intro, draft_block = draft_card["body"]
        assert intro["type"] == draft_block["type"] == "TextBlock"
        assert "Kopiera texten" in intro["text"]
        draft = plain(draft_block["text"])
        assert draft.startswith("Remiss till fysioterapeut\n")
        for line in (
            "Från: Erik Lund, läkare, Tingvalla vårdcentral",
            f"Datum: {today.isoformat()}",
            "Patient: Margareta Lindqvist",
            "Personnummer: 19520314-2384",
            "Bedömning av fallrisk samt träning av styrka och balans.",
            "Patienten har haft en fragilitetsfraktur (benbrott efter ett lindrigt fall eller "
            "annat lågt våld).",
            "Fraktur: Handledsfraktur (S52.5) – Distal radiusfraktur",
            "Bentäthetsmätning 2026-11-10: lägsta T-score −2,9 (Ländrygg), osteoporos "
            "enligt WHO.",
            "Behandling mot benskörhet har satts in: Alendronat.",
            "- bedöma patientens risk att falla",
            "- ge träning av styrka och balans, gärna med ett program som patienten kan "
            "fortsätta med hemma.",
            f"Vid beslutet: {NOTE}",
            f"Kompletterande utredning: {INVESTIGATION}",
        ):
            assert f"\n{line}\n" in draft, line
        assert draft.endswith("Med vänliga hälsningar\nErik Lund\nLäkare, Tingvalla vårdcentral")

        # ticking it off asks for the day the referral went and the receiving clinic
        form = show_card(card, "Klar – ange remiss")
        inputs = {i["id"]: i for i in form["body"]}
        assert {k: v["type"] for k, v in inputs.items()} == {
            "referral_on": "Input.Date",
            "referral_clinic": "Input.Text",
        }
        assert inputs["referral_on"]["label"] == "Remissen skickad (datum)"
        assert inputs["referral_clinic"]["label"] == "Mottagande mottagning"
        assert inputs["referral_clinic"]["maxLength"] == 200
        assert all(i["isRequired"] for i in inputs.values())
        [save] = form["actions"]
        assert save["verb"] == "task.complete" and save["data"] == {"task_id": physio["id"]}
        data = save["data"]

        # only the unit's MVA may tick it off; the date and the clinic are required; the
        # date may not be in the future; the clinic no longer than the column
        status, answer = await teams.invoke(
            ERIK,
            "task.complete",
            {**data, "referral_on": today.isoformat(), "referral_clinic": CLINIC},
        )
        assert "behörighet" in error_of(answer)
        for missing in ({}, {"referral_on": today.isoformat()}, {"referral_clinic": CLINIC},
                        {"referral_on": today.isoformat(), "referral_clinic": "  "}):
            status, answer = await teams.invoke(
                MARIA, "task.complete", {**data, **missing}, conversation_id=CHANNEL
            )
            assert error_of(answer) == (
                "Ange datum då remissen skickades och mottagande mottagning."
            ), missing
        tomorrow = (today + timedelta(days=1)).isoformat()
        status, answer = await teams.invoke(
            MARIA,
            "task.complete",
            {**data, "referral_on": tomorrow, "referral_clinic": CLINIC},
            conversation_id=CHANNEL,
        )
        assert f"Datumet {tomorrow} har inte kommit än" in error_of(answer)
        status, answer = await teams.invoke(
            MARIA,
            "task.complete",
            {**data, "referral_on": today.isoformat(), "referral_clinic": "å" * 201},
            conversation_id=CHANNEL,
        )
        assert "Mottagande mottagning" in error_of(answer) and "200" in error_of(answer)
        assert (await _physio_task(factory, case_id)).status == "open"

        sent_on = today - timedelta(days=1)
        status, answer = await teams.invoke(
            MARIA,
            "task.complete",
            {**data, "referral_on": sent_on.isoformat(), "referral_clinic": f"  {CLINIC} "},
            conversation_id=CHANNEL,
        )
        done_card = card_of(answer)
        check_card(done_card)
        shown = plain(card_text(done_card))
        assert f"Remiss skickad {sent_on.isoformat()} till {CLINIC}" in shown
        assert "Visa remissutkast" not in str(done_card)

        task = await _physio_task(factory, case_id)
        assert task.status == "done"
        assert (task.referral_on, task.referral_clinic) == (sent_on, CLINIC)

        # the case's history and summary show the referral
        status, case = await teams.case(case_id)
        reasons = [h["reason"] for h in case["history"] if h["kind"] == "task_done"]
        assert reasons[-1] == (
            f"Fysioterapikontakt: remiss skickad {sent_on.isoformat()} till {CLINIC}"
        )
        status, answer = await teams.invoke(MARIA, "card.refresh", {"case_id": case_id})
        summary = card_of(answer)
        check_card(summary)
        summary_text = plain(card_text(summary))
        assert (
            f"Fysioterapikontakt · MVA · Senast {add_working_days(today, 5).isoformat()} · Klar"
            in summary_text
        )
        assert f"· Remiss skickad {sent_on.isoformat()} till {CLINIC}" in summary_text
        assert f"Uppgift klar (Fysioterapikontakt: remiss skickad {sent_on.isoformat()}" in (
            summary_text
        )

        # undone, the referral is forgotten with the tick
        [undo] = [
            a
            for a in actions_of(done_card)
            if a["verb"] == "task.reopen" and a["data"]["task_id"] == task.id
        ]
        status, answer = await teams.invoke(
            MARIA, "task.reopen", undo["data"], conversation_id=CHANNEL
        )
        card_of(answer)
        task = await _physio_task(factory, case_id)
        assert (task.status, task.referral_on, task.referral_clinic) == ("open", None, None)

    # every click audited: refused ones with the reason, the tick with the referral's day
    async with factory() as session:
        rows = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.task_id == task.id, AuditEntry.action == "task.complete")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(r.outcome, r.detail.get("reason")) for r in rows] == [
        ("refused", "role"),
        *[("refused", "referral without date or clinic")] * 4,
        ("refused", "referral in the future"),
        ("ok", None),
    ]
    assert rows[-1].detail == {"referral_on": sent_on.isoformat()}


async def test_protected_identity_unit_days_and_the_task_list(db_url: str, factory: Any) -> None:
    await _set_physio_days(factory, 3)
    async with running_bot(db_url) as (teams, connector):
        case_id, card = await _physio_task_card(
            teams, connector, factory, "05_protected_identity.json", investigation=""
        )
        today = local_date(utcnow())
        task = await _physio_task(factory, case_id)
        assert task.due == add_working_days(today, 3)

        # no name and no personal number in the draft, as in the letters
        draft = plain(show_card(card, "Visa remissutkast")["body"][1]["text"])
        assert "\nPatient: [Patientens namn]\nPersonnummer: [Personnummer]\n" in draft
        for leak in ("Uppgift", "Skyddad", "19550630", "7247", "550630"):
            assert leak not in draft
        assert "\nFraktur: Kotfraktur (S22.0) – Kotfraktur, bröstrygg\n" in draft
        assert "Kompletterande utredning" not in draft
        assert f"\nVid beslutet: {NOTE}\n" in draft

        # "uppgifter" lists the task with the same questions, inputs named per task
        before = len(connector.sent)
        status, _ = await teams.message(MARIA, "uppgifter")
        [reply] = [s for s in connector.sent[before:] if s.activity.get("replyToId")]
        assert reply.card is not None
        check_card(reply.card)
        form = show_card(reply.card, "Klar – ange remiss")
        ids = {i["id"]: i["type"] for i in form["body"]}
        assert ids == {
            f"referral_on_{task.id}": "Input.Date",
            f"referral_clinic_{task.id}": "Input.Text",
        }
        [save] = form["actions"]
        status, answer = await teams.invoke(
            MARIA,
            "task.complete",
            {
                **save["data"],
                f"referral_on_{task.id}": today.isoformat(),
                f"referral_clinic_{task.id}": CLINIC,
            },
        )
        assert f"Remiss skickad {today.isoformat()} till {CLINIC}" in plain(
            card_text(card_of(answer))
        )
    task = await _physio_task(factory, case_id)
    assert (task.status, task.referral_on, task.referral_clinic) == ("done", today, CLINIC)

