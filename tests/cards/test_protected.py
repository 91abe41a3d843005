"""A protected identity never reaches a card: "Skyddad identitet" and the case ref only."""

from __future__ import annotations

import json

import pytest

from cards.render import render
from tests.cards.cardtools import markdown_texts, of_type
from tests.cards.contexts import VARIANTS, patient

LEAKING = patient(display="Margareta Lindqvist, 19520314-2384", protected=True)
# List cards carry a patient per row: tests/dialogs/test_list_cards.py checks them row by row.
LIST_CARDS = {"case_list_card", "task_list_card", "followup_list_card"}
CASE_CARDS = sorted(
    name
    for name, (template, _) in VARIANTS.items()
    if template not in {"notice_card", "help_card", *LIST_CARDS}
)


@pytest.mark.parametrize("variant", CASE_CARDS)
def test_protected_patient_shows_only_protected_identity_and_ref(variant: str) -> None:
    template, make = VARIANTS[variant]
    ctx = make()
    ctx["patient"] = dict(LEAKING)
    card = render(template, **ctx)
    dumped = json.dumps(card, ensure_ascii=False)
    for leak in ("Margareta", "Lindqvist", "19520314", "2384"):
        assert leak not in dumped
    facts = {f["title"]: f["value"] for s in of_type(card, "FactSet") for f in s["facts"]}
    assert facts["Patient"] == "Skyddad identitet"
    assert any(text.startswith(ctx["case"]["ref"]) for text in markdown_texts(card))


@pytest.mark.parametrize("variant", CASE_CARDS)
def test_unprotected_patient_is_shown_as_given(variant: str) -> None:
    template, make = VARIANTS[variant]
    ctx = make()
    ctx["patient"] = patient(display="Margareta Lindqvist, 19520314-2384")
    card = render(template, **ctx)
    facts = {f["title"]: f["value"] for s in of_type(card, "FactSet") for f in s["facts"]}
    assert facts["Patient"] == "Margareta Lindqvist, 19520314-2384"
