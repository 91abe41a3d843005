"""The shortcuts of `cards.render` give what the plain rules give.

`oneline`, `md` and the JSON literals skip work for text that needs none, and the card
environment reads a dict's key without trying an attribute first; each is checked here
against the straightforward rule it stands for (`_reference_*`: the rules as written
before the shortcuts), on generated text and on every code point the shortcuts rely on.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.calendar import STOCKHOLM
from bot.messaging.format import fmt_time
from cards.render import (
    _BARE_SCHEME,
    _DOMAIN_DOT,
    _DROPPED,
    _INLINE_SPECIAL,
    _LINE_START_SPECIAL,
    _ORDERED_LIST,
    _URL_SCHEME,
    LIMITS,
    TEMPLATES_DIR,
    TEXT_FLOOR,
    ZWJ,
    _environment,
    _json_literal,
    cut,
    md,
    oneline,
    render,
)
from tests.cards.contexts import VARIANTS
from tests.cards.hostile import EVIL, replace_text
from tests.jobs.test_cards import VARIANTS as JOB_VARIANTS


def _reference_oneline(text: str) -> str:
    return " ".join(_DROPPED.sub("", text).split())


def _reference_md(text: str) -> str:
    lines = [line.strip() for line in _DROPPED.sub("", text).splitlines()]
    text = "\n\n".join(line for line in lines if line)
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    text = _LINE_START_SPECIAL.sub(r"\\\1", text)
    text = _ORDERED_LIST.sub(r"\1\\\2", text)
    text = _URL_SCHEME.sub(lambda m: m.group(1) + ZWJ, text)
    text = _BARE_SCHEME.sub(lambda m: m.group(1) + ZWJ, text)
    return _DOMAIN_DOT.sub("." + ZWJ, text)


# Pieces every rule acts on, among plain letters, digits and the characters of the
# shortcuts' checks (line breaks, spaces of all kinds, controls, lone surrogates).
PIECES = [
    *"aZ09é.:/-#+)( \n\r\t\x0b\x1c\x85\xa0\u2028\u3000\u200e\u202e\x00\x7f\ud800",
    *"*_~[]!|{}<>`\\·–—−",
    "http",
    "://",
    "mailto",
    "Tel",
    "www.",
    "1.",
    "12)",
    "  ",
    "٣.",
]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join) | st.text(max_size=40)


@given(texts)
def test_oneline_is_the_rule(text: str) -> None:
    assert oneline(text) == _reference_oneline(text)


@given(texts)
def test_md_is_the_rule(text: str) -> None:
    assert md(text) == _reference_md(text)


def test_printable_text_has_nothing_the_rules_drop_or_split() -> None:
    """What the shortcuts of `oneline` and `md` assume of `str.isprintable`."""
    special = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if (c := chr(code)).isprintable()
        and c != " "
        and (c.isspace() or _DROPPED.match(c) or len(f"{c}x".splitlines()) > 1)
    ]
    assert special == []


def test_ordered_list_digits_are_decimal() -> None:
    """`md` looks for an ordered-list marker only after a `str.isdecimal` character."""
    assert re.compile(r"\d").pattern == _ORDERED_LIST.pattern[2:4]
    digits = [chr(c) for c in range(sys.maxunicode + 1) if re.fullmatch(r"\d", chr(c))]
    assert all(d.isdecimal() for d in digits)
    assert len(digits) == sum(chr(c).isdecimal() for c in range(sys.maxunicode + 1))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    )
)
def test_json_literal_is_json_dumps(value: object) -> None:
    assert _json_literal(value) == json.dumps(value, ensure_ascii=False, allow_nan=False)


def test_json_literal_refuses_what_json_dumps_refuses() -> None:
    for value in (float("nan"), float("inf"), {1, 2}, object()):
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            expected: type[Exception] = type(exc)
        try:
            _json_literal(value)
        except expected:
            continue
        raise AssertionError(f"{value!r} was written")


def test_attribute_lookup_is_jinja2s() -> None:
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined)
    card_env = _environment()
    obj = {"title": "Ärende 1", "items": "a key named like a dict method", "n": 0}
    for name in ("title", "n", "items", "keys", "get", "missing"):
        ours, theirs = card_env.getattr(obj, name), plain.getattr(obj, name)
        if isinstance(theirs, jinja2.Undefined):
            assert isinstance(ours, jinja2.Undefined)
        else:
            assert ours == theirs
    assert card_env.getattr("text", "upper")() == "TEXT"


def test_templates_are_compiled_once() -> None:
    env = _environment()
    assert env.auto_reload is False
    assert not env.globals  # a card sees its context and limits only
    first = env.get_template("case_summary_card.json.j2")
    render("case_summary_card", **VARIANTS["case_summary_card"][1]())
    assert env.get_template("case_summary_card.json.j2") is first


def _reference_environment() -> jinja2.Environment:
    """The card templates with the plain rules: `jinja2.Environment`, `json.dumps`."""

    def finalize(value: object) -> str:
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()
        return json.dumps(value, ensure_ascii=False, allow_nan=False)

    def text(value: object) -> str:
        assert isinstance(value, str)
        return value

    @jinja2.pass_context
    def cut_filter(context: jinja2.runtime.Context, value: object, n: int) -> str:
        percent = int(context["limits"]["text_percent"])
        if n > TEXT_FLOOR:
            n = max(TEXT_FLOOR, n * percent // 100)
        return cut(value, n)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = lambda value: _reference_md(text(value))
    env.filters["oneline"] = lambda value: _reference_oneline(text(value))
    env.filters["cut"] = cut_filter
    return env


CONTEXTS = {
    **{name: (template, make()) for name, (template, make) in VARIANTS.items()},
    **{name: (template, make()) for name, (template, make) in JOB_VARIANTS.items()},
}
CONTEXTS |= {
    f"{name}, hostile": (template, replace_text(ctx, EVIL))
    for name, (template, ctx) in CONTEXTS.items()
}


@pytest.mark.parametrize("variant", sorted(CONTEXTS))
def test_cards_are_what_the_plain_rules_make(variant: str) -> None:
    """Every golden variant, and each with its texts replaced by hostile text, renders
    to the very JSON text the templates give with the plain rules."""
    template, ctx = CONTEXTS[variant]
    expected = _reference_environment().get_template(f"{template}.json.j2")
    plain = json.loads(expected.render(limits=LIMITS, **ctx))
    card = render(template, **ctx)
    assert json.dumps(card, ensure_ascii=False) == json.dumps(plain, ensure_ascii=False)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
)
def test_fmt_time_is_strftime(at: datetime) -> None:
    """`fmt_time` writes what `strftime("%Y-%m-%d %H:%M")` writes in Stockholm time."""
    assert fmt_time(at) == at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def test_fmt_time_across_summer_time() -> None:
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    for minutes in range(0, 24 * 60, 7):
        at = start + timedelta(minutes=minutes)
        assert fmt_time(at) == at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")
