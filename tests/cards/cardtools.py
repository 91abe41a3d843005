"""Helpers for card tests: the Adaptive Card 1.5 schema and walks over a card."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "adaptive-card-1.5.json"


@cache
def validator() -> Draft6Validator:
    """A Draft-06 validator for the official schema, itself checked against draft-06."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)


def schema_errors(card: dict[str, Any]) -> list[str]:
    """Schema errors of `card`, with the Teams-only `msteams` property left out."""
    copy = {key: value for key, value in card.items() if key != "msteams"}
    return [
        f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message[:200]}"
        for error in validator().iter_errors(copy)
    ]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside `node`, `node` included, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def of_type(card: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [node for node in walk(card) if node.get("type") == type_]


def executes(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's Action.Execute buttons, the refresh action left out."""
    refresh = card.get("refresh", {}).get("action")
    return [node for node in of_type(card, "Action.Execute") if node is not refresh]


def input_ids(card: dict[str, Any]) -> list[str]:
    return [node["id"] for node in walk(card) if str(node.get("type", "")).startswith("Input.")]


def markdown_texts(card: dict[str, Any]) -> list[str]:
    """Strings a client renders as markdown: TextBlock texts and FactSet titles and values."""
    texts = [node["text"] for node in of_type(card, "TextBlock")]
    for fact_set in of_type(card, "FactSet"):
        for fact in fact_set["facts"]:
            texts += [fact["title"], fact["value"]]
    return texts


def texts_with(card: dict[str, Any], fragment: str) -> list[str]:
    return [text for text in markdown_texts(card) if fragment in text]


_UNESCAPED = r"(?<!\\)(?:\\\\)*"  # an even number of backslashes (possibly none) before


def live_markdown(text: str) -> list[str]:
    """Markdown that would take effect in `text`; empty when the text is inert."""
    found: list[str] = []
    for char in r"[]*_~`<>|":
        if re.search(_UNESCAPED + re.escape(char), text):
            found.append(char)
    for line in text.split("\n"):
        if re.match(r"(?:[#+\-]|\d+[.)])", line):
            found.append(f"line start {line[:10]!r}")
    for pattern in (r"https?://", r"www\.[a-z]", r"[a-z0-9]\.[a-z]{2,}\b"):
        if re.search(pattern, text, re.IGNORECASE):
            found.append(f"link {pattern}")
    return found


_SHOWN_KEYS = ("text", "title", "label", "placeholder", "errorMessage", "fallbackText")
_SHOWN_VALUES = ("Input.Text", "Input.Date", "Input.Time", "Input.Number")


def shown_texts(card: dict[str, Any]) -> list[str]:
    """Every string a person can read on the card: texts, fact titles and values, labels,
    placeholders, error messages, button and choice titles, a text input's value (a letter
    draft). Not ids, verbs, action data, choice values or the refresh action."""
    found: list[str] = []

    def visit(node: Any, in_facts: bool = False) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item, in_facts)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in ("data", "refresh", "msteams"):
                    continue
                shown = key in _SHOWN_KEYS or (
                    key == "value" and (in_facts or node.get("type") in _SHOWN_VALUES)
                )
                if isinstance(value, str) and shown:
                    found.append(value)
                elif isinstance(value, dict | list):
                    visit(value, key == "facts")

    visit(card)
    return found


_ODD_DATES = {
    "ISO timestamp": r"\d{4}-\d{2}-\d{2}T\d",
    "seconds": r"(?<!\d)\d{1,2}:\d{2}:\d{2}",
    "fraction of a second": r"\d:\d{2}\.\d",
    "UTC offset": r"[+-]\d{2}:\d{2}(?!\d)|\d{2}:\d{2}(?::\d{2})?\s?(?:[+-]\d{4}|Z|UTC|GMT)\b",
    "hour without leading zero": r"(?<![\d:.,])\d:\d{2}(?!\d)",
    "month or day without leading zero": r"(?<!\d)\d{4}-(?:\d-\d{1,2}|\d{2}-\d)(?!\d)",
    "date with slashes": r"(?<!\d)\d{1,4}/\d{1,2}(?:/\d{2,4})?(?!\d)",
    "date with dots": r"(?<!\d)\d{1,2}\.\d{1,2}\.\d{2,4}(?!\d)",
    "month name": r"(?i)(?<!\d)\d{1,2}\.? (?:jan|feb|mar|apr|maj|may|jun|jul|aug|sep|okt|oct"
    r"|nov|dec)[a-z]*\b",
    "time in words": r"(?i)\b(?:[AP]M|kl\.?\s?\d)",
}


def odd_dates(text: str) -> list[str]:
    """Dates and times in `text` not written YYYY-MM-DD and HH:MM (SPEC section 7), by
    name: ISO timestamps, seconds, UTC offsets, slashes, month names, …; empty when none."""
    return [name for name, pattern in _ODD_DATES.items() if re.search(pattern, text)]
