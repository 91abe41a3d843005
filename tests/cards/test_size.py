"""Cards stay under Teams' message limit however long the texts and lists are."""

from __future__ import annotations

import json

import pytest

from cards.render import COMPACT_LIMITS, LIMITS, MAX_CARD_BYTES, card_size, render
from tests.cards.cardtools import markdown_texts, of_type, schema_errors
from tests.cards.contexts import (
    VARIANTS,
    case_summary_context,
    decision_context,
    many_measurements,
    task_context,
)
from tests.cards.hostile import inflate

PROSE = (
    "Bentäthetsmätning av ländrygg och höft visar T-score −2,9; se [bild](https://x.example) "
    "och **jämför** med 2019. Åäö ÅÄÖ é ü. "
)
LONG_PROSE = (PROSE * (200_000 // len(PROSE) + 1))[:200_000]  # 200 kB of Swedish text
BACKSLASHES = "\\" * 200_000  # every character doubles in markdown and again in JSON
WIDE = "€" * 200_000  # three bytes per character in UTF-8
ID_TAIL = "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7sU9wY1xZ3cV5bN7mL9kJ8hG6fD4sA2-pO0iU8yT6rE4wQ"
USER_IDS = [f"29:1{i:04d}{ID_TAIL}" for i in range(500)]  # Teams user ids are about 90 long


@pytest.mark.parametrize(
    "text", [LONG_PROSE, BACKSLASHES, WIDE], ids=["prose", "backslash", "wide"]
)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_huge_context_stays_under_the_limit(variant: str, text: str) -> None:
    template, make = VARIANTS[variant]
    ctx = inflate(make(), text, 500)
    if "refresh_user_ids" in ctx:
        ctx["refresh_user_ids"] = USER_IDS
    card = render(template, **ctx)  # raises CardTooLarge over the limit
    assert card_size(card) <= MAX_CARD_BYTES
    assert schema_errors(card) == []


def test_a_hostile_card_falls_back_to_compact_limits() -> None:
    ctx = inflate(case_summary_context(), BACKSLASHES, 500)
    ctx["refresh_user_ids"] = USER_IDS
    card = render("case_summary_card", **ctx)
    assert len(of_type(card, "ColumnSet")) == 1 + COMPACT_LIMITS["measurements"]
    assert len(card["refresh"]["userIds"]) == COMPACT_LIMITS["refresh_users"]


def test_200_kb_conclusion_and_500_rows_fit_without_compacting() -> None:
    rows = many_measurements(500)
    answer = decision_context()["answer"] | {"conclusion": LONG_PROSE}
    summary = case_summary_context(
        answer=answer,
        measurements=rows,
        tasks=case_summary_context()["tasks"] * 167,
        history=case_summary_context()["history"] * 167,
    )
    for template, ctx in [
        ("decision_card", decision_context(answer=answer, measurements=rows)),
        ("case_summary_card", summary),
    ]:
        card = render(template, **ctx)
        assert card_size(card) <= MAX_CARD_BYTES
        assert len(of_type(card, "ColumnSet")) == 1 + LIMITS["measurements"]
        assert schema_errors(card) == []


def test_long_conclusion_is_cut_with_an_ellipsis() -> None:
    answer = decision_context()["answer"] | {"conclusion": LONG_PROSE}
    card = render("decision_card", **decision_context(answer=answer))
    [conclusion] = [t for t in markdown_texts(card) if t.startswith("Bentäthetsmätning av")]
    assert conclusion.endswith("…")
    assert len(conclusion) < 1500 * 2


def test_measurements_are_capped_with_a_count() -> None:
    rows = many_measurements(500)
    card = render("decision_card", **decision_context(measurements=rows))
    assert len(of_type(card, "ColumnSet")) == 1 + LIMITS["measurements"]
    assert "… och 480 till (se svaret i journalen)" in markdown_texts(card)


def test_summary_tasks_and_history_are_capped() -> None:
    [task] = case_summary_context()["tasks"][:1]
    history = [{"at": "2026-11-21 10:02", "text": f"Händelse {i}"} for i in range(500)]
    card = render(
        "case_summary_card", **case_summary_context(tasks=[task] * 500, history=history)
    )
    texts = markdown_texts(card)
    assert "… och 470 till" in texts
    assert "480 tidigare händelser visas inte." in texts
    assert "2026-11-21 10:02 – Händelse 499" in texts  # the latest are shown
    assert "2026-11-21 10:02 – Händelse 479" not in texts


def test_task_card_tasks_are_capped() -> None:
    [first] = task_context()["tasks"][1:2]
    tasks = [first | {"id": i} for i in range(500)]
    card = render("task_card", **task_context(tasks=tasks))
    assert len(of_type(card, "ActionSet")) == LIMITS["task_card_tasks"]
    assert any(t.startswith("… och 485 till") for t in markdown_texts(card))


def test_realistic_cards_are_small() -> None:
    for template, make in VARIANTS.values():
        card = render(template, **make())
        assert card_size(card) < 10_000
        # Teams counts the message in UTF-16; realistic cards are far from 40 KB either way.
        assert len(json.dumps(card, ensure_ascii=False).encode("utf-16-le")) < 20_000
