"""`bot.core.jsonfast`: orjson on the hot paths, with the standard library's results:
the same value for every JSON text (an integer beyond 64 bits aside: a float, and the
intake keeps `json`), the same error where `json.loads` refuses one, and text that
decodes back to what was encoded."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import jsonfast
from bot.intake import jsontext

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and int/float kept apart."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=300, deadline=None)
@given(values, st.booleans())
def test_loads_is_json_loads(value: Any, ascii_only: bool) -> None:
    if _has_huge_int(value):
        return  # test_an_integer_beyond_64_bits_is_a_float
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert same(jsonfast.loads(text), json.loads(text))
    assert same(jsonfast.loads(text.encode()), json.loads(text.encode()))


@pytest.mark.parametrize(
    "text",
    [
        "[NaN, Infinity, -Infinity]",  # orjson refuses; json takes them
        '"\\ud800"',  # a lone surrogate
        '{"a": 1, "a": 2}',  # the last one wins in both
        "1e400",
        "[" * 2000 + "]" * 2000,  # deeper than orjson goes
    ],
)
def test_what_orjson_refuses_is_decoded_by_json(text: str) -> None:
    try:
        expected: Any = json.loads(text)
    except RecursionError:
        with pytest.raises(RecursionError):
            jsonfast.loads(text)
        return
    assert same(jsonfast.loads(text), expected)


@pytest.mark.parametrize("text", ["", "{", '{"a":}', "[1,]", "\x00", "nul"])
def test_bad_json_gets_json_s_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        jsonfast.loads(text)
    assert str(got.value) == str(expected.value)


def test_an_integer_beyond_64_bits_is_a_float() -> None:
    assert jsonfast.loads("18446744073709551615") == 2**64 - 1  # still 64 bits: an int
    assert jsonfast.loads("123456789012345678901234567890") == 1.2345678901234568e29
    # so the intake, whose contract reports such numbers, keeps json's reading
    assert jsontext.decode(b"123456789012345678901234567890") == 123456789012345678901234567890
    assert jsontext.decode(("9" * 500).encode()) == math.inf


@settings(max_examples=300, deadline=None)
@given(values)
def test_dumps_decodes_back(value: Any) -> None:
    text = jsonfast.dumps(value)
    assert same(json.loads(text), value)
    assert jsonfast.dumps_bytes(value) == text.encode("utf-8")
    if _has_huge_int(value) or not _has_float(value):  # 1e16 may be spelled 1e+16
        assert text == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_dumps_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        jsonfast.dumps({"x": object()})


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def _has_huge_int(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**64
    if isinstance(value, dict):
        return any(_has_huge_int(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_huge_int(v) for v in value)
    return False
