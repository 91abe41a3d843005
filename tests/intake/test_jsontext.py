"""The body as JSON text: decoding and the one walk over the whole value (issue 10)."""

from __future__ import annotations

import json

import pytest

from bot.intake.jsontext import NotJson, TooDeep, check, decode
from bot.intake.problems import Problem

OUT_OF_RANGE = "number out of range: JSON numbers here must be finite, at most ±1.8e308"
NUL = "contains NUL (U+0000), which text may not"
SURROGATE = "contains a lone surrogate (U+D800..U+DFFF): not valid Unicode"


def problems_of(text: str, *, max_depth: int = 32) -> list[Problem]:
    return check(decode(text.encode()), max_depth=max_depth).listed()


def test_a_plain_document_has_no_problems() -> None:
    assert problems_of('{"a": [1, -2.5, "Åsa", null, true, {"b": 10000000000000000000000}]}') == []


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("-1" + "0" * 400, OUT_OF_RANGE),
        ("1" * 5000, OUT_OF_RANGE),  # Python's int() refuses over 4300 digits
        ("9" * 309, OUT_OF_RANGE),
        ("-1e400", OUT_OF_RANGE),
        ("1e309", OUT_OF_RANGE),
        ("Infinity", OUT_OF_RANGE),
        ("-Infinity", OUT_OF_RANGE),
        ("NaN", "NaN is not a JSON number"),
    ],
)
def test_numbers_out_of_range(literal: str, message: str) -> None:
    assert problems_of(f'{{"v": [0, {literal}]}}') == [Problem("$.v[1]", message)]


def test_the_largest_numbers_in_range() -> None:
    assert problems_of(f"[{'9' * 308}, 1.7976931348623157e308, -1e308, 1e-400]") == []


def test_text_without_nul_and_lone_surrogates() -> None:
    text = r'{"a": "x\u0000y", "b": ["ok", "\ud800"], "c": "\udc00z", "d": "\ud83d\ude00"}'
    assert problems_of(text) == [
        Problem("$.a", NUL),
        Problem("$.b[1]", SURROGATE),
        Problem("$.c", SURROGATE),
    ]


def test_keys_are_text_too() -> None:
    assert problems_of(r'{"ok": {"k\ud800": 1, "n\u0000": 2}}') == [
        Problem(r"$.ok['k\ud800']", f"the key {SURROGATE}"),
        Problem(r"$.ok['n\x00']", f"the key {NUL}"),
    ]


def test_an_unusual_key_is_shown_short_and_in_ascii() -> None:
    assert problems_of(json.dumps({"Å" * 100: "\x00"})) == [
        Problem("$['" + r"\xc5" * 40 + r"\u2026']", NUL)
    ]


def test_nesting_at_the_limit_is_accepted_one_more_is_not() -> None:
    assert problems_of("[" * 4 + "]" * 4, max_depth=4) == []
    assert problems_of('{"a": [[[{"b": 1}]]]}', max_depth=4) == [
        Problem("$.a[0][0][0]", "nesting is deeper than 4 levels of arrays and objects")
    ]


def test_every_too_deep_branch_is_one_problem_and_siblings_are_still_walked() -> None:
    assert problems_of('[[[[1]]], [[[2]]], "\\u0000"]', max_depth=3) == [
        Problem("$[0][0][0]", "nesting is deeper than 3 levels of arrays and objects"),
        Problem("$[1][0][0]", "nesting is deeper than 3 levels of arrays and objects"),
        Problem("$[2]", NUL),
    ]


def test_the_walk_takes_any_depth_without_recursion() -> None:
    deep: object = []
    for _ in range(200_000):
        deep = [deep]
    assert check(deep).listed() == [
        Problem("$" + "[0]" * 32, "nesting is deeper than 32 levels of arrays and objects")
    ]


def test_many_problems_cost_a_count() -> None:
    found = check(["\x00"] * 200_000).listed()
    assert len(found) == 1001
    assert found[0] == Problem("$[0]", NUL)
    assert found[-1] == Problem("$", "199000 more problems not listed")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"{not json",
            "not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        ('{"a": 1}'.encode("utf-16"), "not valid JSON: the body is not UTF-8 (byte 0)"),
        (b'{"a": "\xed\xa0\x80"}', "not valid JSON: the body is not UTF-8 (byte 7)"),
        (
            b'{"a": "x\x00"}',
            "not valid JSON: Invalid control character at: line 1 column 9 (char 8)",
        ),
        (b"", "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    ],
)
def test_bodies_that_are_not_json(body: bytes, message: str) -> None:
    with pytest.raises(NotJson) as refused:
        decode(body)
    assert not isinstance(refused.value, TooDeep)
    assert refused.value.problem == Problem("$", message)


def test_too_deep_to_decode() -> None:
    with pytest.raises(TooDeep) as refused:
        decode(b"[" * 100_000 + b"]" * 100_000)
    assert refused.value.problem == Problem(
        "$", "nesting is deeper than 32 levels of arrays and objects"
    )


def test_a_byte_order_mark_is_allowed() -> None:
    assert decode(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
