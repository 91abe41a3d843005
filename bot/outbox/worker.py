"""The outbox worker: sends pending deliveries to Teams, paced, retried, never lost.

The loop claims due rows (bot/outbox/claims.py), finds their conversations
(routing.py), sends each conversation's rows in order in paced slots (sending.py) and
records each outcome (results.py). A message for a person without a usable personal chat
goes to the unit's MVA channel instead, saying so.

Several processes may run a worker against one database. What they guarantee:

- **Claims and leases.** A claimed row is held under a lease (10 s) that the worker renews
  while it holds the row; a row whose lease lapsed is claimable by anyone (claims.py).
- **No send after the lease may have lapsed.** A send starts only while the row's lease,
  as this worker last wrote it, has at least 30 % of a lease left (by this host's clock;
  the hosts' clocks must agree to within a second or so). When renewals fail (the database
  is unreachable), the leases run down: senders wait while their lease is short, and once
  it has lapsed they forget their rows, which the next claim (anyone's) takes again. So two
  workers never start sending the same row.
- **Sent twice only from the in-flight window.** A success is recorded right after the
  send, retried for up to a lease while the database is unreachable (the renewals keep the
  row meanwhile). A row is sent again only when a send reached Teams and its outcome was
  never recorded: the process died during the send or before its UPDATE, or the database
  stayed away longer than the retries. A conversation has one send at a time and its next
  send waits for the last one to be recorded, so that is at most one row per conversation
  being sent to at the moment of the crash or outage.
- **Order.** A worker sends each conversation's rows in outbox order (one sender per
  conversation). After a transient failure the rest of the conversation is released and
  waits for the failed row: the claim never takes a row while an earlier pending row of
  the same target waits for its retry. Two processes may split a conversation's rows
  between their claims; their order between processes is then not guaranteed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.metrics import Metrics
from bot.outbox import results, routing, updates
from bot.outbox.claims import Leases
from bot.outbox.notices import NoticeCard
from bot.outbox.pacing import Pacer
from bot.outbox.routing import Outgoing, Route
from bot.outbox.sending import Delivery, Dispatch, Retries, Sender, transient
from bot.outbox.views import CardViews

__all__ = ["GATHER_SECONDS", "LEASE_SECONDS", "SEND_MARGIN", "OutboxWorker"]

log = logging.getLogger("frakturkedjan.outbox")

LEASE_SECONDS = 10.0  # renewed every quarter of it while held; see the module docstring
SEND_MARGIN = 0.3  # a send starts only with this share of the lease left
GATHER_SECONDS = 0.05  # after a wake-up, before claiming

_Queue = deque[tuple[int, Route, Outgoing]]  # a conversation's claimed rows, in order


class OutboxWorker:
    """Sends the outbox. `run()` loops until `stop()`; `drain()` sends what is due now.

    `lease_seconds` is how long a claim holds a row unless renewed (the module docstring says
    what the lease guarantees); the renewals come every quarter of it. `notice_card` draws
    the card that tells a unit's MVA channel a person is no longer reachable; without it
    that notice is plain text. `views` draws the current card of a posted message for its
    updates (and for a person's card that goes to the MVA channel instead); without it
    updates are skipped and such a card goes as it is, with the fallback text. `reads`:
    the sessions it reads an update's message and draws cards with
    (`bot.db.reading_factory`; by default `factory`'s); everything else goes through
    `factory`.
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        sender: Sender,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 100,  # 2 s of sends at 50/s; read in ~10 ms, below the margin
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        lease_seconds: float = LEASE_SECONDS,
        notice_card: NoticeCard | None = None,
        views: CardViews | None = None,
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._factory = factory
        self._reads = reads or factory
        self._poll = poll_seconds
        self._batch = batch_size
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._notice_card = notice_card
        self._views = views
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self._progress = asyncio.Event()  # a queued row was taken to be sent
        self._lease_seconds = lease_seconds
        self._claims = Leases(factory, seconds=lease_seconds, batch=batch_size)
        self._retries = Retries(clock, lease_seconds)
        self._dispatch = Dispatch(
            sender,
            pacer or Pacer(),
            clock=clock,
            metrics=self._metrics,
            pause=self._pause,
            stopping=lambda: self._stopping,
        )

    def wake(self) -> None:
        """Ask the worker to look at the outbox now (after a commit that added rows)."""
        self._wake.set()

    def give_way(self, busy: bool) -> None:
        """While `busy` (`serve` is busy answering requests: `bot.state.InFlight`), send
        few cards (`Pacer.give_way`); the rest wait in the outbox until it is calm."""
        if busy:
            self._metrics.gave_way.inc()
        self._dispatch.give_way(busy)

    def stop(self) -> None:
        """End `run` (and the pass under way) soon; sends already started are recorded."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    async def run(self) -> None:
        """Drain the outbox, then wait for a wake-up, the poll or a retry, until `stop`."""
        while not self._stopping:
            try:
                await self.drain()  # everything due now, backlog included
            except Exception:  # a database restart must not end the worker
                log.exception("outbox pass failed; retrying")
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_time())
                # Woken by a commit: let the rows of actions committing meanwhile gather,
                # so that busy minutes cost a claim per few rows, not per row.
                await self._pause(GATHER_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()

    def _idle_time(self) -> float:
        """Seconds to wait for work: the poll interval, or less when a retry this worker
        scheduled falls due sooner (a backlog's last retries do not wait for the poll)."""
        return self._retries.idle_time(self._poll)

    async def drain(self) -> int:
        """Send what is due now; returns the rows done (sent, retried later or failed).

        Batches are claimed while earlier ones are still being sent (the next one once
        fewer than half a batch wait), so the sends never pause between batches. Each
        conversation has one sender at a time, taking its rows in outbox order.
        """
        queues: dict[str, _Queue] = {}
        senders: dict[str, asyncio.Task[int]] = {}
        finished: list[asyncio.Task[int]] = []
        done = 0
        failure: Exception | None = None
        self._retries.expire()
        ended = asyncio.Event()
        keeper = asyncio.create_task(self._keep_leases(ended), name="outbox-leases")
        try:
            try:
                while not self._stopping:
                    claimed = await self._claim()
                    if not claimed:
                        break
                    resolved = await routing.resolve(
                        self._factory, claimed, self._claims.taken(claimed)
                    )
                    routes = resolved.routes
                    if resolved.skipped:
                        for message_id in resolved.skipped:
                            self._claims.drop(message_id)
                        await updates.skip_all(self._factory, resolved.skipped)
                        done += len(resolved.skipped)
                    waiting = [
                        message_id
                        for message_id in claimed
                        if message_id not in routes and message_id not in resolved.skipped
                    ]
                    if waiting:
                        for message_id in waiting:
                            self._claims.drop(message_id)
                        await results.postpone_unrouted(self._factory, waiting)
                        done += len(waiting)
                    behind = [
                        message_id
                        for message_id in claimed
                        if message_id in routes
                        and self._retries.holds_back(message_id, routes[message_id].target)
                    ]
                    if behind:
                        await self._release(behind)
                    for message_id in claimed:
                        route = routes.get(message_id)
                        if route is None or message_id in behind:
                            continue
                        key = route.conversation_id
                        queue = queues.setdefault(key, deque())
                        queue.append((message_id, route, resolved.outgoing[message_id]))
                        sender = senders.get(key)
                        if sender is None or sender.done():
                            if sender is not None:
                                finished.append(sender)
                            senders[key] = asyncio.create_task(self._send_conversation(queue))
                    if len(claimed) < self._batch:
                        break  # nothing more was due; rows committed since have woken `run`
                    await self._until_low(queues, senders)
            except Exception as exc:  # a claim failed: the senders under way finish first
                failure = exc
            # Every sender ends on its own (none is cancelled halfway through recording a
            # send, not even when this pass is: `wait`, unlike `gather`, cancels nothing);
            # then the first failure, if any, is raised for `run` to log.
            tasks = [*finished, *senders.values()]
            if tasks:
                await asyncio.wait(tasks)
        finally:
            ended.set()
            await asyncio.wait([keeper])
            # Claimed, then neither sent nor released: the rows lapse. When this pass was
            # cancelled, its senders (not cancelled inside a transaction) finish the row in
            # hand and stop at the next, which they no longer hold.
            if self._leases:
                self._forget(list(self._leases))
        if failure is not None:
            raise failure
        for task in tasks:
            error = task.exception()
            if error is not None:
                raise error
            done += task.result()
        return done

    async def _until_low(
        self, queues: dict[str, _Queue], senders: dict[str, asyncio.Task[int]]
    ) -> None:
        """Wait until fewer than half a batch of claimed rows wait to be sent."""
        low = max(self._batch // 2, 1)
        while sum(len(q) for q in queues.values()) >= low:
            running = [t for t in senders.values() if not t.done()]
            if not running:
                return
            self._progress.clear()
            progressed = asyncio.ensure_future(self._progress.wait())
            try:
                await asyncio.wait([progressed, *running], return_when=asyncio.FIRST_COMPLETED)
            finally:
                progressed.cancel()

    async def _send_conversation(self, queue: _Queue) -> int:
        """Send a conversation's queued rows in order, paced; returns the rows done."""
        done = 0
        while queue:
            message_id, route, outgoing = queue[0]
            try:
                prepared = await updates.prepare(
                    self._reads, message_id, route, outgoing, self._views
                )
            except Exception:
                # the card could not be drawn (database unreachable): the rest lapses
                self._forget([item[0] for item in queue])
                queue.clear()
                self._progress.set()
                raise
            if isinstance(prepared, updates.Skip | updates.Wait):
                queue.popleft()
                self._progress.set()
                self._claims.drop(message_id)
                await updates.put_aside(self._factory, message_id, prepared)
                done += 1
                continue
            if not await self._dispatch.take_slot(
                route.conversation_id
            ) or not await self._may_send(message_id):
                rest = [item[0] for item in queue]
                queue.clear()
                self._progress.set()
                if self._stopping:
                    await self._release(rest)
                else:  # the lease lapsed (database unreachable) or another worker has it
                    self._forget(rest)
                return done
            queue.popleft()
            self._progress.set()
            result = await self._dispatch.send(route, prepared.activity, replaces=prepared.replaces)
            try:
                await self._recorded(message_id, route, result, prepared)
            except Exception:
                # not recorded: the row (sent or not) and the rest of the conversation lapse
                self._forget([message_id, *(item[0] for item in queue)])
                queue.clear()
                self._progress.set()
                raise
            done += 1
            if not result.ok and transient(result.status):
                # The rest of the conversation waits for this row's retry, in order: it is
                # released, and no claim takes it while an earlier row of its target waits.
                rest = [item[0] for item in queue]
                queue.clear()
                self._progress.set()
                await self._release(rest)
        return done

    async def _may_send(self, message_id: int) -> bool:
        """True when a send of the row may start: it holds the lease with the margin left.

        While the lease is shorter (renewals failing), wait for a renewal; False once it has
        lapsed, another worker took the row, or the worker stops.
        """
        margin = self._lease_seconds * SEND_MARGIN
        while not self._stopping:
            left = self._lease_left(message_id)
            if left is None or left <= 0:
                return False
            if left >= margin:
                return True
            await self._pause(min(0.1, left))
        return False

    async def _pause(self, seconds: float) -> None:
        """Sleep for pacing, cut short by `stop()`."""
        stopping = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({stopping}, timeout=seconds)
        finally:
            stopping.cancel()

    async def _recorded(
        self, message_id: int, route: Route, result: Delivery, prepared: updates.Ready
    ) -> None:
        """Record a send's outcome, trying again while the database is unreachable, for up to
        a lease (a sent row that stays unrecorded is sent again by its next claim); then
        raise. The row stays held, and renewed, meanwhile."""
        await results.record_retrying(
            lambda: self._record(message_id, route, result, prepared),
            message_id=message_id,
            clock=self._clock,
            within=self._lease_seconds,
        )
        self._claims.drop(message_id)

    async def _record(
        self, message_id: int, route: Route, result: Delivery, prepared: updates.Ready
    ) -> None:
        """Write one send's outcome in its own transaction; a transient failure also makes
        the rest of the row's target wait here for its retry."""
        async with transaction(self._factory) as session:
            delay = await results.record(
                session,
                message_id,
                route,
                result,
                prepared,
                leases=self._claims,
                notice_card=self._notice_card,
            )
            if delay is not None:
                self._retries.schedule(route.target, message_id, delay)
                self._metrics.retries.inc()

    # The rows held, through `Leases`. These methods are the worker's seams for its
    # subclasses in tests, which is why the loop calls them rather than `self._claims`.

    @property
    def _leases(self) -> dict[int, datetime]:
        """Row id -> the lease value this worker last wrote, for every row it holds."""
        return self._claims.held

    @_leases.setter
    def _leases(self, held: dict[int, datetime]) -> None:
        self._claims.held = held

    async def _claim(self) -> list[int]:
        """Lease the first due rows, in one statement; their ids in outbox order."""
        return await self._claims.claim()

    async def _renew(self) -> None:
        """Extend the lease of every row held, in one UPDATE; drop the rows no longer ours."""
        await self._claims.renew()

    async def _keep_leases(self, ended: asyncio.Event) -> None:
        """Renew the leases of the rows held, every quarter lease, until `ended` is set."""
        await self._claims.keep_renewed(ended, self._renew)

    async def _release(self, ids: list[int]) -> None:
        """Give rows back unsent: claimable at once (each at its `next_attempt_at`)."""
        await self._claims.release(ids)

    def _forget(self, ids: list[int]) -> None:
        """Stop holding rows without writing to the database: their leases lapse."""
        self._claims.forget(ids)

    def _lease_left(self, message_id: int) -> float | None:
        """Seconds until the row's lease lapses; None when the worker does not hold it."""
        return self._claims.left(message_id)
