"""Due dates in Europe/Stockholm: working days and calendar months (SPEC section 2.2).

A working day is Monday to Friday and not a Swedish public holiday, nor one of the
eves a Swedish care centre keeps closed like a holiday (midsommarafton, julafton,
nyårsafton): the ``public`` and ``de_facto`` categories of ``holidays.Sweden``.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.core.swedish_holidays import from_table

__all__ = [
    "STOCKHOLM",
    "add_months",
    "add_working_days",
    "holidays_in",
    "is_working_day",
    "local_date",
    "working_days_between",
]

STOCKHOLM = ZoneInfo("Europe/Stockholm")

_ONE_DAY = timedelta(days=1)


def local_date(at: datetime) -> date:
    """The calendar date of ``at`` in Europe/Stockholm; ``at`` must be timezone-aware
    (ValueError otherwise)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("local_date needs a timezone-aware datetime")
    return at.astimezone(STOCKHOLM).date()


@lru_cache(maxsize=64)
def holidays_in(year: int) -> frozenset[date]:
    """Swedish public holidays and holiday eves of ``year`` (cached per year): from the
    table of `bot.core.swedish_holidays`, else (a year outside it) from `holidays`."""
    known = from_table(year)
    if known is not None:
        return known
    from holidays.constants import DE_FACTO, PUBLIC  # 12 MB: only when needed
    from holidays.countries.sweden import Sweden

    calendar_year = Sweden(years=year, categories=(PUBLIC, DE_FACTO), include_sundays=False)
    return frozenset(calendar_year.keys())


def is_working_day(d: date) -> bool:
    """True for Monday to Friday unless a Swedish public holiday or holiday eve.

    ``d`` must be a date, not a datetime (TypeError otherwise).
    """
    if isinstance(d, datetime):
        raise TypeError("is_working_day takes a date, not a datetime")
    return d.weekday() < 5 and d not in holidays_in(d.year)


def add_working_days(start: date, n: int) -> date:
    """The ``n``-th working day after ``start``; ``start`` itself when ``n`` is 0
    (even if it is not a working day). ``n`` must not be negative (ValueError)."""
    if n < 0:
        raise ValueError("n must be 0 or more")
    day = start
    remaining = n
    while remaining:
        day += _ONE_DAY
        if is_working_day(day):
            remaining -= 1
    return day


def add_months(start: date, n: int) -> date:
    """``start`` moved by ``n`` calendar months (may be negative), with the day clamped
    to the end of the target month (2026-12-31 + 2 months = 2027-02-28)."""
    months = start.year * 12 + (start.month - 1) + n
    year, month_index = divmod(months, 12)
    month = month_index + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def working_days_between(start: date, end: date) -> int:
    """The number of working days after ``start`` up to and including ``end``
    (0 when ``end`` is not after ``start``)."""
    count = 0
    day = start + _ONE_DAY
    while day <= end:
        if is_working_day(day):
            count += 1
        day += _ONE_DAY
    return count
