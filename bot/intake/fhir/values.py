"""FHIR primitive values as the parser reads them: dates, date-times, instants, base64.

Each function returns None for text that is not a valid value of its type; none raises.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["DATE", "DATE_TIME", "is_base64", "make_date", "parse_date_time", "parse_instant"]

DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
"""A FHIR date: a year, a year and month, or a full date."""
DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2}))?"
)
"""A full date, optionally with a time to the second and a time zone."""


def make_date(year: int, month: int, day: int) -> date | None:
    """The date, or None when there is no such day."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date_time(match: re.Match[str]) -> date | None:
    """The calendar date as written in a FHIR date or dateTime (full date required)."""
    if match[4] is not None and _time_zone(match) is None:
        return None
    if match[4] is not None and not (
        int(match[4]) <= 23 and int(match[5]) <= 59 and int(match[6]) <= 59
    ):
        return None
    return make_date(int(match[1]), int(match[2]), int(match[3]))


def parse_instant(text: str) -> datetime | None:
    """A FHIR instant (date, time to the second, time zone) as an aware datetime."""
    match = DATE_TIME.fullmatch(text)
    if match is None or match[4] is None:
        return None
    zone = _time_zone(match)
    day = make_date(int(match[1]), int(match[2]), int(match[3]))
    hour, minute, second = int(match[4]), int(match[5]), int(match[6])
    if zone is None or day is None or hour > 23 or minute > 59 or second > 59:
        return None
    micro = int((match[7] or "0")[:6].ljust(6, "0"))
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=zone)


def _time_zone(match: re.Match[str]) -> timezone | None:
    text = match[8]
    if text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59 or (hours == 14 and minutes != 0):
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def is_base64(text: str) -> bool:
    """Whether `text` is valid base64 (the alphabet and padding, nothing else)."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
