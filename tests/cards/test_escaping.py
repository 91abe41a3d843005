"""Text from outside cannot break the JSON, add elements or form markdown."""

from __future__ import annotations

import json

import pytest

from cards.render import render
from tests.cards.cardtools import (
    input_ids,
    live_markdown,
    markdown_texts,
    of_type,
    schema_errors,
    texts_with,
)
from tests.cards.contexts import VARIANTS
from tests.cards.hostile import EVIL, replace_text

ZWJ = "\u200d"


def hostile_card(variant: str) -> dict[str, object]:
    template, make = VARIANTS[variant]
    return render(template, **replace_text(make(), EVIL))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hostile_text_keeps_the_card_valid(variant: str) -> None:
    card = hostile_card(variant)
    assert json.loads(json.dumps(card, ensure_ascii=False)) == card
    assert schema_errors(card) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hostile_text_adds_no_elements(variant: str) -> None:
    template, make = VARIANTS[variant]
    plain = render(template, **make())
    card = hostile_card(variant)
    assert input_ids(card) == input_ids(plain)
    assert [n["verb"] for n in of_type(card, "Action.Execute")] == [
        n["verb"] for n in of_type(plain, "Action.Execute")
    ]
    assert len(of_type(card, "ColumnSet")) == len(of_type(plain, "ColumnSet"))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hostile_text_forms_no_markdown(variant: str) -> None:
    card = hostile_card(variant)
    texts = markdown_texts(card)
    assert [text for text in texts if "Evil" in text], "no hostile markdown text to check"
    for text in texts:
        assert live_markdown(text) == [], text


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hostile_text_is_shown_escaped(variant: str) -> None:
    card = hostile_card(variant)
    assert texts_with(card, 'Eva "Evil" \\\\ Ek')


EXPECTED_LINES = [
    'Eva "Evil" \\\\ Ek',
    f'\\}}\\]\\{{"type": "Input.{ZWJ}Text", "id": "x"\\}}, \\{{',
    f"\\[klicka\\]\\(https{ZWJ}://evil.{ZWJ}example\\)",
    "\\*\\*fet\\*\\*",
    "\\# rubrik",
    f"https{ZWJ}://evil.{ZWJ}example",
    f"www.{ZWJ}evil.{ZWJ}example",
    "\\- lista",
    "1\\. nummer",
    "kodblock",
    f"\\<at\\>Anna\\</at\\> \\!\\[bild\\]\\(https{ZWJ}://evil.{ZWJ}example/x.{ZWJ}png\\) "
    "\\`kod\\` \\~\\~struken\\~\\~ \\_kursiv\\_ \\| a \\| b \\|",
]


def test_conclusion_is_shown_escaped_line_by_line() -> None:
    card = hostile_card("decision_card")
    # the conclusion and the suggestion keep their lines; names and notices are one line
    multiline = [text for text in texts_with(card, "kodblock") if "\n" in text]
    assert len(multiline) == 2
    for text in multiline:
        assert text.split("\n\n") == EXPECTED_LINES




def test_names_are_one_line() -> None:
    card = hostile_card("decision_card")
    facts = {f["title"]: f["value"] for s in of_type(card, "FactSet") for f in s["facts"]}
    assert "\n" not in facts["Patient"]
    assert facts["Patient"].endswith("…")
    assert facts["Patient"].startswith('Eva "Evil" \\\\ Ek \\}\\]\\{')


def test_plain_text_fields_are_not_markdown_escaped() -> None:
    card = hostile_card("decision_card")
    titles = [c["title"] for n in of_type(card, "Input.ChoiceSet") for c in n["choices"]]
    assert titles
    for title in titles:
        assert title.startswith('Eva "Evil" \\ Ek }]{"type"')
        assert "\n" not in title
        assert len(title) <= 60


def test_cancelled_task_title_is_plain_text() -> None:
    card = hostile_card("task_card")
    [run] = of_type(card, "TextRun")
    assert run["text"].startswith('Eva "Evil" \\ Ek }]{')
    assert run["strikethrough"] is True
