"""Every input of every card speaks Swedish: a label, and a placeholder in place of the
client's English default ("Select a date...", "Select a time...", "Select an option")."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from cards.render import TEMPLATES_DIR, render
from tests.cards.cardtools import walk
from tests.cards.contexts import VARIANTS
from tests.jobs.test_cards import VARIANTS as JOB_VARIANTS
from tests.jobs.test_cards import digest_context, digest_task

ALL: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    **VARIANTS,
    **JOB_VARIANTS,
    # the digest's booking inputs (no golden variant lists a booking task)
    "digest_card_booking": (
        "digest_card",
        lambda: digest_context(
            tasks=[digest_task(id=104, kind="book_visit", title="Boka läkartid")]
        ),
    ),
    # the digest's physiotherapy referral inputs (likewise)
    "digest_card_physio": (
        "digest_card",
        lambda: digest_context(
            tasks=[digest_task(id=401, kind="physio", title="Fysioterapikontakt")]
        ),
    ),
}

# words of the clients' English defaults ("Select a date...", "Select an option", "Enter text")
ENGLISH = re.compile(r"\b(select|choose|enter|type|date|time|option|text)\b", re.IGNORECASE)


def _inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in walk(card) if str(node.get("type", "")).startswith("Input.")]


@pytest.mark.parametrize("variant", sorted(ALL))
def test_every_input_has_a_swedish_label_and_placeholder(variant: str) -> None:
    template, make = ALL[variant]
    for node in _inputs(render(template, **make())):
        where = f"{variant}: {node['id']}"
        label = node.get("label", "")
        assert label.strip(), f"{where} has no label"
        if node["type"] == "Input.Toggle":
            # a toggle has no placeholder (schema 1.5); its title is the text beside the box
            assert node.get("title", "").strip(), f"{where} has no title"
            continue
        placeholder = node.get("placeholder", "")
        assert placeholder.strip(), f"{where} has no placeholder"
        assert not ENGLISH.search(placeholder), f"{where}: {placeholder!r}"


def test_date_and_time_placeholders_show_the_format() -> None:
    found: dict[str, set[str]] = {"Input.Date": set(), "Input.Time": set()}
    for template, make in ALL.values():
        for node in _inputs(render(template, **make())):
            if node["type"] in found:
                found[node["type"]].add(node["placeholder"])
    assert found == {"Input.Date": {"Välj datum (ÅÅÅÅ-MM-DD)"}, "Input.Time": {"Välj tid (TT:MM)"}}


def test_every_template_with_inputs_is_walked() -> None:
    with_inputs = {
        path.name.removesuffix(".json.j2")
        for path in TEMPLATES_DIR.glob("*.json.j2")
        if '"Input.' in path.read_text(encoding="utf-8")
    }
    walked = {template for template, make in ALL.values() if _inputs(render(template, **make()))}
    assert with_inputs <= walked
