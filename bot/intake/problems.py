"""What is wrong with an intake message: problems by JSON path, in reading order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["LISTED_MAX", "Problem", "ProblemList"]

LISTED_MAX = 1000
"""Problems listed in one answer; any further ones are counted in a last, summary problem."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle: where (a JSON path from ``$``) and what."""

    path: str
    message: str


class ProblemList:
    """Problems in reading order: the first ``limit`` are kept, the rest only counted, so a
    hostile body of a million bad elements costs a counter, not a million objects."""

    def __init__(self, limit: int = LISTED_MAX) -> None:
        self._kept: list[Problem] = []
        self._limit = limit
        self.unlisted = 0

    @property
    def full(self) -> bool:
        """True when a further problem will only be counted (its path need not be built)."""
        return len(self._kept) >= self._limit

    def add(self, path: str, message: str) -> None:
        if self.full:
            self.unlisted += 1
        else:
            self._kept.append(Problem(path, message))

    def __bool__(self) -> bool:
        return bool(self._kept)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._kept)

    def listed(self) -> list[Problem]:
        """The kept problems, and one more at ``$`` saying how many were left out."""
        if not self.unlisted:
            return list(self._kept)
        return [*self._kept, Problem("$", f"{self.unlisted} more problems not listed")]
