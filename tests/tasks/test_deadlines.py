from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.core.calendar import (
    STOCKHOLM,
    add_months,
    add_working_days,
    holidays_in,
    is_working_day,
    local_date,
    working_days_between,
)

# -- local_date -----------------------------------------------------------------------


def test_stockholm_zone():
    assert str(STOCKHOLM) == "Europe/Stockholm"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2026, 11, 12, 22, 59, tzinfo=UTC), date(2026, 11, 12)),
        (datetime(2026, 11, 12, 23, 0, tzinfo=UTC), date(2026, 11, 13)),
        (datetime(2027, 6, 30, 21, 59, tzinfo=UTC), date(2027, 6, 30)),
        (datetime(2027, 6, 30, 22, 0, tzinfo=UTC), date(2027, 7, 1)),
        (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), date(2027, 3, 28)),
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2027, 1, 1)),
        (datetime(2026, 11, 12, 18, 0, tzinfo=timezone(timedelta(hours=-5))), date(2026, 11, 13)),
        (datetime(2026, 11, 13, 0, 30, tzinfo=STOCKHOLM), date(2026, 11, 13)),
    ],
)
def test_local_date(at, expected):
    assert local_date(at) == expected


def test_local_date_rejects_naive():
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(datetime(2026, 11, 12, 12, 0))


# -- holidays -------------------------------------------------------------------------


def test_holidays_2027():
    assert sorted(holidays_in(2027)) == [
        date(2027, 1, 1),  # nyårsdagen
        date(2027, 1, 6),  # trettondedag jul
        date(2027, 3, 26),  # långfredagen
        date(2027, 3, 28),  # påskdagen
        date(2027, 3, 29),  # annandag påsk
        date(2027, 5, 1),  # första maj
        date(2027, 5, 6),  # Kristi himmelsfärdsdag
        date(2027, 5, 16),  # pingstdagen
        date(2027, 6, 6),  # nationaldagen
        date(2027, 6, 25),  # midsommarafton
        date(2027, 6, 26),  # midsommardagen
        date(2027, 11, 6),  # alla helgons dag
        date(2027, 12, 24),  # julafton
        date(2027, 12, 25),  # juldagen
        date(2027, 12, 26),  # annandag jul
        date(2027, 12, 31),  # nyårsafton
    ]


def test_holidays_are_cached_per_year():
    assert holidays_in(2031) is holidays_in(2031)


def test_sundays_are_not_listed_as_holidays():
    assert date(2027, 1, 3) not in holidays_in(2027)


# -- is_working_day ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        # weekends
        (date(2026, 11, 13), True),  # Friday
        (date(2026, 11, 14), False),  # Saturday
        (date(2026, 11, 15), False),  # Sunday
        (date(2026, 11, 16), True),  # Monday
        # Easter 2027
        (date(2027, 3, 24), True),  # Wednesday
        (date(2027, 3, 25), True),  # skärtorsdagen is a working day
        (date(2027, 3, 26), False),  # långfredagen
        (date(2027, 3, 29), False),  # annandag påsk
        (date(2027, 3, 30), True),
        # Ascension Day and Whitsun 2027
        (date(2027, 5, 6), False),  # Kristi himmelsfärdsdag (Thursday)
        (date(2027, 5, 7), True),  # the Friday after is a working day
        (date(2027, 5, 17), True),  # annandag pingst is no holiday since 2005
        # May Day
        (date(2026, 5, 1), False),  # Friday
        # National Day
        (date(2025, 6, 6), False),  # Friday
        (date(2028, 6, 6), False),  # Tuesday
        (date(2028, 6, 5), True),
        # Midsommar 2027
        (date(2027, 6, 24), True),  # Thursday
        (date(2027, 6, 25), False),  # midsommarafton
        (date(2027, 6, 28), True),
        # Christmas and New Year 2026-2027
        (date(2026, 12, 23), True),
        (date(2026, 12, 24), False),  # julafton (Thursday)
        (date(2026, 12, 25), False),  # juldagen
        (date(2026, 12, 28), True),
        (date(2026, 12, 31), False),  # nyårsafton (Thursday)
        (date(2027, 1, 1), False),  # nyårsdagen
        (date(2027, 1, 4), True),
        (date(2027, 1, 6), False),  # trettondedag jul (Wednesday)
        (date(2027, 1, 7), True),
        # Christmas 2027
        (date(2027, 12, 24), False),  # julafton (Friday)
        (date(2027, 12, 27), True),
        (date(2027, 12, 31), False),  # nyårsafton (Friday)
    ],
)
def test_is_working_day(day, working):
    assert is_working_day(day) is working


def test_is_working_day_rejects_datetime():
    with pytest.raises(TypeError):
        is_working_day(datetime(2026, 11, 13, 12, 0))


# -- add_working_days ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # n = 0 leaves the start unchanged, even on a holiday or weekend
        (date(2026, 11, 12), 0, date(2026, 11, 12)),
        (date(2026, 11, 14), 0, date(2026, 11, 14)),
        (date(2026, 12, 25), 0, date(2026, 12, 25)),
        # weekends
        (date(2026, 11, 12), 1, date(2026, 11, 13)),  # Thursday -> Friday
        (date(2026, 11, 12), 3, date(2026, 11, 17)),  # Thursday -> Tuesday
        (date(2026, 11, 13), 1, date(2026, 11, 16)),  # Friday -> Monday
        (date(2026, 11, 14), 1, date(2026, 11, 16)),  # Saturday -> Monday
        (date(2026, 11, 15), 1, date(2026, 11, 16)),  # Sunday -> Monday
        (date(2026, 11, 13), 5, date(2026, 11, 20)),
        # Easter 2027
        (date(2027, 3, 24), 1, date(2027, 3, 25)),
        (date(2027, 3, 24), 3, date(2027, 3, 31)),
        (date(2027, 3, 25), 1, date(2027, 3, 30)),
        (date(2027, 3, 26), 1, date(2027, 3, 30)),
        # Ascension Day 2027
        (date(2027, 5, 5), 1, date(2027, 5, 7)),
        (date(2027, 5, 4), 3, date(2027, 5, 10)),
        # National Day
        (date(2028, 6, 5), 1, date(2028, 6, 7)),
        (date(2025, 6, 5), 1, date(2025, 6, 9)),
        # Midsommar 2027
        (date(2027, 6, 24), 1, date(2027, 6, 28)),
        (date(2027, 6, 23), 3, date(2027, 6, 29)),
        # Christmas and New Year 2026-2027
        (date(2026, 12, 23), 1, date(2026, 12, 28)),
        (date(2026, 12, 23), 3, date(2026, 12, 30)),
        (date(2026, 12, 23), 4, date(2027, 1, 4)),
        (date(2026, 12, 30), 1, date(2027, 1, 4)),
        (date(2027, 1, 5), 1, date(2027, 1, 7)),
        (date(2026, 12, 22), 10, date(2027, 1, 12)),
    ],
)
def test_add_working_days(start, n, expected):
    assert add_working_days(start, n) == expected


def test_add_working_days_rejects_negative():
    with pytest.raises(ValueError, match="0 or more"):
        add_working_days(date(2026, 11, 12), -1)


# -- add_months -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 11, 12), 0, date(2026, 11, 12)),
        (date(2026, 11, 12), 2, date(2027, 1, 12)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2027, 12, 31), 2, date(2028, 2, 29)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 8, 31), 1, date(2026, 9, 30)),
        (date(2026, 10, 31), 2, date(2026, 12, 31)),
        (date(2026, 1, 15), 12, date(2027, 1, 15)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2027, 3, 31), -1, date(2027, 2, 28)),
        (date(2027, 1, 15), -2, date(2026, 11, 15)),
        (date(2026, 12, 25), 2, date(2027, 2, 25)),  # a holiday plus months is not moved
    ],
)
def test_add_months(start, n, expected):
    assert add_months(start, n) == expected


# -- working_days_between ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 11, 12), date(2026, 11, 12), 0),
        (date(2026, 11, 12), date(2026, 11, 10), 0),
        (date(2026, 11, 12), date(2026, 11, 13), 1),
        (date(2026, 11, 13), date(2026, 11, 16), 1),  # Friday -> Monday
        (date(2026, 11, 13), date(2026, 11, 15), 0),  # only the weekend
        (date(2026, 11, 9), date(2026, 11, 16), 5),
        (date(2027, 3, 24), date(2027, 3, 31), 3),  # Easter
        (date(2027, 5, 3), date(2027, 5, 9), 3),  # Ascension Day week
        (date(2027, 6, 21), date(2027, 6, 27), 3),  # Midsommar week
        (date(2026, 12, 23), date(2027, 1, 8), 7),  # Christmas and New Year
        (date(2026, 12, 31), date(2027, 12, 31), 253),  # 261 weekdays - 8 holidays
    ],
)
def test_working_days_between(start, end, expected):
    assert working_days_between(start, end) == expected


@pytest.mark.parametrize("n", [0, 1, 3, 4, 10, 40])
def test_working_days_between_inverts_add_working_days(n):
    start = date(2026, 12, 18)
    assert working_days_between(start, add_working_days(start, n)) == n
