"""Verbs, data, inputs and refresh blocks exactly as in SPEC section 4."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from bot.cases.models import MAX_NOTE
from bot.flows import registry
from cards.render import LIMITS, render
from tests.cards.cardtools import executes, input_ids, markdown_texts, of_type, walk
from tests.cards.contexts import (
    ANNA_AAD,
    ANNA_TEAMS,
    ERIK_AAD,
    ERIK_TEAMS,
    MARIA_TEAMS,
    VARIANTS,
    case_summary_context,
    decision_context,
    task_context,
    triage_context,
)
from tests.jobs.test_cards import VARIANTS as JOB_VARIANTS

DECISIONS = {
    "Ingen osteoporos – brevsvar": "normal_letter",
    "Ingen osteoporos – ring patienten": "normal_call",
    "Kalla till läkarbesök": "call_in",
    "Annan åtgärd": "other",
    "Fördela om": "reassign",
}


def show_card(card: dict[str, Any], title: str) -> dict[str, Any]:
    [action] = [a for a in card["actions"] if a["title"] == title]
    assert action["type"] == "Action.ShowCard"
    sub: dict[str, Any] = action["card"]
    return sub


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in walk(card) if str(n.get("type", "")).startswith("Input.")}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_input_ids_are_unique(variant: str) -> None:
    template, make = VARIANTS[variant]
    ids = input_ids(render(template, **make()))
    assert [i for i, n in Counter(ids).items() if n > 1] == []


DECISION_INPUTS = {"note": False, "other_note": True, "physician": True, "visit_physician": True}
FOLLOWUP_INPUTS = {
    "treatment": True,
    "not_started_reason": False,
    "on_treatment": False,
    "stopped_reason": False,
    "stopped_note": False,
    "falls": True,
    "new_fracture": True,
    "next_due": False,
    "dxa_planned": False,
}
# The inputs of each variant, id -> required; a variant not named here has none.
EXPECTED_INPUTS: dict[str, dict[str, bool]] = {
    "decision_card": DECISION_INPUTS,
    "decision_card_hip_notice": DECISION_INPUTS,
    "decision_card_earlier": DECISION_INPUTS,
    "decision_card_protected": DECISION_INPUTS,
    "decision_card_young": DECISION_INPUTS,
    "task_card_booking_letter": {"booked_date": True, "booked_time": True, "letter_301": False},
    "task_list_card": {"booked_date_104": True, "booked_time_104": True},
    "task_card_physio": {"referral_on": True, "referral_clinic": True},
    "task_list_card_physio": {"referral_on_401": True, "referral_clinic_401": True},
    "triage_card": {"physician": True},
    "triage_card_rerouted": {"physician": True},
    "followup_card": {**FOLLOWUP_INPUTS, "physio_assessed_on": False},
    "followup_card_first": FOLLOWUP_INPUTS,
    "visit_card": {
        "followup_date": False,
        "investigation": False,
        "no_treatment_reason": False,
        "patient_informed": False,
        "physio_contact": False,
        "treatment": True,
    },
}


def test_expected_inputs_name_known_variants() -> None:
    assert set(EXPECTED_INPUTS) <= set(VARIANTS)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_required_inputs_have_label_and_error_message(variant: str) -> None:
    template, make = VARIANTS[variant]
    found = inputs(render(template, **make()))
    assert {i: bool(n.get("isRequired")) for i, n in found.items()} == EXPECTED_INPUTS.get(
        variant, {}
    )
    for node in found.values():
        assert node["label"]
        if node.get("isRequired"):
            assert node["errorMessage"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_button_is_action_execute_with_a_known_verb(variant: str) -> None:
    template, make = VARIANTS[variant]
    card = render(template, **make())
    assert not of_type(card, "Action.Submit")
    assert not of_type(card, "Action.OpenUrl")
    known = {
        "case.decide",
        "case.undo",
        "case.assign",
        "task.complete",
        "task.reopen",
        "card.refresh",
        "visit.record",
        "followup.record",
    }
    assert {a["verb"] for a in of_type(card, "Action.Execute")} <= known


def test_decision_card_actions() -> None:
    card = render("decision_card", **decision_context())
    got = {a["title"]: a for a in card["actions"]}
    assert list(got) == list(DECISIONS)
    for action in executes(card):
        assert action["verb"] == "case.decide"
        assert set(action["data"]) == {"case_id", "version", "decision"}
        assert action["data"]["case_id"] == 12
        assert action["data"]["version"] == 1
    decisions = sorted(a["data"]["decision"] for a in executes(card))
    assert decisions == sorted(DECISIONS.values())
    assert got["Ingen osteoporos – brevsvar"]["data"]["decision"] == "normal_letter"
    assert got["Ingen osteoporos – ring patienten"]["data"]["decision"] == "normal_call"
    for title, decision in DECISIONS.items():
        if got[title]["type"] == "Action.ShowCard":
            [submit] = executes(got[title]["card"])
            assert submit["data"]["decision"] == decision


def test_decision_card_preselects_no_decision() -> None:
    card = render("decision_card", **decision_context())
    assert all("style" not in action for action in card["actions"])
    assert "value" not in inputs(card)["physician"]
    assert "value" not in inputs(card)["other_note"]


def test_call_in_inputs() -> None:
    sub = show_card(render("decision_card", **decision_context()), "Kalla till läkarbesök")
    found = inputs(sub)
    assert set(found) == {"visit_physician", "note"}
    visit = found["visit_physician"]
    assert visit["type"] == "Input.ChoiceSet"
    assert visit["value"] == ANNA_AAD
    assert [c["value"] for c in visit["choices"]] == [ANNA_AAD, ERIK_AAD]
    assert [c["title"] for c in visit["choices"]] == ["Anna Berg", "Erik Lund"]
    note = found["note"]
    assert note["type"] == "Input.Text"
    assert note["isMultiline"] is True
    assert note["maxLength"] == MAX_NOTE == 1000
    assert note["label"] == "Bokningsunderlag / anteckning"
    assert [a["title"] for a in executes(sub)] == ["Skicka"]


def test_other_inputs() -> None:
    sub = show_card(render("decision_card", **decision_context()), "Annan åtgärd")
    other = inputs(sub)["other_note"]
    assert other["type"] == "Input.Text"
    assert other["isRequired"] is True
    assert other["maxLength"] == MAX_NOTE
    assert other["errorMessage"].startswith("Beskriv")


def test_reassign_lists_the_other_physicians() -> None:
    sub = show_card(render("decision_card", **decision_context()), "Fördela om")
    choice = inputs(sub)["physician"]
    assert choice["isRequired"] is True
    assert [c["value"] for c in choice["choices"]] == [ERIK_AAD]


def test_reassign_uses_physician_id_when_given() -> None:
    ctx = decision_context(physician={"id": ERIK_AAD, "name": "Erik Lund"})
    sub = show_card(render("decision_card", **ctx), "Fördela om")
    assert [c["value"] for c in inputs(sub)["physician"]["choices"]] == [ANNA_AAD]


def test_reassign_is_left_out_when_nobody_else_is_there() -> None:
    ctx = decision_context(physicians=[{"id": ANNA_AAD, "name": "Anna Berg"}])
    card = render("decision_card", **ctx)
    assert "Fördela om" not in [a["title"] for a in card["actions"]]


def test_physician_lists_are_capped() -> None:
    many = [{"id": f"id-{i}", "name": f"Läkare {i}"} for i in range(100)]
    card = render("decision_card", **decision_context(physicians=many))
    for node in of_type(card, "Input.ChoiceSet"):
        assert len(node["choices"]) == LIMITS["physicians"]


def test_triage_card_assign_action() -> None:
    card = render("triage_card", **triage_context())
    [action] = executes(card)
    assert action["verb"] == "case.assign"
    assert action["data"] == {"case_id": 14, "version": 1}
    assert action["title"] == "Fördela"
    choice = inputs(card)["physician"]
    assert choice["isRequired"] is True
    assert "value" not in choice


def test_triage_card_when_assigned_is_read_only() -> None:
    ctx = triage_context(
        assigned={"to": "Erik Lund", "by": "Maria Svensson", "at": "2026-11-21 08:40"}
    )
    card = render("triage_card", **ctx)
    assert executes(card) == []
    assert input_ids(card) == []
    assert "Fördelat till Erik Lund av Maria Svensson \\(2026-11-21 08:40\\)" in markdown_texts(
        card
    )


def test_triage_card_without_physicians_has_no_action() -> None:
    card = render("triage_card", **triage_context(physicians=[]))
    assert executes(card) == []
    assert input_ids(card) == []


def test_task_card_buttons() -> None:
    card = render("task_card", **task_context())
    got = [(a["title"], a["verb"], a["data"]) for a in executes(card)]
    assert got == [
        ("Ångra", "task.reopen", {"task_id": 101}),
        ("Klar", "task.complete", {"task_id": 102}),
        ("Klar", "task.complete", {"task_id": 104}),
    ]
    # one ActionSet per task with buttons, inside the body
    assert len(of_type(card, "ActionSet")) == 3
    assert "actions" not in card


def test_task_card_states() -> None:
    card = render("task_card", **task_context())
    texts = markdown_texts(card)
    assert "Klar – Maria Svensson 2026-11-21 10:15" in texts
    assert "Senast 2026-11-26 · Försenad" in texts
    assert "Senast 2027-01-21" in texts
    assert "Avbruten" in texts
    [struck] = of_type(card, "TextRun")
    assert struck == {
        "type": "TextRun",
        "text": "Beställ prover: Osteoporospaket",
        "strikethrough": True,
        "isSubtle": True,
    }
    [late] = [b for b in of_type(card, "TextBlock") if "Försenad" in b["text"]]
    assert late["color"] == "attention"


def test_done_task_without_reopen_has_no_button() -> None:
    card = render("task_card", **VARIANTS["task_card_physician"][1]())
    assert executes(card) == []


def test_summary_card_has_no_inputs_or_buttons() -> None:
    card = render("case_summary_card", **case_summary_context())
    assert input_ids(card) == []
    assert executes(card) == []
    assert "actions" not in card
    assert not of_type(card, "Action.ShowCard")


def test_summary_card_offers_undo_only_when_given() -> None:
    card = render("case_summary_card", **VARIANTS["case_summary_card_undo"][1]())
    assert card["actions"] == [
        {
            "type": "Action.Execute",
            "title": "Ångra beslut",
            "verb": "case.undo",
            "data": {"case_id": 12, "version": 2},
        }
    ]
    assert input_ids(card) == []
    texts = markdown_texts(card)
    assert "Du kan ångra beslutet till 2026-11-21 10:32, så länge ingen uppgift är klar." in texts


def test_summary_card_of_a_channel_says_so_in_its_refresh() -> None:
    card = render("case_summary_card", **case_summary_context(refresh_view="channel"))
    assert card["refresh"]["action"]["data"] == {"case_id": 12, "view": "channel"}


def test_confirm_card_goes_back_or_confirms_the_same_decision() -> None:
    template, make = VARIANTS["confirm_decision_card"]
    card = render(template, **make())
    assert [(a["title"], a["verb"], a["data"]) for a in card["actions"]] == [
        ("Tillbaka", "card.refresh", {"case_id": 12}),
        (
            "Bekräfta: Ingen osteoporos – brevsvar",
            "case.decide",
            {"case_id": 12, "version": 1, "decision": "normal_letter", "confirmed": True},
        ),
    ]
    assert all("style" not in action for action in card["actions"])  # nothing preferred
    assert input_ids(card) == []
    texts = markdown_texts(card)
    assert "• Lägsta T-score −2,9 \\(Ländrygg L1–L4\\): osteoporos" in texts
    assert "• Höftfraktur: behandling bör övervägas oavsett T-score" in texts
    assert "refresh" in card and "userIds" not in card["refresh"]  # the clicker's only


@pytest.mark.parametrize(
    ("variant", "data", "user_ids"),
    [
        ("decision_card", {"case_id": 12}, [ANNA_TEAMS]),
        ("case_summary_card", {"case_id": 12}, [ANNA_TEAMS, MARIA_TEAMS]),
        ("triage_card", {"case_id": 14, "view": "triage"}, None),
        ("visit_card", {"case_id": 12, "view": "visit"}, [ERIK_TEAMS]),
        ("task_card", {"task_id": 101}, [MARIA_TEAMS]),
        ("decision_card_young", {"case_id": 12}, "absent"),
    ],
)
def test_refresh_block(variant: str, data: dict[str, int], user_ids: object) -> None:
    template, make = VARIANTS[variant]
    ctx = make()
    refresh = render(template, **ctx)["refresh"]
    assert refresh["action"]["type"] == "Action.Execute"
    assert refresh["action"]["verb"] == "card.refresh"
    assert refresh["action"]["data"] == data
    if user_ids == "absent":
        assert "userIds" not in refresh
    else:
        assert refresh["userIds"] == (user_ids or ctx["refresh_user_ids"])


def test_refresh_user_ids_are_capped_at_60() -> None:
    ids = [f"29:user-{i}" for i in range(100)]
    refresh = render("decision_card", **decision_context(refresh_user_ids=ids))["refresh"]
    assert refresh["userIds"] == ids[:60]


def test_task_card_without_tasks_refreshes_by_case() -> None:
    card = render("task_card", **task_context(tasks=[]))
    assert card["refresh"]["action"]["data"] == {"case_id": 12}


@pytest.mark.parametrize("variant", ["notice_card", "notice_card_plain", "help_card"])
def test_information_cards_have_no_refresh(variant: str) -> None:
    template, make = VARIANTS[variant]
    card = render(template, **make())
    assert "refresh" not in card
    assert executes(card) == []


# The least data each verb's model takes, to try one input at a time against.
MINIMAL_DATA = {
    "case.decide": {"case_id": 1, "version": 1, "decision": "other"},
    "case.undo": {"case_id": 1, "version": 1},
    "case.assign": {"case_id": 1, "version": 1, "physician": ANNA_AAD},
    "task.complete": {"task_id": 1},
    "task.reopen": {"task_id": 1},
    "visit.record": {"case_id": 1},
    "followup.record": {"case_id": 1, "version": 1},
}
ALL_VARIANTS = {**VARIANTS, **JOB_VARIANTS}


def kept_text_inputs(variant: str) -> list[tuple[str, str, int]]:
    """(verb, input id, maxLength) of every Input.Text of the card whose text a verb of
    the card keeps; the other text inputs (a letter draft to copy) no verb reads."""
    template, make = ALL_VARIANTS[variant]
    card = render(template, **make())
    verbs = sorted({a["verb"] for a in executes(card)})
    found = []
    for node in of_type(card, "Input.Text"):
        # an input named per task (`referral_clinic_401`) is read as its field
        field = re.sub(r"_[0-9]+$", "", node["id"])
        readers = [v for v in verbs if field in registry.ROUTES[v].model.model_fields]
        if not readers:
            assert node["id"].startswith("letter_"), node["id"]
        found.extend((verb, field, node.get("maxLength", 0)) for verb in readers)
    return found


@pytest.mark.parametrize("variant", sorted(ALL_VARIANTS))
def test_text_inputs_stop_where_the_verb_stops(variant: str) -> None:
    """Teams stops the user at `maxLength`; the verb's data model takes exactly that much
    and refuses one character more (so nobody types what the server refuses)."""
    for verb, field, limit in kept_text_inputs(variant):
        model = registry.ROUTES[verb].model
        model.model_validate({**MINIMAL_DATA[verb], field: "å" * limit})
        with pytest.raises(ValidationError) as refused:
            model.model_validate({**MINIMAL_DATA[verb], field: "å" * (limit + 1)})
        [error] = refused.value.errors()
        assert error["type"] == "text_too_long", (variant, field)


def test_every_kept_text_input_has_its_limit() -> None:
    found = {
        (verb, field, limit) for v in ALL_VARIANTS for verb, field, limit in kept_text_inputs(v)
    }
    assert found == {
        ("case.decide", "note", 1000),
        ("case.decide", "other_note", 1000),
        ("task.complete", "referral_clinic", 200),
        ("visit.record", "investigation", 500),
        ("visit.record", "no_treatment_reason", 500),
        ("followup.record", "not_started_reason", 500),
        ("followup.record", "stopped_note", 500),
    }
