"""The outbox worker: sends pending deliveries to Teams, paced, retried, never lost.

Rows are claimed with a lease (row locks with SKIP LOCKED on PostgreSQL), so several
processes can run a worker against one database. A transient failure (429, 5xx, network)
keeps the row pending with a later `next_attempt_at`, honouring `Retry-After`. A 403 that
says the bot is out of the conversation marks the reference unusable and tells the unit's
MVA channel; a message for a person without a usable personal chat goes to the unit's MVA
channel instead, saying so. A permanent refusal is marked failed, audited and logged.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer

from bot.audit import service as audit
from bot.db import transaction, utcnow
from bot.directory.models import Staff, Unit
from bot.metrics import Metrics
from bot.outbox import service as outbox
from bot.outbox.models import ConversationRef, OutboxMessage
from bot.outbox.pacing import Pacer

log = logging.getLogger("frakturkedjan.outbox")

LEASE = timedelta(seconds=120)
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


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts` (1-based): 0.5, 1, 2, 4 … up to 15 minutes,
    ±20 %. A lone 500/503 is usually gone in half a second; a `Retry-After` overrides."""
    base: float = min(MAX_BACKOFF, 0.5 * 2.0 ** min(attempts - 1, 12))
    return float(base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


class OutboxWorker:
    """Sends the outbox. `run()` loops until `stop()`; `drain()` sends what is due now."""

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
        while not self._stopping:
            claimed = await self._claim()
            if not claimed:
                break
            routes, activities = await self._resolve(claimed)
            waiting = [message_id for message_id in claimed if message_id not in routes]
            if waiting:
                await self._no_route(waiting)
                done += len(waiting)
            for message_id in claimed:
                route = routes.get(message_id)
                if route is None:
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
        # Every sender ends on its own (none is cancelled halfway through recording a send);
        # then the first failure, if any, is raised for `run` to log.
        results = await asyncio.gather(*finished, *senders.values(), return_exceptions=True)
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
        now = utcnow()
        async with transaction(self._factory) as session:
            rows = await session.scalars(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= now,
                    or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
                )
                .order_by(OutboxMessage.id)
                .limit(self._batch)
                .with_for_update(skip_locked=True)
            )
            claimed = list(rows.all())
            if claimed:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(claimed))
                    .values(lease_until=now + LEASE)
                )
            return claimed

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
                        ref.id, ref.service_url, ref.conversation_id, message.target_kind
                    )
                elif message.target_kind == "user" and message.unit_id in fallback:
                    channel = fallback[message.unit_id]
                    name = names.get(message.target, "mottagaren")
                    text = (
                        f"Kortet kunde inte levereras till {name} personligen "
                        "(appen är inte installerad i personlig chatt). Se till att det når fram."
                    )
                    routes[message.id] = Route(
                        channel.id, channel.service_url, channel.conversation_id, "fallback", text
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
            if not await self._take_slot(route.conversation_id):  # the worker stops
                await self._release([item[0] for item in queue])
                queue.clear()
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
            await self._record(message_id, route, result)
            done += 1
            if not result.ok and result.status == 429:
                # Teams throttles this conversation: the rest of it waits for a later pass
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
        if not ids:
            return
        async with transaction(self._factory) as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(lease_until=None)
                .execution_options(synchronize_session=False)
            )

    async def _record(self, message_id: int, route: Route, result: Delivery) -> None:
        now = utcnow()
        async with transaction(self._factory) as session:
            if result.ok:  # the common case: one UPDATE, the row is not read
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message_id)
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
                OutboxMessage, message_id, options=[defer(OutboxMessage.activity, raiseload=True)]
            )
            if message is None:
                return
            message.lease_until = None
            message.last_status = result.status
            message.attempts += 1
            message.last_error = f"HTTP {result.status} {result.error_code or ''}".strip()
            if result.status == 403 and result.error_code in UNUSABLE_CODES:
                await self._mark_unusable(session, route, message, result.error_code or "")
                message.next_attempt_at = now
                return
            if result.status in (0, 408, 429) or result.status >= 500:
                delay = backoff(message.attempts)
                if result.retry_after is not None:
                    delay = max(delay, result.retry_after)
                message.next_attempt_at = now + timedelta(seconds=delay)
                due = self._clock() + delay
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
