"""Swedish personal identity numbers (personnummer and samordningsnummer).

A number is accepted in one of these input forms and always returned as 12 digits
``YYYYMMDDNNNC``:

- ``YYYYMMDDNNNC`` and ``YYYYMMDD-NNNC``;
- ``YYMMDD-NNNC`` (the person turns 100 after the current year) and ``YYMMDD+NNNC``
  (from the year of the 100th birthday on), as Skatteverket writes them.

The check digit ``C`` is the Luhn digit over ``YYMMDDNNN``. A samordningsnummer
(coordination number) carries the day of birth plus 60.

Error messages never repeat the number itself, so they are safe to log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = [
    "PERSONNUMMER_SYSTEMS",
    "SAMORDNINGSNUMMER_SYSTEMS",
    "IdentifierError",
    "IdentityKind",
    "PersonalIdentity",
    "format_personal_number",
    "kind_for_system",
    "luhn_check_digit",
    "parse_personal_number",
]

IdentityKind = Literal["personnummer", "samordningsnummer"]

PERSONNUMMER_SYSTEMS: frozenset[str] = frozenset(
    {
        "http://electronichealth.se/identifier/personnummer",
        "urn:oid:1.2.752.129.2.1.3.1",
    }
)
SAMORDNINGSNUMMER_SYSTEMS: frozenset[str] = frozenset(
    {
        "http://electronichealth.se/identifier/samordningsnummer",
        "urn:oid:1.2.752.129.2.1.3.3",
    }
)

_SAMORDNING_DAY_OFFSET = 60
_DIGITS = frozenset("0123456789")

_TWELVE = re.compile(r"([0-9]{8})-?([0-9]{4})")
_TEN = re.compile(r"([0-9]{6})([-+])([0-9]{4})")


class IdentifierError(ValueError):
    """A personal identity number that is malformed or not valid."""


@dataclass(frozen=True)
class PersonalIdentity:
    """A validated personal identity number.

    ``number`` is always 12 digits (``YYYYMMDDNNNC``); ``birth_date`` is the real date
    of birth (for a samordningsnummer the day minus 60).
    """

    number: str
    kind: IdentityKind
    birth_date: date


def kind_for_system(system: str) -> IdentityKind | None:
    """Return the identity kind for a FHIR identifier system, or None if it is neither."""
    if system in PERSONNUMMER_SYSTEMS:
        return "personnummer"
    if system in SAMORDNINGSNUMMER_SYSTEMS:
        return "samordningsnummer"
    return None


def format_personal_number(number12: str) -> str:
    """Format a 12-digit number as ``YYYYMMDD-NNNC``; raise IdentifierError otherwise."""
    if len(number12) != 12 or any(ch not in _DIGITS for ch in number12):
        raise IdentifierError("a personal identity number must be 12 digits to be formatted")
    return f"{number12[:8]}-{number12[8:]}"


def parse_personal_number(value: str, *, kind: IdentityKind, today: date) -> PersonalIdentity:
    """Validate ``value`` as a ``kind`` number and return it in 12-digit form.

    Surrounding whitespace is ignored. Raises IdentifierError for a wrong length or
    layout, non-digits, an impossible date (for a samordningsnummer: a day that is not
    61..91 or whose day - 60 is not a date; for a personnummer: a day above 60), a
    wrong check digit, or a birth date after ``today``. For the 10-digit forms the
    century is chosen from ``today``: with ``-`` the person turns 100 after
    ``today.year``, with ``+`` in ``today.year`` or earlier.
    """
    if kind not in ("personnummer", "samordningsnummer"):
        raise ValueError(f"unknown identity kind {kind!r}")
    if not isinstance(value, str):
        raise IdentifierError(f"a {kind} must be a string")
    text = value.strip()
    if not text:
        raise IdentifierError(f"the {kind} is empty")

    year: int
    month_day_serial: str
    if (m := _TWELVE.fullmatch(text)) is not None:
        year = int(m[1][:4])
        month_day_serial = m[1][4:] + m[2]
    elif (m := _TEN.fullmatch(text)) is not None:
        two_digit_year = int(m[1][:2])
        year = _century_year(two_digit_year, hundred_or_older=m[2] == "+", today=today)
        month_day_serial = m[1][2:] + m[3]
    else:
        digits = sum(ch in _DIGITS for ch in text)
        if any(ch not in _DIGITS and ch not in "-+" for ch in text):
            raise IdentifierError(
                f"the {kind} contains characters other than digits and a '-' or '+' separator"
            )
        raise IdentifierError(
            f"the {kind} has {digits} digits in an unknown layout; expected YYYYMMDDNNNC, "
            "YYYYMMDD-NNNC, YYMMDD-NNNC or YYMMDD+NNNC"
        )

    month = int(month_day_serial[0:2])
    day = int(month_day_serial[2:4])
    real_day = _real_day(day, kind=kind)
    try:
        birth_date = date(year, month, real_day)
    except ValueError:
        raise IdentifierError(f"the {kind} does not contain a valid date of birth") from None
    if birth_date > today:
        raise IdentifierError(f"the {kind} has a date of birth in the future")

    number = f"{year:04d}{month_day_serial}"
    expected = luhn_check_digit(number[2:11])
    if int(number[11]) != expected:
        raise IdentifierError(f"the {kind} has an invalid check digit")
    return PersonalIdentity(number=number, kind=kind, birth_date=birth_date)


def luhn_check_digit(nine_digits: str) -> int:
    """Return the Luhn check digit for ``YYMMDDNNN`` (weights 2, 1, 2, ...)."""
    total = 0
    for index, ch in enumerate(nine_digits):
        product = int(ch) * (2 if index % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def _real_day(day: int, *, kind: IdentityKind) -> int:
    if kind == "samordningsnummer":
        if day <= _SAMORDNING_DAY_OFFSET:
            raise IdentifierError(
                "a samordningsnummer must have the day of birth plus 60 (day 61-91)"
            )
        return day - _SAMORDNING_DAY_OFFSET
    if day > _SAMORDNING_DAY_OFFSET:
        raise IdentifierError(
            "a personnummer cannot have a day above 60 (that is a samordningsnummer)"
        )
    return day


def _century_year(two_digit_year: int, *, hundred_or_older: bool, today: date) -> int:
    """Full year for a 10-digit number: the person turns 100 in ``today.year`` or earlier
    with ``+``, later with ``-``."""
    # The latest year ending in these two digits that is not after today's year:
    # the person turns 100 after today's year (0..99 years between).
    latest = today.year - (today.year - two_digit_year) % 100
    return latest - 100 if hundred_or_older else latest
