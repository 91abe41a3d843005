"""Dates are YYYY-MM-DD and times HH:MM (Europe/Stockholm) on every card (SPEC section 7):
the formatters, and every text a person reads on every card variant."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from bot.messaging.format import fmt_date, fmt_time
from cards.render import render
from tests.cards.cardtools import odd_dates, shown_texts
from tests.cards.test_inputs import ALL


def _plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).replace("\u200d", "")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("2026-12-04 08:00", []),
        ("Senast 2026-11-26 · Margareta Lindqvist, 19520314-2384 · T −2,9", []),
        ("2026-12-04T08:00:00+00:00", ["ISO timestamp", "seconds", "UTC offset"]),
        ("2026-12-04 08:00:13", ["seconds"]),
        ("08:00 UTC", ["UTC offset"]),
        ("8:05", ["hour without leading zero"]),
        ("2026-1-04", ["month or day without leading zero"]),
        ("4/12 2026", ["date with slashes"]),
        ("4.12.2026", ["date with dots"]),
        ("4 dec 2026", ["month name"]),
    ],
)
def test_odd_dates_finds_what_it_names(text: str, found: list[str]) -> None:
    assert odd_dates(text) == found


def test_fmt_time_is_stockholm_minutes() -> None:
    assert fmt_time(datetime(2026, 12, 4, 7, 5, 59, 999, tzinfo=UTC)) == "2026-12-04 08:05"
    assert fmt_time(datetime(2026, 7, 1, 22, 30, tzinfo=UTC)) == "2026-07-02 00:30"
    assert fmt_time(None) is None
    assert fmt_date(date(2026, 3, 9)) == "2026-03-09"


@pytest.mark.parametrize("variant", sorted(ALL))
def test_cards_show_dates_and_times_one_way(variant: str) -> None:
    template, make = ALL[variant]
    texts = [_plain(text) for text in shown_texts(render(template, **make()))]
    assert texts
    assert {text: odd_dates(text) for text in texts if odd_dates(text)} == {}
