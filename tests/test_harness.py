"""`check_card` (tests/harness.py) answers as the jsonschema validation it speeds up: its
fast validator accepts exactly the cards `SCHEMA` accepts, and an invalid card fails with
`SCHEMA`'s message."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import FAST_SCHEMA, SCHEMA, check_card

GOLDEN = sorted(Path(__file__).parent.glob("*/golden/*.json"))


def _cards() -> list[dict[str, Any]]:
    found = [json.loads(p.read_text(encoding="utf-8")) for p in GOLDEN]
    return [c for c in found if isinstance(c, dict) and c.get("type") == "AdaptiveCard"]


def _broken(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Ways to make a card invalid that the 1.5 schema catches."""
    plain = {k: v for k, v in card.items() if k != "msteams"}
    out = []
    changes: tuple[Callable[[dict[str, Any]], Any], ...] = (
        lambda c: c.update(type="Card"),
        lambda c: c.update(body="text"),
        lambda c: c["body"].append({"type": "TextBlock"}),  # no text
        lambda c: c["body"].append({"type": "TextBlock", "text": "x", "weight": "heavy"}),
        lambda c: c["body"].append({"type": "TextBlock", "text": "x", "isSubtle": "yes"}),
        lambda c: c["body"].append({"type": "Image", "url": 17}),
        lambda c: c.update(actions=[{"type": "Action.Execute", "title": "x", "style": "loud"}]),
    )
    for change in changes:
        broken = copy.deepcopy(plain)
        change(broken)
        out.append(broken)
    return out


def test_the_fast_validator_agrees_with_jsonschema() -> None:
    if FAST_SCHEMA is None:
        pytest.skip("jsonschema-rs is not installed: check_card uses jsonschema alone")
    cards = _cards()
    assert len(cards) >= 20, [p.name for p in GOLDEN]
    for card in cards:
        plain = {k: v for k, v in card.items() if k != "msteams"}
        assert FAST_SCHEMA(plain) and SCHEMA.is_valid(plain)
        for broken in _broken(card):
            assert not SCHEMA.is_valid(broken)
            assert not FAST_SCHEMA(broken), json.dumps(broken)[:300]


def test_an_invalid_card_fails_with_the_schema_message() -> None:
    card = _cards()[0]
    check_card(card)
    broken = copy.deepcopy(card)
    broken["body"].append({"type": "TextBlock", "text": "x", "weight": "heavy"})
    with pytest.raises(AssertionError, match=r"card not valid against the 1\.5 schema: "):
        check_card(broken)
