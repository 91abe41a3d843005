"""The 1.5 schema check really runs, and every rendered card passes it."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft6Validator

from cards.render import render
from tests.cards.cardtools import schema_errors, validator
from tests.cards.contexts import VARIANTS


def minimal(*body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "version": "1.5", "body": list(body), **extra}


def test_validator_is_draft6_on_the_draft6_schema() -> None:
    assert isinstance(validator(), Draft6Validator)
    assert validator().schema["$schema"] == "http://json-schema.org/draft-06/schema#"


def test_minimal_card_is_valid() -> None:
    assert schema_errors(minimal({"type": "TextBlock", "text": "Hej"})) == []


def test_textblock_without_text_is_invalid() -> None:
    assert schema_errors(minimal({"type": "TextBlock", "wrap": True}))


def test_unknown_element_type_is_invalid() -> None:
    assert schema_errors(minimal({"type": "Carousel", "pages": []}))


def test_unknown_property_is_invalid() -> None:
    assert schema_errors(minimal({"type": "TextBlock", "text": "x", "colour": "good"}))


def test_wrong_enum_value_is_invalid() -> None:
    assert schema_errors(minimal({"type": "TextBlock", "text": "x", "size": "huge"}))


def test_nested_show_card_is_checked() -> None:
    bad = minimal(
        {"type": "TextBlock", "text": "x"},
        actions=[
            {
                "type": "Action.ShowCard",
                "title": "Visa",
                "card": {"type": "AdaptiveCard", "body": [{"type": "Input.Text"}]},
            }
        ],
    )
    assert schema_errors(bad)  # Input.Text without id


def test_refresh_is_checked() -> None:
    bad = minimal(
        {"type": "TextBlock", "text": "x"},
        refresh={"action": {"type": "Action.Execute", "verb": "card.refresh"}, "userIds": [1]},
    )
    assert schema_errors(bad)


def test_empty_user_ids_are_allowed_by_the_schema() -> None:
    card = minimal(
        {"type": "TextBlock", "text": "x"},
        refresh={"action": {"type": "Action.Execute", "verb": "card.refresh"}, "userIds": []},
    )
    assert schema_errors(card) == []


def test_msteams_is_forbidden_by_the_schema_itself() -> None:
    card = minimal({"type": "TextBlock", "text": "x"}, msteams={"width": "Full"})
    assert list(validator().iter_errors(card))
    assert schema_errors(card) == []  # the helper leaves it out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_card_is_valid(variant: str) -> None:
    template, make = VARIANTS[variant]
    card = render(template, **make())
    assert schema_errors(card) == []
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"
    assert card["msteams"] == {"width": "Full"}
