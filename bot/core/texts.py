"""Numbers and limits in Swedish sentences."""

from __future__ import annotations

__all__ = ["grouped", "too_long"]


def grouped(number: int) -> str:
    """`number` with Swedish digit grouping: 100 000."""
    return f"{number:,}".replace(",", " ")


def too_long(what: str, *, length: int, limit: int) -> str:
    """The refusal of a text over its limit, e.g. "Anteckningen är 100 000 tecken; högst
    1 000 får plats."."""
    return f"{what} är {grouped(length)} tecken; högst {grouped(limit)} får plats."
