"""The digest and reminder cards: golden files, the 1.5 schema, verbs, escaping, size.

`VARIANTS` has the same shape as `tests.cards.contexts.VARIANTS`, so that the card suite
can take these templates in with `VARIANTS.update(JOB_VARIANTS)`. Rewrite the golden
files with `UPDATE_GOLDEN=1 pytest tests/jobs/test_cards.py`, then read the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cards.render import COMPACT_LIMITS, LIMITS, MAX_CARD_BYTES, card_size, render
from tests.cards.cardtools import (
    executes,
    input_ids,
    live_markdown,
    markdown_texts,
    of_type,
    schema_errors,
    texts_with,
)
from tests.cards.hostile import EVIL, inflate, replace_text
from tests.harness import check_card

GOLDEN = Path(__file__).parent / "golden"
LEAK = ("Margareta", "Lindqvist", "19520314", "2384")


def digest_task(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": 101,
        "case_id": 12,
        "case_ref": "Ärende 12",
        "patient": {"display": "Margareta Lindqvist, 19520314-2384", "protected": False},
        "title": "Sätt upp på väntelista (VL) till läkare",
        "due": "2026-11-20",
        "overdue": True,
        "assignee": None,
    }
    return {**value, **overrides}


def digest_context(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "unit": {"name": "Tingvalla vårdcentral"},
        "day": "2026-11-23",
        "horizon": "2026-11-26",
        "counts": {"overdue": 1, "due": 2, "awaiting_assignment": 1},
        "tasks": [
            digest_task(),
            digest_task(
                id=205,
                case_id=14,
                case_ref="Ärende 14",
                patient={"display": "Skyddad identitet", "protected": True},
                title="Ring patienten om normalt svar",
                due="2026-11-23",
                overdue=False,
                assignee="Anna Berg",
            ),
            digest_task(
                id=102,
                title="Skicka brev: svar på bentäthetsmätning och kallelse inom 2 månader",
                due="2026-11-26",
                overdue=False,
            ),
        ],
        "follow_ups": [],
    }
    return {**value, **overrides}


def followup_row(**overrides: Any) -> dict[str, Any]:
    """An overdue follow-up as the reminder and the digest list it."""
    value: dict[str, Any] = {
        "id": 21,
        "ref": "Ärende 21",
        "patient": {"display": "Karl Erik Nyberg, 19591102-4171", "protected": False},
        "number": 1,
        "due": "2026-11-16",
        "days_overdue": 7,
        "physician": "Anna Berg",
        "unit": "Tingvalla vårdcentral",
    }
    return {**value, **overrides}


def followup_rows() -> list[dict[str, Any]]:
    return [
        followup_row(),
        followup_row(
            id=23,
            ref="Ärende 23",
            patient={"display": "Skyddad identitet", "protected": True},
            number=2,
            due="2026-11-20",
            days_overdue=1,
            physician=None,
        ),
    ]


def reminder_case(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": 12,
        "ref": "Ärende 12",
        "patient": {"display": "Margareta Lindqvist, 19520314-2384", "protected": False},
        "received": "2026-11-12",
        "waiting_days": 7,
    }
    return {**value, **overrides}


def reminder_context(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "physician": {"name": "Anna Berg"},
        "unit": {"name": "Tingvalla vårdcentral"},
        "day": "2026-11-23",
        "threshold_days": 3,
        "cases": [
            reminder_case(),
            reminder_case(
                id=17,
                ref="Ärende 17",
                patient={"display": "Skyddad identitet", "protected": True},
                received="2026-11-17",
                waiting_days=4,
            ),
        ],
        "follow_ups": [],
    }
    return {**value, **overrides}


VARIANTS: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "digest_card": ("digest_card", digest_context),
    "digest_card_empty": (
        "digest_card",
        lambda: digest_context(tasks=[], counts={"overdue": 0, "due": 0, "awaiting_assignment": 0}),
    ),
    "digest_card_followups": (
        "digest_card",
        lambda: digest_context(
            counts={"overdue": 1, "due": 2, "awaiting_assignment": 1, "overdue_follow_ups": 2},
            follow_ups=followup_rows(),
        ),
    ),
    "reminder_card": ("reminder_card", reminder_context),
    "reminder_card_followups": (
        "reminder_card",
        lambda: reminder_context(follow_ups=followup_rows()),
    ),
    "reminder_card_followups_only": (
        "reminder_card",
        lambda: reminder_context(cases=[], follow_ups=[followup_row()]),
    ),
}


def test_golden_files_are_the_variants() -> None:
    assert {path.stem for path in GOLDEN.glob("*.json")} == set(VARIANTS)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_card_matches_golden(variant: str) -> None:
    template, make = VARIANTS[variant]
    card = render(template, **make())
    path = GOLDEN / f"{variant}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert card == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_card_is_valid_small_and_has_no_refresh(variant: str) -> None:
    template, make = VARIANTS[variant]
    card = render(template, **make())
    check_card(card)
    assert schema_errors(card) == []
    assert card["version"] == "1.5"
    assert card["msteams"] == {"width": "Full"}
    assert "refresh" not in card
    assert input_ids(card) == []
    assert card_size(card) < 10_000


def test_digest_rows_and_buttons() -> None:
    card = render("digest_card", **digest_context())
    assert [(a["title"], a["verb"], a["data"]) for a in executes(card)] == [
        ("Klar", "task.complete", {"task_id": 101, "view": "digest"}),
        ("Klar", "task.complete", {"task_id": 205, "view": "digest"}),
        ("Klar", "task.complete", {"task_id": 102, "view": "digest"}),
    ]
    texts = markdown_texts(card)
    assert texts[:2] == ["Dagens uppgifter – Tingvalla vårdcentral", "2026-11-23"]
    facts = {f["title"]: f["value"] for s in of_type(card, "FactSet") for f in s["facts"]}
    assert facts == {
        "Försenade": "1",
        "Förfaller till och med 2026-11-26": "2",
        "Väntar på fördelning": "1",
    }
    rows = [[item.get("text") for item in c["items"][:3]] for c in of_type(card, "Container")]
    assert rows == [
        [
            "Ärende 12 · Sätt upp på väntelista \\(VL\\) till läkare",
            "Margareta Lindqvist, 19520314-2384",
            "Senast 2026-11-20 · Försenad",
        ],
        [
            "Ärende 14 · Ring patienten om normalt svar",
            "Skyddad identitet",
            "Senast 2026-11-23 · Läkare: Anna Berg",
        ],
        [
            "Ärende 12 · Skicka brev: svar på bentäthetsmätning och kallelse inom 2 månader",
            "Margareta Lindqvist, 19520314-2384",
            "Senast 2026-11-26",
        ],
    ]
    [late] = [b for b in of_type(card, "TextBlock") if "Försenad" in b["text"]]
    assert late["color"] == "attention"


def test_empty_digest_says_nothing_is_due() -> None:
    template, make = VARIANTS["digest_card_empty"]
    card = render(template, **make())
    assert executes(card) == []
    assert (
        "Inga uppgifter förfaller de närmaste tre arbetsdagarna och inga är försenade."
        in markdown_texts(card)
    )


def test_reminder_rows_and_buttons() -> None:
    card = render("reminder_card", **reminder_context())
    assert [(a["title"], a["verb"], a["data"]) for a in executes(card)] == [
        ("Öppna beslutskortet", "card.refresh", {"case_id": 12}),
        ("Öppna beslutskortet", "card.refresh", {"case_id": 17}),
    ]
    texts = markdown_texts(card)
    assert texts[:3] == [
        "Svar som väntar på ditt beslut",
        "Tingvalla vårdcentral · 2026-11-23",
        "Anna Berg: 2 svar har väntat på ditt beslut i mer än 3 arbetsdagar.",
    ]
    rows = [[item.get("text") for item in c["items"][:2]] for c in of_type(card, "Container")]
    assert rows == [
        ["Ärende 12 · mottaget 2026-11-12 · 7 arbetsdagar", "Margareta Lindqvist, 19520314-2384"],
        ["Ärende 17 · mottaget 2026-11-17 · 4 arbetsdagar", "Skyddad identitet"],
    ]


def test_reminder_lists_overdue_followups_after_the_cases() -> None:
    card = render("reminder_card", **reminder_context(follow_ups=followup_rows()))
    assert [(a["title"], a["verb"], a["data"]) for a in executes(card)] == [
        ("Öppna beslutskortet", "card.refresh", {"case_id": 12}),
        ("Öppna beslutskortet", "card.refresh", {"case_id": 17}),
        ("Öppna uppföljningen", "card.refresh", {"case_id": 21, "view": "followup"}),
        ("Öppna uppföljningen", "card.refresh", {"case_id": 23, "view": "followup"}),
    ]
    texts = markdown_texts(card)
    assert texts[0] == "Svar som väntar på ditt beslut"
    assert "Försenade uppföljningar" in texts
    assert "Anna Berg: 2 uppföljningar efter läkarbesök är försenade." in texts
    late = [c for c in of_type(card, "Container") if c.get("id", "").startswith("followup-")]
    assert [c["id"] for c in late] == ["followup-21", "followup-23"]
    assert [[item.get("text") for item in c["items"][:3]] for c in late] == [
        [
            "Ärende 21 · Uppföljning 1",
            "Karl Erik Nyberg, 19591102-4171",
            "Planerad 2026-11-16 · 7 dagar försenad",
        ],
        ["Ärende 23 · Uppföljning 2", "Skyddad identitet", "Planerad 2026-11-20 · 1 dag försenad"],
    ]


def test_a_reminder_of_followups_only_is_headed_by_them() -> None:
    template, make = VARIANTS["reminder_card_followups_only"]
    card = render(template, **make())
    assert markdown_texts(card)[:3] == [
        "Försenade uppföljningar",
        "Tingvalla vårdcentral · 2026-11-23",
        "Anna Berg: 1 uppföljning efter läkarbesök är försenad.",
    ]
    assert "beslut" not in json.dumps(card["body"], ensure_ascii=False)
    assert [a["data"] for a in executes(card)] == [{"case_id": 21, "view": "followup"}]


def test_digest_lists_overdue_followups_with_their_physician() -> None:
    template, make = VARIANTS["digest_card_followups"]
    card = render(template, **make())
    facts = {f["title"]: f["value"] for s in of_type(card, "FactSet") for f in s["facts"]}
    assert facts["Försenade uppföljningar"] == "2"
    texts = markdown_texts(card)
    assert "Försenade uppföljningar (2)" in texts
    late = [c for c in of_type(card, "Container") if c.get("id", "").startswith("followup-")]
    assert [[item.get("text") for item in c["items"]] for c in late] == [
        [
            "Ärende 21 · Uppföljning 1",
            "Karl Erik Nyberg, 19591102-4171",
            "Planerad 2026-11-16 · Försenad · Läkare: Anna Berg",
        ],
        [
            "Ärende 23 · Uppföljning 2",
            "Skyddad identitet",
            "Planerad 2026-11-20 · Försenad · Läkare: saknas",
        ],
    ]
    # the secretaries chase the physician: no button on a follow-up row
    assert all(of_type(c, "Action.Execute") == [] for c in late)
    assert len(executes(card)) == 3  # the tasks' "Klar"


def test_digest_without_overdue_followups_says_nothing_of_them() -> None:
    card = render("digest_card", **digest_context())
    assert "uppföljning" not in json.dumps(card, ensure_ascii=False).lower()


def test_digest_followups_are_a_short_list() -> None:
    late = [followup_row(id=100 + i, ref=f"Ärende {100 + i}") for i in range(14)]
    card = render("digest_card", **digest_context(follow_ups=late))
    shown = [c for c in of_type(card, "Container") if c.get("id", "").startswith("followup-")]
    assert len(shown) == LIMITS["tasks"] // 3 == 10
    assert card["body"][-1]["text"] == "… och 4 till, senare planerade."
    assert "Försenade uppföljningar (14)" in markdown_texts(card)


@pytest.mark.parametrize(
    ("template", "make", "key"),
    [
        ("digest_card", digest_context, "tasks"),
        ("reminder_card", reminder_context, "cases"),
        ("digest_card", lambda: digest_context(tasks=[], follow_ups=followup_rows()), "follow_ups"),
        (
            "reminder_card",
            lambda: reminder_context(cases=[], follow_ups=followup_rows()),
            "follow_ups",
        ),
    ],
)
def test_protected_rows_never_show_the_display(
    template: str, make: Callable[..., dict[str, Any]], key: str
) -> None:
    ctx = make()
    for row in ctx[key]:
        row["patient"] = {"display": "Margareta Lindqvist, 19520314-2384", "protected": True}
    dumped = json.dumps(render(template, **ctx), ensure_ascii=False)
    for leak in LEAK:
        assert leak not in dumped
    assert dumped.count("Skyddad identitet") == len(ctx[key])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hostile_text_stays_inert(variant: str) -> None:
    template, make = VARIANTS[variant]
    plain = render(template, **make())
    card = render(template, **replace_text(make(), EVIL))
    assert schema_errors(card) == []
    assert [n["verb"] for n in of_type(card, "Action.Execute")] == [
        n["verb"] for n in of_type(plain, "Action.Execute")
    ]
    assert len(of_type(card, "Container")) == len(of_type(plain, "Container"))
    for text in markdown_texts(card):
        assert live_markdown(text) == [], text
    if variant != "digest_card_empty":
        assert texts_with(card, 'Eva "Evil" \\\\ Ek')


@pytest.mark.parametrize(
    "text", ["kort", "€" * 200_000, "\\" * 200_000], ids=["short", "wide", "bs"]
)
@pytest.mark.parametrize("variant", ["digest_card", "reminder_card"])
def test_long_lists_and_texts_stay_under_the_limit(variant: str, text: str) -> None:
    template, make = VARIANTS[variant]
    ctx = inflate(make(), text, 500)
    card = render(template, **ctx)
    assert card_size(card) <= MAX_CARD_BYTES
    check_card(card)
    rows = len(of_type(card, "Container"))
    assert rows in (LIMITS["tasks"], COMPACT_LIMITS["tasks"])
    more = "… och " + str(500 - rows) + " till"
    assert any(t.startswith(more) for t in markdown_texts(card))


@pytest.mark.parametrize(
    "text", ["kort", "€" * 200_000, "\\" * 200_000], ids=["short", "wide", "bs"]
)
@pytest.mark.parametrize(
    ("variant", "followup_cap"),
    [("reminder_card_followups", "tasks"), ("digest_card_followups", "digest")],
)
def test_long_followup_lists_stay_under_the_limit(
    variant: str, followup_cap: str, text: str
) -> None:
    template, make = VARIANTS[variant]
    card = render(template, **inflate(make(), text, 500))
    assert card_size(card) <= MAX_CARD_BYTES
    check_card(card)
    late = [c for c in of_type(card, "Container") if c.get("id", "").startswith("followup-")]
    others = len(of_type(card, "Container")) - len(late)
    compact = others == COMPACT_LIMITS["tasks"]
    assert others == (COMPACT_LIMITS if compact else LIMITS)["tasks"]
    cap = (COMPACT_LIMITS if compact else LIMITS)["tasks"]
    assert len(late) == (cap if followup_cap == "tasks" else cap // 3)
    more = "… och " + str(500 - len(late)) + " till"
    assert any(t.startswith(more) for t in markdown_texts(card))
