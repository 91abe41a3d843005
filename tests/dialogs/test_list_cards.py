"""The list cards, row by row: protected identities, caps and what each row offers.
(`tests/cards` covers their goldens, schema, escaping and size.)"""

from __future__ import annotations

import json
from typing import Any

from cards.render import LIMITS, render
from tests.cards.cardtools import input_ids, markdown_texts, schema_errors
from tests.cards.contexts import (
    case_list_context,
    patient,
    task_list_context,
    task_row,
    triage_list_row,
    visit_list_row,
)
from tests.cards.followup_contexts import followup_list_context, followup_list_row

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


def test_followup_list_rows_never_show_a_protected_identity() -> None:
    ctx = followup_list_context()
    ctx["follow_ups"] = [{**f, "patient": dict(LEAKING)} for f in ctx["follow_ups"]]
    card = render("followup_list_card", **ctx)
    assert_no_leak(card)
    for row, follow_up in zip(containers(card), ctx["follow_ups"], strict=True):
        assert row["items"][0]["text"] == f"{follow_up['ref']} · Uppföljning {follow_up['number']}"
        assert row["items"][1]["text"] == "Skyddad identitet"


def test_followup_list_rows_open_the_followup_card_late_ones_in_red() -> None:
    card = render("followup_list_card", **followup_list_context())
    assert markdown_texts(card)[2] == (
        "3 uppföljningar efter läkarbesök väntar på dig, 2 försenade, tidigast planerade först."
    )
    assert [row["id"] for row in containers(card)] == ["followup-21", "followup-23", "followup-12"]
    assert [
        (row["items"][2]["text"], row["items"][2].get("color")) for row in containers(card)
    ] == [
        ("Planerad 2026-11-16 · 7 dagar försenad", "attention"),
        ("Planerad 2026-11-22 · 1 dag försenad", "attention"),
        ("Planerad 2026-11-23 · i dag", None),
    ]
    buttons = [
        (a["title"], a["verb"], a["data"])
        for row in containers(card)
        for a in row["items"][-1]["actions"]
    ]
    assert buttons == [
        ("Öppna uppföljningen", "card.refresh", {"case_id": case_id, "view": "followup"})
        for case_id in (21, 23, 12)
    ]
    assert input_ids(card) == [] and "refresh" not in card


def test_followup_list_of_one_due_today() -> None:
    ctx = followup_list_context(follow_ups=[followup_list_row(days_overdue=0, due="2026-11-23")])
    card = render("followup_list_card", **ctx)
    assert markdown_texts(card)[2] == "1 uppföljning efter läkarbesök väntar på dig."


def test_followup_list_is_capped_with_a_count() -> None:
    rows = [followup_list_row(id=i) for i in range(95)]
    card = render("followup_list_card", **followup_list_context(follow_ups=rows))
    assert len(containers(card)) == LIMITS["tasks"]
    assert card["body"][-1]["text"] == (
        "… och 65 till. Registrera de äldsta först; skriv sedan uppföljning igen."
    )
    assert schema_errors(card) == []


def test_triage_rows_never_show_a_protected_identity_and_open_the_triage_card() -> None:
    rows = [triage_list_row(id=i, ref=f"Ärende {i}", patient=dict(LEAKING)) for i in (14, 15)]
    card = render("task_list_card", **task_list_context(awaiting=rows, tasks=[]))
    assert_no_leak_in(card, rows=2)
    triage = containers(card)
    assert [row["id"] for row in triage] == ["triage-14", "triage-15"]
    assert [[item.get("text") for item in row["items"][:2]] for row in triage] == [
        ["Ärende 14 · mottaget 2026-11-19 · väntat 2 arbetsdagar", "Skyddad identitet"],
        ["Ärende 15 · mottaget 2026-11-19 · väntat 2 arbetsdagar", "Skyddad identitet"],
    ]
    assert [
        (a["type"], a["title"], a["verb"], a["data"])
        for row in triage
        for a in row["items"][-1]["actions"]
    ] == [
        (
            "Action.Execute",
            "Öppna fördelningskortet",
            "card.refresh",
            {"case_id": i, "view": "triage"},
        )
        for i in (14, 15)
    ]
    # beside the tasks, which come after
    both = render("task_list_card", **task_list_context(awaiting=rows))
    assert [row.get("id") for row in containers(both)] == ["triage-14", "triage-15"] + [None] * 4


def test_visit_rows_never_show_a_protected_identity_and_open_the_checklist() -> None:
    rows = [visit_list_row(id=i, ref=f"Ärende {i}", patient=dict(LEAKING)) for i in (7, 8)]
    card = render("case_list_card", **case_list_context(cases=[], visits=rows))
    assert_no_leak_in(card, rows=2)
    visits = containers(card)
    assert [row["id"] for row in visits] == ["visit-7", "visit-8"]
    assert [[item.get("text") for item in row["items"][:2]] for row in visits] == [
        ["Ärende 7 · besök 2026-11-20 09:30", "Skyddad identitet"],
        ["Ärende 8 · besök 2026-11-20 09:30", "Skyddad identitet"],
    ]
    assert [
        (a["title"], a["verb"], a["data"]) for row in visits for a in row["items"][-1]["actions"]
    ] == [
        ("Öppna besökschecklistan", "card.refresh", {"case_id": i, "view": "visit"}) for i in (7, 8)
    ]
    heading = markdown_texts(card).index("Besök att registrera")
    assert markdown_texts(card)[heading + 1] == (
        "2 besök väntar på din besökschecklista, tidigast bokade först."
    )


def assert_no_leak_in(card: dict[str, Any], *, rows: int) -> None:
    dumped = json.dumps(card, ensure_ascii=False)
    for leak in ("Margareta", "Lindqvist", "19520314", "2384"):
        assert leak not in dumped
    assert dumped.count("Skyddad identitet") >= rows


def test_triage_and_visit_rows_are_capped_with_a_count() -> None:
    awaiting = [triage_list_row(id=i) for i in range(95)]
    card = render("task_list_card", **task_list_context(awaiting=awaiting, tasks=[]))
    assert len(containers(card)) == LIMITS["tasks"]
    assert "… och 65 till. Fördela de äldsta först; skriv sedan uppgifter igen." in (
        markdown_texts(card)
    )
    assert schema_errors(card) == []

    visits = [visit_list_row(id=i) for i in range(95)]
    card = render("case_list_card", **case_list_context(cases=[], visits=visits))
    assert len(containers(card)) == LIMITS["tasks"]
    assert card["body"][-1]["text"] == (
        "… och 65 till. Registrera de tidigaste först; skriv sedan mina ärenden igen."
    )
    assert markdown_texts(card)[2:5] == [
        "Inga svar väntar på ditt beslut just nu.",
        "Besök att registrera",
        "95 besök väntar på din besökschecklista, tidigast bokade först.",
    ]
    assert schema_errors(card) == []
