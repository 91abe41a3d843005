"""The render API and the escaping filters."""

from __future__ import annotations

import json
import random
from typing import Any

import jinja2
import pytest

from cards import render as render_module
from cards.render import (
    COMPACT_LIMITS,
    CONTENT_TYPE,
    MAX_CARD_BYTES,
    CardTooLarge,
    card_attachment,
    card_size,
    cut,
    md,
    oneline,
    render,
)
from tests.cards.contexts import decision_context, help_context, many_measurements
from tests.cards.hostile import EVIL

ZWJ = "\u200d"


def test_render_returns_the_parsed_card() -> None:
    card = render("help_card", **help_context())
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"


@pytest.mark.parametrize(
    "name", ["nope", "_header", "../render", "help_card.json", "Help_card", ""]
)
def test_render_refuses_unknown_and_partial_names(name: str) -> None:
    with pytest.raises(ValueError):
        render(name, **help_context())


def test_missing_context_is_an_error() -> None:
    ctx = decision_context()
    del ctx["suggestion"]
    with pytest.raises(jinja2.UndefinedError):
        render("decision_card", **ctx)


def test_missing_nested_key_is_an_error() -> None:
    ctx = decision_context()
    del ctx["answer"]["scan_date"]
    with pytest.raises(jinja2.UndefinedError):
        render("decision_card", **ctx)


def test_non_text_where_text_is_expected_is_an_error() -> None:
    ctx = decision_context()
    ctx["answer"]["conclusion"] = 42
    with pytest.raises(TypeError):
        render("decision_card", **ctx)


def test_card_attachment() -> None:
    card = {"type": "AdaptiveCard"}
    assert card_attachment(card) == {"contentType": CONTENT_TYPE, "content": card}
    assert CONTENT_TYPE == "application/vnd.microsoft.card.adaptive"


def test_card_size_is_compact_utf8_of_the_attachment() -> None:
    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Ärende"}]}
    expected = (
        '{"contentType":"application/vnd.microsoft.card.adaptive",'
        '"content":{"type":"AdaptiveCard","body":[{"type":"TextBlock","text":"Ärende"}]}}'
    )
    assert card_size(card) == len(expected.encode("utf-8"))
    assert MAX_CARD_BYTES == 40_000


def test_render_refuses_a_card_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_module, "MAX_CARD_BYTES", 1_000)
    with pytest.raises(CardTooLarge) as raised:
        render("decision_card", **decision_context())
    assert raised.value.name == "decision_card"
    assert raised.value.size > 1_000


def test_an_oversized_card_is_rendered_compact(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = many_measurements(500)
    ctx = decision_context(measurements=rows)
    normal = render("decision_card", **ctx)
    monkeypatch.setattr(render_module, "MAX_CARD_BYTES", card_size(normal) - 1)
    compact = render("decision_card", **ctx)
    rows_shown = [n for n in compact["body"] if n["type"] == "ColumnSet"]
    assert len(rows_shown) == 1 + COMPACT_LIMITS["measurements"]
    assert card_size(compact) < card_size(normal)


def test_limits_is_reserved() -> None:
    with pytest.raises(ValueError):
        render("help_card", **help_context(), limits={})


def environment() -> jinja2.Environment:
    return render_module._environment()


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ('Eva "Ek" \\ }]{\n', '"Eva \\"Ek\\" \\\\ }]{\\n"'),
        ("Åsa", '"Åsa"'),
        (12, "12"),
        (1.5, "1.5"),
        (True, "true"),
        (None, "null"),
        ([1, "a"], '[1, "a"]'),
        ({"task_id": 3}, '{"task_id": 3}'),
    ],
)
def test_every_expression_is_written_as_a_json_literal(value: Any, literal: str) -> None:
    assert environment().from_string("{{ v }}").render(v=value) == literal


def test_a_hostile_value_cannot_leave_its_string() -> None:
    template = environment().from_string('{"text": {{ v }}, "ok": true}')
    out = json.loads(template.render(v='", "injected": true, "x": "'))
    assert out == {"text": '", "injected": true, "x": "', "ok": True}


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError):
        environment().from_string("{{ v }}").render(v=float("nan"))


def test_undefined_is_refused() -> None:
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ v }}").render()


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("[klicka](https://evil.example)", f"\\[klicka\\]\\(https{ZWJ}://evil.{ZWJ}example\\)"),
        ("**fet** _kursiv_", "\\*\\*fet\\*\\* \\_kursiv\\_"),
        ("~~bort~~ `kod`", "\\~\\~bort\\~\\~ \\`kod\\`"),
        ("# rubrik", "\\# rubrik"),
        ("+ a", "\\+ a"),
        ("- lista\n1. nummer\n2) två", "\\- lista\n\n1\\. nummer\n\n2\\) två"),
        ("![bild](x)", "\\!\\[bild\\]\\(x\\)"),
        ("<b>html</b> {x} | y", "\\<b\\>html\\</b\\> \\{x\\} \\| y"),
        ("a\\b", "a\\\\b"),
        ("> citat", "\\> citat"),
        ("https://evil.example/x", f"https{ZWJ}://evil.{ZWJ}example/x"),
        ("www.evil.example", f"www.{ZWJ}evil.{ZWJ}example"),
        ("skriv till eva@evil.se", f"skriv till eva@evil.{ZWJ}se"),
        ("mailto:eva@evil.se", f"mailto{ZWJ}:eva@evil.{ZWJ}se"),
        ("Anna-Karin Ek, 19520314-2384", "Anna-Karin Ek, 19520314-2384"),
        ("T-score −2,9; 2026-11-10; S52.5", "T-score −2,9; 2026-11-10; S52.5"),
        ("  indraget\n\n\n   kodblock", "indraget\n\nkodblock"),
        ("rad ett\r\nrad två", "rad ett\n\nrad två"),
        ("x\x00y\x1bz\u202eå", "xyzå"),
        ("", ""),
    ],
)
def test_md(raw: str, escaped: str) -> None:
    assert md(raw) == escaped


def test_md_shortcut_for_plain_text_changes_nothing_the_full_escape_would() -> None:
    # `md` returns most texts as they are without running its rules; on any text it must
    # give what the rules give. Random texts from an alphabet of letters, spaces and every
    # character a rule acts on, plus the hostile sample line by line.
    rng = random.Random(5)
    plain, special = "aåZ9 0-,;/@–…'\"%", ".:_*[]()#+!|<>{}`~\\\n\r\t\x00\u202e\u2028"

    def one() -> str:
        return rng.choice(special if rng.random() < 0.1 else plain)

    texts = [*EVIL.splitlines(), "Anna-Karin", "-x", " x", "x ", "1. a", "S52.5", "a:b"]
    texts += ["".join(one() for _ in range(rng.randint(0, 16))) for _ in range(20000)]
    shortcut = 0
    for text in texts:
        assert md(text) == render_module._escape_markdown(text), repr(text)
        shortcut += render_module._PLAIN.fullmatch(text) is not None
    assert shortcut > 100  # the shortcut was taken, not only the full path


@pytest.mark.parametrize(
    ("raw", "n", "expected"),
    [
        ("abcdef", 4, "abc…"),
        ("abc", 3, "abc"),
        ("abc", 4, "abc"),
        ("ord och  mer", 5, "ord…"),
        ("åäöåäö", 3, "åä…"),
    ],
)
def test_cut(raw: str, n: int, expected: str) -> None:
    assert cut(raw, n) == expected
    assert len(cut(raw, n)) <= n


def test_cut_needs_a_positive_length() -> None:
    with pytest.raises(ValueError):
        cut("abc", 0)


def test_oneline() -> None:
    assert oneline(" Eva\n  Ek\t\u2028Lund\x00 ") == "Eva Ek Lund"


@pytest.mark.parametrize("value", [None, 3, ["a"]])
def test_filters_take_text_only(value: object) -> None:
    for text_filter in (md, oneline):
        with pytest.raises(TypeError):
            text_filter(value)
    with pytest.raises(TypeError):
        cut(value, 3)
