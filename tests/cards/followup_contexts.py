"""Contexts of `followup_list_card` ("uppföljning"), for the card suite's variants
(`tests.cards.contexts.VARIANTS`) and the list-card tests."""

from __future__ import annotations

from typing import Any


def followup_list_row(**overrides: Any) -> dict[str, Any]:
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


def followup_list_context(**overrides: Any) -> dict[str, Any]:
    """Three follow-ups of Anna's, earliest due first: a week late, a day late (protected),
    due today."""
    ctx: dict[str, Any] = {
        "physician": {"name": "Anna Berg"},
        "day": "2026-11-23",
        "follow_ups": [
            followup_list_row(),
            followup_list_row(
                id=23,
                ref="Ärende 23",
                patient={"display": "Skyddad identitet", "protected": True},
                number=2,
                due="2026-11-22",
                days_overdue=1,
                physician=None,
            ),
            followup_list_row(
                id=12,
                ref="Ärende 12",
                patient={"display": "Margareta Lindqvist, 19520314-2384", "protected": False},
                due="2026-11-23",
                days_overdue=0,
            ),
        ],
    }
    return {**ctx, **overrides}
