"""The outbox worker: sends pending deliveries to Teams, paced, retried, never lost.

A transient failure (429, 5xx, network) keeps the row pending with a later
`next_attempt_at`, honouring `Retry-After`. A 403 that says the bot is out of the
conversation marks the reference unusable and tells the unit's MVA channel; a message for a
person without a usable personal chat goes to the unit's MVA channel instead, saying so. A
permanent refusal is marked failed, audited and logged.

Several processes may run a worker against one database. What they guarantee:

- **Claims and leases.** A worker claims due rows in one statement (`FOR UPDATE SKIP LOCKED`
  on PostgreSQL, the write lock on SQLite), writing `lease_until` = now + the lease (10 s).
  The value written is the worker's token for the row: a claim by anyone else writes its
  own value, so while the row still holds this worker's value no other worker has claimed
  it. While a worker holds rows (queued or being sent) it renews all of them every quarter
  lease, in one UPDATE that matches the tokens and returns the rows it still holds (no
  statement per row). A row whose lease lapsed is claimable by anyone: after kill -9 of a
  process, another or a restarted one sends what it had claimed one lease and one poll
  later.
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
import contextlib
import copy
import logging
import random
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased, defer

from bot.audit import service as audit
from bot.db import transaction, utcnow, whole_database_locked
from bot.directory.models import Staff, Unit
from bot.metrics import Metrics
from bot.outbox import service as outbox
from bot.outbox.models import ConversationRef, OutboxMessage
from bot.outbox.pacing import Pacer

log = logging.getLogger("frakturkedjan.outbox")

LEASE_SECONDS = 10.0  # renewed every quarter of it while held; see the module docstring
SEND_MARGIN = 0.3  # a send starts only with this share of the lease left
GATHER_SECONDS = 0.05  # after a wake-up, before claiming
MAX_BACKOFF = 900.0
UNUSABLE_CODES = frozenset({"BotNotInConversationRoster", "ConversationBlockedByUser"})


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


@dataclass(frozen=True)
class Route:
    ref_id: int
    service_url: str
    conversation_id: str
    delivered_to: str  # "user", "channel" or "fallback"
    fallback_text: str | None = None
    target: tuple[str, str] = ("", "")  # the row's (target_kind, target)


def transient(status: int) -> bool:
    """A send that may succeed later: network failure or timeout (0, 408), 429 or 5xx."""
    return status in (0, 408, 429) or status >= 500


def database_unreachable(error: BaseException) -> bool:
    """The database did not answer (connection lost or refused, timeout), as opposed to
    refusing the statement: worth trying again."""
    if isinstance(error, sa_exc.IntegrityError | sa_exc.ProgrammingError | sa_exc.DataError):
        return False
    return isinstance(error, sa_exc.DBAPIError | sa_exc.TimeoutError | OSError | TimeoutError)


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts` (1-based): 0.5, 1, 2, 4 … up to 15 minutes,
    ±20 %. A lone 500/503 is usually gone in half a second; a `Retry-After` overrides."""
    base: float = min(MAX_BACKOFF, 0.5 * 2.0 ** min(attempts - 1, 12))
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


class OutboxWorker:
    """Sends the outbox. `run()` loops until `stop()`; `drain()` sends what is due now.

    `lease_seconds` is how long a claim holds a row unless renewed (the module docstring says
    what the lease guarantees); the renewals come every quarter of it.
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        sender: Sender,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 100,  # 2 s of sends at 50/s; read in ~10 ms, below the margin
        pacer: Pacer | None = None,
        clock: Any = time.monotonic,
        metrics: Metrics | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._factory = factory
        self._sender = sender
        self._poll = poll_seconds
        self._batch = batch_size
        self._pacer = pacer or Pacer()
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopping = False
        self._progress = asyncio.Event()  # a queued row was taken to be sent
        self._gate = asyncio.Lock()  # held by the one sender waiting for the app-wide slot
        self._retry_due: float | None = None  # (clock) when the next retry set here is due
        self._lease_seconds = lease_seconds
        self._lease = timedelta(seconds=lease_seconds)
        # row id -> the lease_until this worker last wrote (its token), for every row it
        # holds: claimed and neither recorded, released nor forgotten
        self._leases: dict[int, datetime] = {}
        self._renewing: datetime | None = None  # the value of a renewal under way
        # target -> (row id, clock time): the target's row waits for a retry; its later
        # rows, claimed while that failure was being recorded, wait too (until then)
        self._retrying: dict[tuple[str, str], tuple[int, float]] = {}

    def wake(self) -> None:
        """Ask the worker to look at the outbox now (after a commit that added rows)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    async def run(self) -> None:
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
        if self._retry_due is None:
            return self._poll
        left = self._retry_due - self._clock()
        if left <= 0:
            self._retry_due = None
            return 0.0
        return float(min(self._poll, left))

    async def drain(self) -> int:
        """Send what is due now; returns the rows done (sent, retried later or failed).

        Batches are claimed while earlier ones are still being sent (the next one once
        fewer than half a batch wait), so the sends never pause between batches. Each
        conversation has one sender at a time, taking its rows in outbox order.
        """
        queues: dict[str, deque[tuple[int, Route, dict[str, Any]]]] = {}
        senders: dict[str, asyncio.Task[int]] = {}
        finished: list[asyncio.Task[int]] = []
        done = 0
        failure: Exception | None = None
        now = self._clock()
        for target, (_, until) in list(self._retrying.items()):
            if now > until:
                del self._retrying[target]
        ended = asyncio.Event()
        keeper = asyncio.create_task(self._keep_leases(ended), name="outbox-leases")
        try:
            try:
                while not self._stopping:
                    claimed = await self._claim()
                    if not claimed:
                        break
                    routes, activities = await self._resolve(claimed)
                    waiting = [message_id for message_id in claimed if message_id not in routes]
                    if waiting:
                        await self._no_route(waiting)
                        done += len(waiting)
                    behind = [
                        message_id
                        for message_id in claimed
                        if message_id in routes
                        and self._behind_a_retry(message_id, routes[message_id].target)
                    ]
                    if behind:
                        await self._release(behind)
                    for message_id in claimed:
                        route = routes.get(message_id)
                        if route is None or message_id in behind:
                            continue
                        key = route.conversation_id
                        queue = queues.setdefault(key, deque())
                        queue.append((message_id, route, activities[message_id]))
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
            # send); then the first failure, if any, is raised for `run` to log.
            results = await asyncio.gather(*finished, *senders.values(), return_exceptions=True)
        finally:
            ended.set()
            # Senders still running here means this pass was cancelled: they end too, and
            # what they held lapses.
            running = [task for task in (*finished, *senders.values()) if not task.done()]
            for task in running:
                task.cancel()
            await asyncio.wait([keeper, *running])
            if self._leases:  # claimed, then neither sent nor released: they lapse
                self._forget(list(self._leases))
        if failure is not None:
            raise failure
        for result in results:
            if isinstance(result, BaseException):
                raise result
            done += result
        return done

    async def _until_low(
        self,
        queues: dict[str, deque[tuple[int, Route, dict[str, Any]]]],
        senders: dict[str, asyncio.Task[int]],
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

    async def _claim(self) -> list[int]:
        """Lease the first due rows, in one statement; their ids in outbox order.

        A row is due when its time has come, no live lease holds it, and no earlier pending
        row of the same target waits for a retry (so a conversation keeps its order).
        """
        now = utcnow()
        until = now + self._lease
        row, retried = aliased(OutboxMessage), aliased(OutboxMessage)
        # the targets with a row waiting for its retry, and their first such row: few rows,
        # read through the index on next_attempt_at and joined once (not once per row)
        waiting = (
            select(retried.target_kind, retried.target, func.min(retried.id).label("first_id"))
            .where(retried.next_attempt_at > now, retried.status == "pending")
            .group_by(retried.target_kind, retried.target)
            .subquery("waiting")
        )
        due = (
            select(row.id)
            .outerjoin(
                waiting,
                and_(
                    waiting.c.target_kind == row.target_kind,
                    waiting.c.target == row.target,
                    waiting.c.first_id < row.id,
                ),
            )
            .where(
                row.status == "pending",
                row.next_attempt_at <= now,
                or_(row.lease_until.is_(None), row.lease_until < now),
                waiting.c.first_id.is_(None),
            )
            .order_by(row.id)
            .limit(self._batch)
            .with_for_update(skip_locked=True, of=row)
        )
        async with transaction(self._factory) as session:
            rows = await session.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(due.scalar_subquery()))
                .values(lease_until=until)
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
            claimed = sorted(rows.all())
        for message_id in claimed:
            self._leases[message_id] = until
        return claimed

    async def _keep_leases(self, ended: asyncio.Event) -> None:
        """Renew the leases of the rows held, every quarter lease, until `ended` is set.

        A failed renewal is logged and tried again at the next turn; meanwhile the leases run
        down and the senders stop before they lapse (`_may_send`).
        """
        while not ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), timeout=self._lease_seconds / 4)
            if ended.is_set() or not self._leases:
                continue
            try:
                await self._renew()
            except Exception as exc:
                if not database_unreachable(exc):
                    log.exception("outbox lease renewal failed; will retry")
                else:
                    log.warning(
                        "outbox lease renewal failed: database unreachable; will retry",
                        extra={"error": type(exc).__name__, "held": len(self._leases)},
                    )

    async def _renew(self) -> None:
        """Extend the lease of every row held, in one UPDATE; drop the rows no longer ours."""
        held = dict(self._leases)
        until = utcnow() + self._lease
        self._renewing = until
        try:
            async with transaction(self._factory) as session:
                rows = await session.scalars(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id.in_(held),
                        OutboxMessage.lease_until.in_(set(held.values())),
                    )
                    .values(lease_until=until)
                    .returning(OutboxMessage.id)
                    .execution_options(synchronize_session=False)
                )
                kept = set(rows.all())
            lost = 0
            for message_id, token in held.items():
                if self._leases.get(message_id) != token:
                    continue  # recorded, released or forgotten meanwhile
                if message_id in kept:
                    self._leases[message_id] = until
                else:  # another worker claimed it after our lease lapsed, or it was recorded
                    del self._leases[message_id]
                    lost += 1
        finally:
            self._renewing = None
        if lost:
            log.warning("outbox rows no longer held after their lease", extra={"rows": lost})

    def _behind_a_retry(self, message_id: int, target: tuple[str, str]) -> bool:
        """True for a row claimed while an earlier row of its target failed and waits for
        its retry (the claim read the database before that failure was recorded)."""
        retrying = self._retrying.get(target)
        if retrying is None:
            return False
        failed_id, until = retrying
        if message_id == failed_id or self._clock() > until:
            del self._retrying[target]  # the retry itself is here, or long overdue
            return False
        return message_id > failed_id

    def _tokens(self, ids: list[int]) -> set[datetime]:
        """The lease values that show these rows are still this worker's."""
        tokens = {self._leases[i] for i in ids if i in self._leases}
        if self._renewing is not None:
            tokens.add(self._renewing)
        return tokens

    def _lease_left(self, message_id: int) -> float | None:
        """Seconds until the row's lease lapses, by this worker's last write; None when the
        worker does not hold the row."""
        until = self._leases.get(message_id)
        return None if until is None else (until - utcnow()).total_seconds()

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

    def _forget(self, ids: list[int]) -> None:
        """Stop holding rows without writing to the database: their leases lapse."""
        for message_id in ids:
            self._leases.pop(message_id, None)
        log.warning("outbox rows left to their leases", extra={"rows": len(ids)})

    async def _resolve(self, ids: list[int]) -> tuple[dict[int, Route], dict[int, dict[str, Any]]]:
        """Where each claimed row goes (a few queries per batch, not per row), and its
        activity. A row without a usable conversation has no route."""
        routes: dict[int, Route] = {}
        async with self._factory() as session:
            # plain rows, not ORM objects: this runs while other rows are being sent, and
            # a long pause of the event loop would delay sends already paced
            messages = (
                await session.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.target_kind,
                        OutboxMessage.target,
                        OutboxMessage.unit_id,
                        OutboxMessage.activity,
                    ).where(OutboxMessage.id.in_(ids))
                )
            ).all()
            activities = {m.id: m.activity for m in messages}
            users = {m.target for m in messages if m.target_kind == "user"}
            channels = {m.target for m in messages if m.target_kind == "channel"}
            refs = await self._refs(session, users=users, channels=channels)
            unrouted = [
                m
                for m in messages
                if m.target_kind == "user" and ("personal", m.target) not in refs
            ]
            fallback: dict[int, ConversationRef] = {}
            names: dict[str, str] = {}
            if unrouted:
                unit_ids = {m.unit_id for m in unrouted if m.unit_id is not None}
                units = (await session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))).all()
                unit_channel = {u.id: u.mva_channel for u in units if u.mva_channel}
                channel_refs = await self._refs(
                    session, users=set(), channels=set(unit_channel.values())
                )
                fallback = {
                    unit_id: channel_refs[("channel", channel)]
                    for unit_id, channel in unit_channel.items()
                    if ("channel", channel) in channel_refs
                }
                people = await session.scalars(
                    select(Staff).where(Staff.aad_object_id.in_({m.target for m in unrouted}))
                )
                names = {p.aad_object_id: p.name for p in people}
            for message in messages:
                kind = "personal" if message.target_kind == "user" else "channel"
                ref = refs.get((kind, message.target))
                if ref is not None:
                    routes[message.id] = Route(
                        ref.id,
                        ref.service_url,
                        ref.conversation_id,
                        message.target_kind,
                        target=(message.target_kind, message.target),
                    )
                elif message.target_kind == "user" and message.unit_id in fallback:
                    channel = fallback[message.unit_id]
                    name = names.get(message.target, "mottagaren")
                    text = (
                        f"Kortet kunde inte levereras till {name} personligen "
                        "(appen är inte installerad i personlig chatt). Se till att det når fram."
                    )
                    routes[message.id] = Route(
                        channel.id,
                        channel.service_url,
                        channel.conversation_id,
                        "fallback",
                        text,
                        target=(message.target_kind, message.target),
                    )
        return routes, activities

    @staticmethod
    async def _refs(
        session: AsyncSession, *, users: set[str], channels: set[str]
    ) -> dict[tuple[str, str], ConversationRef]:
        """Usable conversation references of these people (personal) and channels."""
        wanted = []
        if users:
            wanted.append((ConversationRef.kind == "personal") & ConversationRef.key.in_(users))
        if channels:
            wanted.append((ConversationRef.kind == "channel") & ConversationRef.key.in_(channels))
        if not wanted:
            return {}
        rows = await session.scalars(
            select(ConversationRef).where(ConversationRef.usable, or_(*wanted))
        )
        return {(r.kind, r.key): r for r in rows}

    async def _no_route(self, ids: list[int]) -> None:
        """No usable conversation yet: keep the rows, try again later, and say so."""
        now = utcnow()
        for message_id in ids:
            self._leases.pop(message_id, None)
        async with transaction(self._factory) as session:
            unsent = select(OutboxMessage).where(OutboxMessage.id.in_(ids))
            for message in (
                await session.scalars(unsent.options(defer(OutboxMessage.activity, raiseload=True)))
            ).all():
                message.attempts += 1
                message.lease_until = None
                message.last_error = outbox.NO_ROUTE
                message.next_attempt_at = now + timedelta(seconds=min(60.0 * message.attempts, 900))
                log.warning(
                    "outbox message waits for a conversation",
                    extra={
                        "outbox_id": message.id,
                        "target_kind": message.target_kind,
                        "case_id": message.case_id,
                        "attempts": message.attempts,
                    },
                )

    async def _send_conversation(self, queue: deque[tuple[int, Route, dict[str, Any]]]) -> int:
        """Send a conversation's queued rows in order, paced; returns the rows done."""
        done = 0
        while queue:
            message_id, route, activity = queue[0]
            if not await self._take_slot(route.conversation_id) or not await self._may_send(
                message_id
            ):
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
            if route.fallback_text:
                activity = copy.deepcopy(activity)
                activity["text"] = route.fallback_text
            started = time.perf_counter()
            result = await self._sender.send_activity(
                route.service_url, route.conversation_id, activity
            )
            self._metrics.send_latency.observe(time.perf_counter() - started)
            self._metrics.sends.labels("ok" if result.ok else str(result.status)).inc()
            if not result.ok and result.status == 429:
                self._metrics.throttled.inc()
                self._pacer.penalise(
                    route.conversation_id, self._clock(), result.retry_after or 1.0
                )
            try:
                await self._recorded(message_id, route, result)
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

    async def _take_slot(self, key: str) -> bool:
        """Wait until conversation `key` may send and the app-wide schedule has a slot,
        and take it (recorded in the pacer); False when the worker stops meanwhile.

        One sender at a time waits for the app-wide slot; the others queue on the lock in
        order, so each slot wakes one sender, not all of them. A conversation's own wait
        (7 a second, a 429's Retry-After) is slept outside the lock and holds nobody up.
        """
        while not self._stopping:
            wait = self._pacer.conversation_wait(key, self._clock())
            if wait > 0:
                await self._pause(wait)
                continue
            async with self._gate:
                while not self._stopping and (wait := self._pacer.app_wait(self._clock())) > 0:
                    await self._pause(wait)
                # no await from this check to `record`: nothing else can send in between
                if not self._stopping and self._pacer.conversation_wait(key, self._clock()) == 0:
                    self._pacer.record(key, self._clock())
                    return True
        return False

    async def _pause(self, seconds: float) -> None:
        """Sleep for pacing, cut short by `stop()`."""
        stopping = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({stopping}, timeout=seconds)
        finally:
            stopping.cancel()

    async def _release(self, ids: list[int]) -> None:
        """Give rows back unsent: claimable at once (each at its `next_attempt_at`)."""
        mine = [message_id for message_id in ids if message_id in self._leases]
        if not mine:
            return
        tokens = self._tokens(mine)
        for message_id in mine:
            del self._leases[message_id]
        async with transaction(self._factory) as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(mine), OutboxMessage.lease_until.in_(tokens))
                .values(lease_until=None)
                .execution_options(synchronize_session=False)
            )

    async def _recorded(self, message_id: int, route: Route, result: Delivery) -> None:
        """Record a send's outcome, trying again while the database is unreachable, for up to
        a lease (a sent row that stays unrecorded is sent again by its next claim); then
        raise. The row stays held, and renewed, meanwhile."""
        deadline = self._clock() + self._lease_seconds
        pause = 0.1
        while True:
            try:
                await self._record(message_id, route, result)
            except Exception as exc:
                if not database_unreachable(exc) or self._clock() + pause > deadline:
                    raise
                log.warning(
                    "outbox send not recorded: database unreachable; retrying",
                    extra={"outbox_id": message_id, "error": type(exc).__name__},
                )
                await asyncio.sleep(pause)  # not cut short by `stop`: the outcome matters
                pause = min(pause * 2, 1.0)
            else:
                self._leases.pop(message_id, None)
                return

    async def _record(self, message_id: int, route: Route, result: Delivery) -> None:
        now = utcnow()
        async with transaction(self._factory) as session:
            if result.ok:  # the common case: one UPDATE, the row is not read
                await session.execute(
                    update(OutboxMessage)
                    # pending: a retry after a commit whose answer was lost changes nothing
                    .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
                    .values(
                        status="sent",
                        sent_at=now,
                        lease_until=None,
                        last_status=result.status,
                        attempts=OutboxMessage.attempts + 1,
                        activity_id=result.activity_id,
                        conversation_id=route.conversation_id,
                        delivered_to=route.delivered_to,
                        last_error=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                return
            # the card itself is not needed to record a failure
            message = await session.get(
                OutboxMessage,
                message_id,
                options=[defer(OutboxMessage.activity, raiseload=True)],
                with_for_update=not whole_database_locked(session),
            )
            if message is None:
                return
            if message.lease_until not in self._tokens([message_id]):
                # another worker claimed it after our lease lapsed: it decides now
                log.warning(
                    "outbox failure not recorded: row no longer held",
                    extra={"outbox_id": message_id, "status": result.status},
                )
                return
            message.lease_until = None
            message.last_status = result.status
            message.attempts += 1
            message.last_error = f"HTTP {result.status} {result.error_code or ''}".strip()
            if result.status == 403 and result.error_code in UNUSABLE_CODES:
                await self._mark_unusable(session, route, message, result.error_code or "")
                message.next_attempt_at = now
                return
            if transient(result.status):
                delay = backoff(message.attempts)
                if result.retry_after is not None:
                    delay = max(delay, result.retry_after)
                message.next_attempt_at = now + timedelta(seconds=delay)
                due = self._clock() + delay
                self._retrying[route.target] = (message_id, due + self._lease_seconds)
                self._retry_due = due if self._retry_due is None else min(self._retry_due, due)
                self._metrics.retries.inc()
                log.info(
                    "outbox send will be retried",
                    extra={
                        "outbox_id": message.id,
                        "status": result.status,
                        "attempts": message.attempts,
                        "retry_in": round(delay, 1),
                    },
                )
                return
            message.status = "failed"
            audit.record(
                session,
                actor="system:outbox",
                action="outbox.give_up",
                outcome="error",
                unit_id=message.unit_id,
                case_id=message.case_id,
                task_id=message.task_id,
                detail={
                    "outbox_id": message.id,
                    "status": result.status,
                    "error_code": result.error_code,
                    "purpose": message.purpose,
                },
            )
            log.error(
                "outbox send refused by Teams; given up and audited",
                extra={
                    "outbox_id": message.id,
                    "status": result.status,
                    "case_id": message.case_id,
                },
            )

    async def _mark_unusable(
        self, session: AsyncSession, route: Route, message: OutboxMessage, code: str
    ) -> None:
        ref = await session.get(ConversationRef, route.ref_id)
        if ref is None:
            return
        ref.usable = False
        ref.unusable_reason = code
        ref.updated_at = utcnow()
        audit.record(
            session,
            actor="system:outbox",
            action="conversation.unusable",
            outcome="error",
            unit_id=message.unit_id,
            case_id=message.case_id,
            detail={"kind": ref.kind, "code": code},
        )
        log.warning(
            "conversation reference marked unusable",
            extra={"ref_id": ref.id, "kind": ref.kind, "code": code},
        )
        if ref.kind == "personal" and message.unit_id is not None:
            unit = await session.get(Unit, message.unit_id)
            person = await session.scalar(select(Staff).where(Staff.aad_object_id == ref.key))
            if unit is not None and unit.mva_channel:
                from bot.cases import views  # local: views renders cards

                card = views.notice_card(
                    title="Kan inte nå en användare",
                    text=(
                        f"Boten når inte längre {person.name if person else 'en användare'} "
                        "i personlig chatt (appen är borttagen eller blockerad). Kort till "
                        "personen skickas hit tills appen är installerad igen."
                    ),
                )
                outbox.enqueue(
                    session,
                    purpose="unreachable_notice",
                    target_kind="channel",
                    target=unit.mva_channel,
                    activity=outbox.card_activity(card, summary="Kan inte nå en användare"),
                    unit_id=unit.id,
                )
