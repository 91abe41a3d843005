"""Sending one outbox row to Teams: the client's interface, the pacing slot each send
takes, and the retries a conversation waits for.

Each conversation's sends are paced under Teams' limits (`Pacer`), and all of the worker's
sends share the app-wide schedule. After a transient failure (`transient`) the row is
retried later, and the rest of its conversation waits for that retry (`Retries`), so a
conversation keeps its order.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.metrics import Metrics
from bot.outbox.pacing import Pacer
from bot.outbox.routing import Route

__all__ = ["Delivery", "Dispatch", "Retries", "Sender", "transient"]


class Delivery(Protocol):
    """The outcome of one send, as the Teams client reports it."""

    @property
    def ok(self) -> bool: ...
    @property
    def status(self) -> int: ...  # 0 for a network failure
    @property
    def activity_id(self) -> str | None: ...
    @property
    def retry_after(self) -> float | None: ...
    @property
    def error_code(self) -> str | None: ...


class Sender(Protocol):
    """What the worker needs from a Teams client (bot/teams/connector.py provides it)."""

    async def send_activity(
        self, service_url: str, conversation_id: str, activity: dict[str, Any]
    ) -> Delivery: ...

    async def update_activity(
        self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> Delivery: ...


def transient(status: int) -> bool:
    """A send that may succeed later: network failure or timeout (0, 408), 429 or 5xx."""
    return status in (0, 408, 429) or status >= 500


class Dispatch:
    """Sends activities through a `Sender`, each in a slot the `Pacer` allows.

    `pause(seconds)` is how a wait for a slot sleeps (the worker cuts it short when it
    stops); `stopping()` says that no more slots are to be taken.
    """

    def __init__(
        self,
        sender: Sender,
        pacer: Pacer,
        *,
        clock: Callable[[], float],
        metrics: Metrics,
        pause: Callable[[float], Awaitable[None]],
        stopping: Callable[[], bool],
    ) -> None:
        self._sender = sender
        self._pacer = pacer
        self._clock = clock
        self._metrics = metrics
        self._pause = pause
        self._stopping = stopping
        self._gate = asyncio.Lock()  # held by the one sender waiting for the app-wide slot

    def give_way(self, busy: bool) -> None:
        """See `Pacer.give_way`."""
        self._pacer.give_way(busy, self._clock())

    async def take_slot(self, key: str) -> bool:
        """Wait until conversation `key` may send and the app-wide schedule has a slot,
        and take it (recorded in the pacer); False when the worker stops meanwhile.

        One sender at a time waits for the app-wide slot; the others queue on the lock in
        order, so each slot wakes one sender, not all of them. A conversation's own wait
        (7 a second, a 429's Retry-After) is slept outside the lock and holds nobody up.
        """
        while not self._stopping():
            wait = self._pacer.conversation_wait(key, self._clock())
            if wait > 0:
                await self._pause(wait)
                continue
            async with self._gate:
                while not self._stopping() and (wait := self._pacer.app_wait(self._clock())) > 0:
                    await self._pause(wait)
                # no await from this check to `record`: nothing else can send in between
                if not self._stopping() and self._pacer.conversation_wait(key, self._clock()) == 0:
                    self._pacer.record(key, self._clock())
                    return True
        return False

    async def send(
        self, route: Route, activity: dict[str, Any], *, replaces: str | None = None
    ) -> Delivery:
        """Send `activity` along `route` (with the route's fallback text, if any), or with
        `replaces` (an activity id) put it in place of that message; count it, and after a
        429 hold the conversation back for its Retry-After."""
        if route.fallback_text:
            activity = copy.deepcopy(activity)
            activity["text"] = route.fallback_text
        started = time.perf_counter()
        if replaces is None:
            result = await self._sender.send_activity(
                route.service_url, route.conversation_id, activity
            )
        else:
            result = await self._sender.update_activity(
                route.service_url, route.conversation_id, replaces, {**activity, "id": replaces}
            )
        self._metrics.send_latency.observe(time.perf_counter() - started)
        self._metrics.sends.labels("ok" if result.ok else str(result.status)).inc()
        if not result.ok and result.status == 429:
            self._metrics.throttled.inc()
            self._pacer.penalise(route.conversation_id, self._clock(), result.retry_after or 1.0)
        return result


class Retries:
    """The targets whose rows wait for a retry this worker scheduled, and when the next
    retry falls due (clock time).

    The claim never takes a row while an earlier pending row of its target waits for its
    retry; `holds_back` covers the rows a claim read before that failure was recorded.
    """

    def __init__(self, clock: Callable[[], float], lease_seconds: float) -> None:
        self._clock = clock
        self._lease_seconds = lease_seconds
        # target -> (row id, clock time): the target's row waits for a retry; its later
        # rows, claimed while that failure was being recorded, wait too (until then)
        self._waiting: dict[tuple[str, str], tuple[int, float]] = {}
        self.next_due: float | None = None

    def schedule(self, target: tuple[str, str], message_id: int, delay: float) -> None:
        """Row `message_id` of `target` is retried in `delay` seconds."""
        due = self._clock() + delay
        self._waiting[target] = (message_id, due + self._lease_seconds)
        self.next_due = due if self.next_due is None else min(self.next_due, due)

    def expire(self) -> None:
        """Forget the waits whose retries are long overdue (a lease past their time)."""
        now = self._clock()
        for target, (_, until) in list(self._waiting.items()):
            if now > until:
                del self._waiting[target]

    def holds_back(self, message_id: int, target: tuple[str, str]) -> bool:
        """True for a row claimed while an earlier row of its target failed and waits for
        its retry (the claim read the database before that failure was recorded)."""
        retrying = self._waiting.get(target)
        if retrying is None:
            return False
        failed_id, until = retrying
        if message_id == failed_id or self._clock() > until:
            del self._waiting[target]  # the retry itself is here, or long overdue
            return False
        return message_id > failed_id

    def idle_time(self, poll: float) -> float:
        """Seconds to wait for work: `poll`, or less when a retry scheduled here falls due
        sooner (a backlog's last retries do not wait for the poll)."""
        if self.next_due is None:
            return poll
        left = self.next_due - self._clock()
        if left <= 0:
            self.next_due = None
            return 0.0
        return float(min(poll, left))
