"""Typed access to the JSON of a bundle: every read checks the type of what it reads and
records a problem, by JSON path, for what is wrong.

A `Reader` never raises for any JSON value; a read that fails returns None (or skips the
item) after recording its problem. Paths that `bot.intake.jsontext.check` already
reported get no second problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.intake.problems import ProblemList

__all__ = ["CONTROL", "Json", "Reader", "describe", "json_type"]

Json = dict[str, object]

# FHIR strings: no characters below U+0020 except tab, line feed and carriage return
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def json_type(value: object) -> str:
    """The JSON type of a decoded value, as a problem names it ("string", "null", …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def describe(value: object) -> str:
    """A value as a problem may quote it: a string cut to 40 characters, else its type."""
    if isinstance(value, str):
        return repr(value[:40])
    if value is None:
        return "nothing"
    return json_type(value)


class Reader:
    """Reads typed values from JSON objects, recording the problems in `problems`.

    `problems` comes from `jsontext.check`, whose paths are not reported again.
    """

    def __init__(self, problems: ProblemList) -> None:
        self.problems = problems
        self.walked = frozenset(p.path for p in problems)

    def problem(self, path: str, message: str) -> None:
        """Record a problem at `path`, unless the JSON check already reported it."""
        if path not in self.walked:
            self.problems.add(path, message)

    def bounded(self, text: str, path: str, max_length: int) -> None:
        """A problem when ``text`` is longer than the contract keeps (the text is not quoted)."""
        if len(text) > max_length:
            self.problem(path, f"is {len(text)} characters long; at most {max_length} are accepted")

    def string(
        self,
        obj: Json,
        key: str,
        path: str,
        *,
        required: bool = False,
        max_length: int | None = None,
    ) -> str | None:
        """``obj[key]`` when it is a non-empty string without control characters. Over
        ``max_length`` it is a problem, but the string is still returned (no second problem
        follows from its absence)."""
        p = f"{path}.{key}"
        if key not in obj:
            if required:
                self.problem(p, "required string is missing")
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.problem(p, f"expected a string, got {json_type(value)}")
            return None
        if not value.strip():
            self.problem(p, "must not be empty")
            return None
        if CONTROL.search(value):
            self.problem(p, "contains control characters, which FHIR strings may not")
            return None
        if max_length is not None:
            self.bounded(value, p, max_length)
        return value

    def obj(self, obj: Json, key: str, path: str, *, required: bool = False) -> Json | None:
        """``obj[key]`` when it is an object."""
        p = f"{path}.{key}"
        if key not in obj:
            if required:
                self.problem(p, "required object is missing")
            return None
        value = obj[key]
        if not isinstance(value, dict):
            self.problem(p, f"expected an object, got {json_type(value)}")
            return None
        return value

    def array(
        self, obj: Json, key: str, path: str, *, required: bool = False
    ) -> list[object] | None:
        """``obj[key]`` when it is an array (of anything)."""
        p = f"{path}.{key}"
        if key not in obj:
            if required:
                self.problem(p, "required array is missing")
            return None
        value = obj[key]
        if not isinstance(value, list):
            self.problem(p, f"expected an array, got {json_type(value)}")
            return None
        return value

    def objects(self, obj: Json, key: str, path: str) -> Iterator[tuple[str, Json]]:
        """Yield (path, item) for each object in the array ``obj[key]`` (if present)."""
        items = self.array(obj, key, path)
        if items is None:
            return
        for index, item in enumerate(items):
            item_path = f"{path}.{key}[{index}]"
            if isinstance(item, dict):
                yield item_path, item
            else:
                self.problem(item_path, f"expected an object, got {json_type(item)}")

    def strings(self, obj: Json, key: str, path: str) -> list[str]:
        """The strings of the array ``obj[key]`` (if present); other items are problems."""
        items = self.array(obj, key, path)
        result: list[str] = []
        for index, item in enumerate(items or ()):
            if isinstance(item, str) and CONTROL.search(item):
                self.problem(
                    f"{path}.{key}[{index}]",
                    "contains control characters, which FHIR strings may not",
                )
            elif isinstance(item, str):
                result.append(item)
            else:
                self.problem(f"{path}.{key}[{index}]", f"expected a string, got {json_type(item)}")
        return result

    def codings(
        self, concept: Json, path: str
    ) -> Iterator[tuple[str, Json, str | None, str | None]]:
        """Yield (path, coding, system, code) for each Coding of a CodeableConcept."""
        for coding_path, coding in self.objects(concept, "coding", path):
            system = self.string(coding, "system", coding_path)
            code = self.string(coding, "code", coding_path)
            yield coding_path, coding, system, code
