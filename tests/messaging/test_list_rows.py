"""The rows a rendered list card shows, read back for the audit (bot/messaging/list_rows.py),
also when the card was cut down by the compact fallback of `cards.render`."""

from __future__ import annotations

from bot.messaging.list_rows import TRIAGE_ROW, VISIT_ROW, rows_without, shown_cases
from cards.render import COMPACT_LIMITS, LIMITS, render
from tests.cards.contexts import (
    case_list_context,
    task_list_context,
    task_row,
    triage_list_row,
    visit_list_row,
)

WIDE = "€" * 500  # three bytes a character: a long unit name on every row


def test_shown_rows_of_each_kind_are_read_back() -> None:
    card = render(
        "task_list_card",
        **task_list_context(awaiting=[triage_list_row(id=i) for i in (14, 3, 9)]),
    )
    assert shown_cases(card, TRIAGE_ROW) == [14, 3, 9]
    assert rows_without(card, TRIAGE_ROW) == len(task_list_context()["tasks"])
    assert shown_cases(card, VISIT_ROW) == []

    card = render("case_list_card", **case_list_context(visits=[visit_list_row(id=5)]))
    assert shown_cases(card, VISIT_ROW) == [5]
    assert rows_without(card, VISIT_ROW) == len(case_list_context()["cases"])


def test_capped_rows_are_read_back_as_shown() -> None:
    awaiting = [triage_list_row(id=i) for i in range(40)]
    tasks = [task_row(id=100 + i) for i in range(40)]
    card = render("task_list_card", **task_list_context(awaiting=awaiting, tasks=tasks))
    assert shown_cases(card, TRIAGE_ROW) == list(range(LIMITS["tasks"]))
    assert rows_without(card, TRIAGE_ROW) == LIMITS["tasks"]


def test_compacted_rows_are_read_back_as_shown() -> None:
    awaiting = [triage_list_row(id=i, unit=WIDE) for i in range(40)]
    tasks = [task_row(id=100 + i, unit=WIDE, title=WIDE) for i in range(40)]
    card = render("task_list_card", **task_list_context(awaiting=awaiting, tasks=tasks))
    assert shown_cases(card, TRIAGE_ROW) == list(range(COMPACT_LIMITS["tasks"]))
    assert rows_without(card, TRIAGE_ROW) == COMPACT_LIMITS["tasks"]

    visits = [visit_list_row(id=i, unit=WIDE) for i in range(40)]
    cases = [case_list_context()["cases"][0] | {"id": i, "unit": WIDE} for i in range(40)]
    card = render("case_list_card", **case_list_context(cases=cases, visits=visits))
    assert shown_cases(card, VISIT_ROW) == list(range(COMPACT_LIMITS["tasks"]))
    assert rows_without(card, VISIT_ROW) == COMPACT_LIMITS["tasks"]
