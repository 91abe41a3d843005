"""The physiotherapy task on the cards (issue 12, point 3): the referral's inputs wherever
the task can be ticked off, the draft to copy, and the referral once sent."""

from __future__ import annotations

from typing import Any

from cards.render import render
from tests.cards.cardtools import executes, of_type, schema_errors, walk
from tests.cards.contexts import (
    VARIANTS,
    case_summary_context,
    physio_task,
    task_context,
    task_list_context,
    task_row,
)
from tests.jobs.test_cards import digest_context, digest_task


def _show_card(card: dict[str, Any], title: str) -> dict[str, Any]:
    [action] = [a for a in of_type(card, "Action.ShowCard") if a["title"] == title]
    sub: dict[str, Any] = action["card"]
    return sub


def _inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in walk(card) if str(n.get("type", "")).startswith("Input.")}


def _referral_inputs(card: dict[str, Any], suffix: str) -> dict[str, Any]:
    form = _show_card(card, "Klar – ange remiss")
    found = _inputs(form)
    assert set(found) == {f"referral_on{suffix}", f"referral_clinic{suffix}"}
    day, clinic = found[f"referral_on{suffix}"], found[f"referral_clinic{suffix}"]
    assert (day["type"], day["label"], day["isRequired"]) == (
        "Input.Date", "Remissen skickad (datum)", True
    )
    assert (clinic["type"], clinic["label"], clinic["isRequired"], clinic["maxLength"]) == (
        "Input.Text", "Mottagande mottagning", True, 200
    )
    assert clinic["placeholder"] == "Fysioterapimottagningens namn"
    assert day["placeholder"] == "Välj datum (ÅÅÅÅ-MM-DD)"
    [save] = executes(form)
    assert (save["title"], save["verb"]) == ("Spara remiss", "task.complete")
    return dict(save["data"])


def test_the_task_card_asks_for_the_referral_and_shows_the_draft() -> None:
    card = render("task_card", **task_context(tasks=[physio_task()]))
    assert schema_errors(card) == []
    assert _referral_inputs(card, "") == {"task_id": 401}
    # no plain "Klar" for a physiotherapy task
    assert [a["title"] for a in executes(card)] == ["Spara remiss"]
    draft = _show_card(card, "Visa remissutkast")["body"]
    assert [b["type"] for b in draft] == ["TextBlock", "TextBlock"]
    assert draft[1]["text"].startswith("Remiss till fysioterapeut\n\n")
    assert draft[1]["wrap"] is True


def test_a_long_draft_is_cut_with_an_ellipsis() -> None:
    long_draft = "Remiss till fysioterapeut\n" + "Anteckning " * 600
    card = render("task_card", **task_context(tasks=[physio_task(referral_draft=long_draft)]))
    text = _show_card(card, "Visa remissutkast")["body"][1]["text"]
    assert text.endswith("…") and len(text.replace("\n\n", "\n")) == 3000


def test_a_done_referral_shows_day_and_clinic_and_no_inputs() -> None:
    card = VARIANTS["task_card_physio_done"][1]()
    rendered = render("task_card", **card)
    texts = [b["text"] for b in of_type(rendered, "TextBlock")]
    assert "Remiss skickad 2027-01-18 till Fysioterapin Tingvalla" in texts
    assert _inputs(rendered) == {}
    assert not [a for a in of_type(rendered, "Action.ShowCard")]


def test_the_summary_row_shows_the_referral() -> None:
    ctx = VARIANTS["case_summary_card_physio"][1]()
    card = render("case_summary_card", **ctx)
    rows = [b["text"] for b in of_type(card, "TextBlock") if "Fysioterapikontakt ·" in b["text"]]
    assert rows == [
        "Fysioterapikontakt · MVA · Senast 2027-01-21 · Klar – Maria Svensson 2027-01-18 14:05"
        " · Remiss skickad 2027-01-18 till Fysioterapin Tingvalla"
    ]
    # a row without a referral (every other task) says nothing of one
    plain = render("case_summary_card", **case_summary_context())
    assert "Remiss" not in str(plain)


def test_the_digest_and_the_task_list_ask_per_task() -> None:
    digest = render(
        "digest_card",
        **digest_context(tasks=[digest_task(id=401, kind="physio", title="Fysioterapikontakt")]),
    )
    assert schema_errors(digest) == []
    assert _referral_inputs(digest, "_401") == {"task_id": 401, "view": "digest"}
    listed = render(
        "task_list_card",
        **task_list_context(tasks=[task_row(id=401, kind="physio", title="Fysioterapikontakt")]),
    )
    assert schema_errors(listed) == []
    assert _referral_inputs(listed, "_401") == {"task_id": 401}
