"""The body of an intake message as JSON text (SPEC section 3).

``decode`` turns the body into a JSON value: it must be UTF-8 (a leading byte order mark
is allowed) and strict JSON. ``check`` then walks the whole value once, without
recursion, ignored elements included (the content hash covers them): nesting at most
:data:`~bot.intake.limits.MAX_DEPTH` levels, text valid Unicode without NUL, numbers
finite and within the range of an IEEE 754 double. Problems name their JSON path and
never quote the text they are about.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from typing import TypeAlias

from bot.intake import limits
from bot.intake.problems import Problem, ProblemList

__all__ = ["NotJson", "TooDeep", "check", "decode", "json_path"]

_INT_DIGITS_MAX = 400
"""An integer literal longer than this is out of range anyway; it decodes as infinity."""
_DOUBLE_MAX = sys.float_info.max
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_KEY = 40

# A path as a chain of (parent, step) pairs, rendered only when a problem needs it.
_Trail: TypeAlias = tuple["_Trail", str | int] | None
_Open: TypeAlias = tuple[Iterator[tuple[str | int, object]], _Trail, int]


class NotJson(Exception):
    """The body is not UTF-8 JSON text (an answer of 400)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class TooDeep(NotJson):
    """The body nests too deep to be decoded at all (refused like any nesting over the limit)."""


def decode(body: bytes) -> object:
    """The JSON value of ``body``; raises ``NotJson`` (or ``TooDeep``), never anything else.

    Integers too long to be in range decode as ±infinity, so ``check`` reports them.
    ``NaN`` and ``Infinity`` decode as floats and ``check`` reports them too, with a path.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotJson(
            Problem("$", f"not valid JSON: the body is not UTF-8 (byte {error.start})")
        ) from None
    try:
        return json.loads(text.removeprefix("\ufeff"), parse_int=_parse_int)
    except RecursionError:
        raise TooDeep(
            Problem("$", f"nesting is deeper than {limits.MAX_DEPTH} levels of arrays and objects")
        ) from None
    except ValueError as error:  # JSONDecodeError: the position, never the text
        raise NotJson(Problem("$", f"not valid JSON: {error}")) from None


def check(document: object, *, max_depth: int = limits.MAX_DEPTH) -> ProblemList:
    """Every problem of nesting, text and numbers in ``document``, in reading order.

    One pass over the whole value with an explicit stack of open containers: safe at any
    depth. A container nested deeper than ``max_depth`` is one problem and is not entered.
    """
    if isinstance(document, dict | list) and _clean(document, max_depth - 1):
        return ProblemList()  # the usual case, found in about half the time
    problems = ProblemList()
    stack: list[_Open] = []
    if not _enter(document, None, 1, max_depth, problems, stack):
        _check_scalar(document, None, problems)
    while stack:
        items, trail, depth = stack[-1]
        for step, value in items:
            if isinstance(value, str):
                if not _good_text(value):
                    _report(problems, (trail, step), _text_fault(value))
            elif _enter(value, (trail, step), depth + 1, max_depth, problems, stack):
                break  # walk the container first, then come back to its siblings
            else:
                _check_scalar(value, (trail, step), problems)
        else:
            stack.pop()
    return problems


def _clean(container: dict[str, object] | list[object], deeper: int) -> bool:
    """True when `check` finds nothing in `container` (an array or object of the decoded
    value), `deeper` the levels of nesting still allowed below it; False at the first
    doubt, for `check`'s own walk to say what. Recursive, at most `deeper` calls deep. The
    decoded value holds only dict, list, str, int, float, bool and None."""
    pairs = container.items() if type(container) is dict else enumerate(container)
    for key, value in pairs:
        if type(key) is str and not _good_text(key):
            return False
        kind = type(value)
        if kind is str:
            if not _good_text(value):  # type: ignore[arg-type]
                return False
        elif kind is dict or kind is list:
            if deeper == 0 or not _clean(value, deeper - 1):  # type: ignore[arg-type]
                return False
        elif kind is float or kind is int:
            if not -_DOUBLE_MAX <= value <= _DOUBLE_MAX:  # type: ignore[operator]
                return False
    return True


def _enter(
    value: object,
    trail: _Trail,
    depth: int,
    max_depth: int,
    problems: ProblemList,
    stack: list[_Open],
) -> bool:
    """Open an array or object on ``stack`` (True); its keys are checked here. A container
    too deep is a problem and is not opened. False for anything that is not a container."""
    if isinstance(value, dict):
        items: Iterator[tuple[str | int, object]] = iter(value.items())
        for key in value:
            if isinstance(key, str) and not _good_text(key):
                _report(problems, (trail, key), f"the key {_text_fault(key)}")
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return False
    if depth > max_depth:
        _report(problems, trail, f"nesting is deeper than {max_depth} levels of arrays and objects")
        return True
    stack.append((items, trail, depth))
    return True


def _check_scalar(value: object, trail: _Trail, problems: ProblemList) -> None:
    if isinstance(value, str):
        if not _good_text(value):
            _report(problems, trail, _text_fault(value))
    elif isinstance(value, float | int) and not isinstance(value, bool):
        if not -_DOUBLE_MAX <= value <= _DOUBLE_MAX:  # NaN compares false
            _report(problems, trail, _number_fault(value))


def _good_text(text: str) -> bool:
    if text.isascii():
        return "\x00" not in text
    return _BAD_TEXT.search(text) is None


def _report(problems: ProblemList, trail: _Trail, message: str) -> None:
    if problems.full:
        problems.unlisted += 1  # counted only: no path to build
    else:
        problems.add(json_path(trail), message)


def json_path(trail: _Trail) -> str:
    """``$.entry[3].resource.name[0].family``; an unusual key as ``['…']`` in ASCII."""
    steps: list[str] = []
    while trail is not None:
        trail, step = trail
        if isinstance(step, int):
            steps.append(f"[{step}]")
        elif _PLAIN_KEY.fullmatch(step):
            steps.append(f".{step}")
        else:
            shown = step if len(step) <= _SHOWN_KEY else f"{step[:_SHOWN_KEY]}…"
            steps.append(f"[{shown!a}]")
    return "$" + "".join(reversed(steps))


def _parse_int(literal: str) -> int | float:
    if len(literal) <= _INT_DIGITS_MAX:
        return int(literal)
    return -math.inf if literal.startswith("-") else math.inf


def _text_fault(text: str) -> str:
    if "\x00" in text:
        return "contains NUL (U+0000), which text may not"
    return "contains a lone surrogate (U+D800..U+DFFF): not valid Unicode"


def _number_fault(number: float) -> str:
    if isinstance(number, float) and math.isnan(number):
        return "NaN is not a JSON number"
    return "number out of range: JSON numbers here must be finite, at most ±1.8e308"
