"""The two list cards, row by row: protected identities, caps and what each row offers.
(`tests/cards` covers their goldens, schema, escaping and size.)"""

from __future__ import annotations

import json
from typing import Any

from cards.render import LIMITS, render
from tests.cards.cardtools import input_ids, markdown_texts, schema_errors
from tests.cards.contexts import case_list_context, patient, task_list_context, task_row

LEAKING = patient(display="Margareta Lindqvist, 19520314-2384", protected=True)


def containers(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in card["body"] if item["type"] == "Container"]


def assert_no_leak(card: dict[str, Any]) -> None:
    dumped = json.dumps(card, ensure_ascii=False)
    for leak in ("Margareta", "Lindqvist", "19520314", "2384"):
        assert leak not in dumped


def test_case_list_rows_never_show_a_protected_identity() -> None:
    ctx = case_list_context()
    ctx["cases"] = [{**c, "patient": dict(LEAKING)} for c in ctx["cases"]]
    card = render("case_list_card", **ctx)
    assert_no_leak(card)
    for row, case in zip(containers(card), ctx["cases"], strict=True):
        ref, shown, _unit = (item["text"] for item in row["items"][:3])
        assert ref.startswith(case["ref"] + " · mottaget ")
        assert shown == "Skyddad identitet"


def test_task_list_rows_never_show_a_protected_identity() -> None:
    ctx = task_list_context()
    ctx["tasks"] = [{**t, "patient": dict(LEAKING)} for t in ctx["tasks"]]
    card = render("task_list_card", **ctx)
    assert_no_leak(card)
    for row, task in zip(containers(card), ctx["tasks"], strict=True):
        assert row["items"][0]["text"].startswith(task["case_ref"] + " · ")
        assert row["items"][1]["text"] == "Skyddad identitet"


def test_case_list_is_capped_with_a_count() -> None:
    [first] = case_list_context()["cases"][:1]
    card = render(
        "case_list_card", **case_list_context(cases=[first | {"id": i} for i in range(95)])
    )
    assert len(containers(card)) == LIMITS["tasks"]
    assert markdown_texts(card)[2] == "95 svar väntar på ditt beslut, äldst först."
    assert card["body"][-1]["text"] == (
        "… och 65 till. Besluta om de äldsta först; skriv sedan mina ärenden igen."
    )
    assert schema_errors(card) == []


def test_task_list_is_capped_with_a_count() -> None:
    tasks = [task_row(id=i) for i in range(95)]
    card = render("task_list_card", **task_list_context(tasks=tasks))
    assert len(containers(card)) == LIMITS["tasks"]
    assert card["body"][-1]["text"] == "… och 65 till (de med senare förfallodag)."
    assert schema_errors(card) == []


def test_booking_asks_for_the_time_other_tasks_are_ticked_off() -> None:
    card = render("task_list_card", **task_list_context())
    buttons = [
        (a["type"], a["title"], a.get("data"))
        for row in containers(card)
        for a in row["items"][-1]["actions"]
    ]
    assert buttons == [
        ("Action.Execute", "Klar", {"task_id": 95}),
        ("Action.Execute", "Klar", {"task_id": 101}),
        ("Action.Execute", "Klar", {"task_id": 120}),
        ("Action.ShowCard", "Klar – ange bokad tid", None),
    ]
    [booking] = containers(card)[-1]["items"][-1]["actions"]
    assert [(i["type"], i["id"], i["isRequired"]) for i in booking["card"]["body"]] == [
        ("Input.Date", "booked_date_104", True),
        ("Input.Time", "booked_time_104", True),
    ]
    [save] = booking["card"]["actions"]
    assert (save["title"], save["verb"], save["data"]) == (
        "Spara bokad tid",
        "task.complete",
        {"task_id": 104},
    )


def test_several_bookings_have_inputs_of_their_own() -> None:
    tasks = [task_row(id=i, kind="book_visit", title="Boka läkartid") for i in (7, 8, 9)]
    card = render("task_list_card", **task_list_context(tasks=tasks))
    assert input_ids(card) == [f"booked_{part}_{i}" for i in (7, 8, 9) for part in ("date", "time")]


def test_overdue_rows_are_marked() -> None:
    card = render("task_list_card", **task_list_context())
    due = [row["items"][2] for row in containers(card)]
    assert [(d["text"], d.get("color")) for d in due] == [
        ("Senast 2026-11-18 · Försenad", "attention"),
        ("Senast 2026-11-26", None),
        ("Senast 2026-11-27 · Läkare: Anna Berg", None),
        ("Senast 2027-01-21", None),
    ]
