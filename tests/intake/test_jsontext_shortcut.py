"""`check`'s shortcut (issue 15): a value it finds clean is one the full walk finds no
problem in, and every value with a problem still gets the full walk's answer."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.intake import jsontext
from bot.intake.jsontext import check, decode

_TEXT = st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0xDFFF))
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**320), max_value=10**320)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _TEXT
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=40,
)


def _full_walk(value: object, max_depth: int, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as patched:
        patched.setattr(jsontext, "_clean", lambda *_: False)
        return check(value, max_depth=max_depth).listed()


@settings(max_examples=400, deadline=None)
@given(value=_VALUES, max_depth=st.integers(min_value=1, max_value=5))
def test_the_shortcut_answers_as_the_full_walk(value: object, max_depth: int) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        full = _full_walk(value, max_depth, monkeypatch)
    assert check(value, max_depth=max_depth).listed() == full
    if isinstance(value, dict | list):
        assert jsontext._clean(value, max_depth - 1) == (not full)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 32 + "]" * 32,
        "[" * 33 + "]" * 33,
        '{"a": "\\u0000"}',
        '{"\\ud800": 1}',
        '[1, "x\\udfff"]',
        "[NaN]",
        "[-Infinity]",
        "[1e309]",
        "[" + "9" * 401 + "]",
        "[" + "9" * 309 + "]",
        "[1.7976931348623157e308, -1.7976931348623157e308]",
        '{"a": [true, false, null, 0, -0.0, "å"]}',
    ],
)
def test_edges(text: str) -> None:
    value = decode(text.encode())
    with pytest.MonkeyPatch.context() as monkeypatch:
        full = _full_walk(value, 32, monkeypatch)
    assert check(value).listed() == full
    assert isinstance(value, dict | list)
    assert jsontext._clean(value, 31) == (not full)
    assert (not full) == (
        text.count("[") <= 32
        and "\\u" not in text
        and not any(
            isinstance(v, float) and not math.isfinite(v) for v in _leaves(json.loads(text))
        )
        and "9" * 309 not in text
    )


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]
