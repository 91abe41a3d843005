"""Pacing windows: literal schedules against Teams' published limits."""

from __future__ import annotations

import bisect
import random
from itertools import pairwise

from bot.outbox.pacing import Pacer, SlidingWindows


def test_seven_a_second_then_wait() -> None:
    window = SlidingWindows(((7, 1.0),))
    for i in range(7):
        assert window.wait_time(10.0 + i * 0.01) == 0.0
        window.record(10.0 + i * 0.01)
    assert round(window.wait_time(10.07), 3) == 0.93


def test_sixty_in_thirty_seconds() -> None:
    window = SlidingWindows(((7, 1.0), (60, 30.0)))
    now = 0.0
    for _ in range(60):
        now += window.wait_time(now)
        window.record(now)
    # 60 sends at 7 a second took a little over 8 s; the 61st waits for the first to age out
    assert round(window.wait_time(now), 2) == round(30.0 - now, 2)


def test_pacer_is_per_conversation_but_app_wide_at_fifty() -> None:
    pacer = Pacer(margin=0.0, spread=0.0)  # windows only, no even spacing
    for i in range(50):
        key = f"c{i % 10}"
        assert pacer.wait_time(key, 5.0) == 0.0
        pacer.record(key, 5.0)
    assert pacer.wait_time("new", 5.0) == 1.0  # the app-wide window is full
    assert pacer.wait_time("new", 6.0) == 0.0


def test_penalise_holds_a_conversation_back() -> None:
    pacer = Pacer(margin=0.0)
    pacer.penalise("c", 100.0, 3.0)
    assert pacer.wait_time("c", 100.0) == 3.0
    assert pacer.wait_time("other", 100.0) == 0.0


def test_sends_are_spread_evenly_under_the_app_rate() -> None:
    pacer = Pacer(margin=0.0)
    now, times = 0.0, []
    for i in range(200):
        key = f"c{i % 40}"
        now += pacer.wait_time(key, now)
        pacer.record(key, now)
        times.append(now)
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= 1 / 49.5 - 1e-9  # 50/s at most, never in a burst
    assert round(times[-1], 2) == round(199 / 49.5, 2)  # and no slower than that
    assert max(sum(1 for t in times if s <= t < s + 1) for s in times) <= 50


def test_late_wake_ups_do_not_slow_the_even_spacing() -> None:
    # Each send happens 1 ms after the moment the pacer allowed (a timer firing late):
    # the schedule keeps its rate, and the windows still hold.
    pacer = Pacer(margin=0.0)
    now, times = 0.0, []
    for i in range(500):
        key = f"c{i % 40}"
        wait = pacer.wait_time(key, now)
        if wait > 0:
            now += wait + 0.001
        assert pacer.wait_time(key, now) == 0.0
        pacer.record(key, now)
        times.append(now)
    assert times[-1] <= 499 / 49.5 + 0.002  # not 499 * (1/49.5 + 0.001)
    assert max(sum(1 for t in times if s <= t < s + 1) for s in times) <= 50


def test_after_a_pause_the_schedule_starts_from_now() -> None:
    pacer = Pacer(margin=0.0)
    pacer.record("a", 0.0)
    assert pacer.wait_time("b", 10.0) == 0.0  # long idle: no wait
    pacer.record("b", 10.0)
    assert round(pacer.wait_time("c", 10.0), 6) == round(1 / 49.5, 6)  # no catching up


def test_fifty_a_second_hold_where_teams_counts_them_after_a_network_delay() -> None:
    # Sends arrive 0-15 ms after the pacer allowed them (and timers fire up to 2 ms late):
    # Teams, counting arrivals, still never sees more than 50 in a second.
    rng = random.Random(7)
    pacer = Pacer()
    now, arrivals = 0.0, []
    for i in range(1000):
        key = f"c{i % 40}"
        wait = pacer.wait_time(key, now)
        if wait > 0:
            now += wait + rng.uniform(0, 0.002)
        pacer.record(key, now)
        arrivals.append(now + rng.uniform(0, 0.015))
    arrivals.sort()
    assert max(bisect.bisect_left(arrivals, t + 1.0) - k for k, t in enumerate(arrivals)) <= 50
    assert arrivals[-1] < 999 / 48.8  # and still within 2.5 % of the rate allowed


def _send_times(pacer: Pacer, start: float, count: int) -> list[float]:
    """When `count` sends to conversations of their own go, each as early as allowed."""
    now, times = start, []
    for i in range(count):
        now += pacer.wait_time(f"c{i}", now)
        pacer.record(f"c{i}", now)
        times.append(now)
    return times


def test_giving_way_sends_five_a_second_then_the_even_rate_again() -> None:
    pacer = Pacer()
    before = _send_times(pacer, 0.0, 10)
    assert all(round(b - a, 4) == round(1 / (50 * 0.99), 4) for a, b in pairwise(before))
    pacer.give_way(True, before[-1])
    busy = _send_times(pacer, before[-1], 10)
    assert busy[0] == before[-1] + 0.2  # one give-way spacing after the last send
    assert all(round(b - a, 6) == 0.2 for a, b in pairwise(busy))
    pacer.give_way(False, busy[-1] + 0.05)  # calm again: one even spacing after the last
    calm = _send_times(pacer, busy[-1] + 0.05, 10)
    assert calm[0] == busy[-1] + 0.05
    assert all(round(b - a, 4) == round(1 / (50 * 0.99), 4) for a, b in pairwise(calm))


def test_giving_way_keeps_the_conversation_windows() -> None:
    pacer = Pacer(margin=0.0)
    pacer.give_way(True, 0.0)
    now = 0.0
    for _ in range(7):
        now += pacer.wait_time("c", now)
        pacer.record("c", now)
    assert round(now, 6) == 1.2  # 0.2 apart (the first at once), within 7 a second
    pacer.penalise("c", now, 5.0)  # a 429's Retry-After is longer than the spacing
    assert pacer.wait_time("c", now) == 5.0
