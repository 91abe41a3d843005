"""The table of Swedish holidays (`bot.core.swedish_holidays`) the server reads in place
of the `holidays` package: the same dates as the package, year by year, and the package
stays out of the server's memory."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from holidays.constants import DE_FACTO, PUBLIC
from holidays.countries.sweden import Sweden

from bot.core import calendar
from bot.core.swedish_holidays import FIRST_YEAR, LAST_YEAR, _lines, from_table


def test_the_table_is_the_packages_dates_for_every_year() -> None:
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        expected = Sweden(years=year, categories=(PUBLIC, DE_FACTO), include_sundays=False)
        assert from_table(year) == frozenset(expected), (
            f"{year}: the holidays package differs from bot/core/swedish_holidays.py;"
            " print its lines anew with: python -m bot.core.swedish_holidays"
        )


def test_the_table_spans_the_years_cases_live_in() -> None:
    assert FIRST_YEAR <= 2000 and LAST_YEAR >= 2090
    assert len(_lines(2026, 2026)) == 1
    assert from_table(FIRST_YEAR - 1) is None and from_table(LAST_YEAR + 1) is None


def test_outside_the_table_the_package_answers() -> None:
    calendar.holidays_in.cache_clear()
    for year in (FIRST_YEAR - 1, LAST_YEAR + 1, 2026):
        expected = Sweden(years=year, categories=(PUBLIC, DE_FACTO), include_sundays=False)
        assert calendar.holidays_in(year) == frozenset(expected)
    assert date(2026, 6, 19) in calendar.holidays_in(2026)  # midsommarafton, a de-facto one


def test_the_server_does_not_import_the_holidays_package() -> None:
    code = (
        "import sys, datetime; import bot.app, bot.core.calendar as c;"
        " assert not c.is_working_day(datetime.date(2026, 12, 24));"
        " print(sorted(m for m in sys.modules if m.split('.')[0] == 'holidays'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
