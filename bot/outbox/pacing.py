"""Pacing under Teams' published limits, per conversation and per app.

Teams allows a bot, per conversation, 7 sends a second, 60 in 30 seconds and 1,800 an
hour, and per app and tenant 50 requests a second. `Pacer.wait_time` says how long to wait
before the next send to a conversation so that no window is exceeded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

CONVERSATION_WINDOWS: tuple[tuple[int, float], ...] = ((7, 1.0), (60, 30.0), (1800, 3600.0))
APP_WINDOWS: tuple[tuple[int, float], ...] = ((50, 1.0),)
GIVE_WAY_SPACING = 0.2
"""Seconds between two sends app-wide while the worker gives way (`Pacer.give_way`): 5 a
second, so that no card waits without bound while `serve` is busy."""


@dataclass
class SlidingWindows:
    """Send times of one key, checked against several (count, seconds) windows."""

    windows: tuple[tuple[int, float], ...]
    times: deque[float] = field(default_factory=deque)

    def wait_time(self, now: float) -> float:
        longest = max(seconds for _, seconds in self.windows)
        while self.times and self.times[0] <= now - longest:
            self.times.popleft()
        wait = 0.0
        for count, seconds in self.windows:
            if len(self.times) >= count:
                # the send `count` places back must have left this window
                wait = max(wait, self.times[-count] + seconds - now)
        return max(wait, 0.0)

    def record(self, now: float) -> None:
        self.times.append(now)


class Pacer:
    """How long to wait before sending to a conversation; record each send."""

    def __init__(
        self,
        conversation_windows: tuple[tuple[int, float], ...] = CONVERSATION_WINDOWS,
        app_windows: tuple[tuple[int, float], ...] = APP_WINDOWS,
        margin: float = 0.02,
        spread: float = 0.99,
    ) -> None:
        """`spread` evens out the app-wide rate: sends at least 1/(rate·spread) apart, so a
        full window is never sent in one burst (bursts at window edges draw 429s)."""
        self._conversation_windows = conversation_windows
        self._conversations: dict[str, SlidingWindows] = {}
        # The app-wide window is kept `margin` longer than Teams counts it: a send recorded
        # here reaches Teams a few milliseconds later, and an evenly spaced stream leaves no
        # other slack at the window's edge.
        self._app = SlidingWindows(tuple((count, span + margin) for count, span in app_windows))
        self._margin = margin
        self._blocked_until: dict[str, float] = {}
        count, seconds = min(app_windows, key=lambda w: w[1])
        self._spacing = seconds / (count * spread) if spread else 0.0
        self._even_spacing = self._spacing
        self._next_slot = float("-inf")
        self._last_send = float("-inf")

    def _conversation(self, key: str) -> SlidingWindows:
        window = self._conversations.get(key)
        if window is None:
            window = self._conversations[key] = SlidingWindows(self._conversation_windows)
        return window

    def wait_time(self, key: str, now: float) -> float:
        """Seconds before the next send to `key`: the later of its own and the app's."""
        return max(self.conversation_wait(key, now), self.app_wait(now))

    def conversation_wait(self, key: str, now: float) -> float:
        """Seconds before `key`'s own windows (and a 429's Retry-After) allow a send."""
        blocked = self._blocked_until.get(key, 0.0) - now
        window = max(self._conversation(key).wait_time(now), blocked)
        # the margin keeps a send safely past a window's edge
        return window + self._margin if window > 0 else 0.0

    def app_wait(self, now: float) -> float:
        """Seconds before the app-wide window and the even spacing allow any send (the
        window already counts the margin)."""
        return max(self._app.wait_time(now), self._next_slot - now, 0.0)

    def record(self, key: str, now: float) -> None:
        self._conversation(key).record(now)
        self._app.record(now)
        # Even spacing on a schedule: the next slot is one spacing after this send's slot,
        # so a send woken a little late (the event loop's timer) does not push every later
        # one back; after a pause of a spacing or more the schedule starts again from now.
        late = now - self._next_slot
        self._next_slot = (self._next_slot if late < self._spacing else now) + self._spacing
        self._last_send = now

    def give_way(self, busy: bool, now: float) -> None:
        """While `busy`, sends go at most one each `GIVE_WAY_SPACING` app-wide: the process
        that answers people's requests is busy, and the worker, which shares its machine,
        leaves it the CPU (`bot.state.InFlight`). When no longer busy, the next send may go
        one even spacing after the last."""
        self._spacing = max(self._even_spacing, GIVE_WAY_SPACING) if busy else self._even_spacing
        if busy:
            self._next_slot = max(self._next_slot, self._last_send + self._spacing)
        else:
            self._next_slot = min(self._next_slot, max(self._last_send + self._spacing, now))

    def penalise(self, key: str, now: float, seconds: float) -> None:
        """After a 429, hold the conversation back for `seconds` (Retry-After)."""
        self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), now + seconds)
