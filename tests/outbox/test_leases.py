"""Leases of the outbox worker: it renews what it holds in one UPDATE, another worker takes
a row only once its lease has lapsed, a worker that cannot renew stops sending before its
lease may lapse, and a row taken over is never sent by its old holder."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select, update

from bot.db import transaction, utcnow
from bot.outbox.models import OutboxMessage
from bot.outbox.worker import OutboxWorker
from tests.outbox.test_pipeline import CHANNELS, RecordingSender, Sent, _fill, _free_pacer


class SlowSender(RecordingSender):
    """Each send takes `seconds`; records (conversation, row number) as it starts."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.started: list[datetime] = []

    async def send_activity(
        self, service_url: str, conversation_id: str, activity: dict[str, Any]
    ) -> Sent:
        self.sent.append((conversation_id, int(activity["text"])))
        self.started.append(utcnow())
        await asyncio.sleep(self.seconds)
        return Sent()


async def _leases(factory: Any) -> dict[int, Any]:
    async with factory() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return {int(row.activity["text"]): row.lease_until for row in rows}


async def _keep_draining(worker: OutboxWorker, until: asyncio.Task[Any]) -> None:
    """Another process's worker, polling every 0.05 s while `until` runs."""
    while not until.done():
        await worker.drain()
        await asyncio.sleep(0.05)


async def test_a_renewal_is_one_update_for_every_row_held(factory: Any) -> None:
    await _fill(factory, 60)
    worker = OutboxWorker(factory, RecordingSender(), batch_size=50)
    claimed = await worker._claim()
    assert len(claimed) == 50
    before = await _leases(factory)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    engine = factory.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        await asyncio.sleep(0.01)
        await worker._renew()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1 and statements[0].lstrip().startswith("UPDATE outbox")
    after = await _leases(factory)
    renewed = {number for number in after if after[number] != before[number]}
    assert renewed == set(range(50))  # every held row, and only those
    assert len({after[number] for number in renewed}) == 1
    assert all(after[number] > before[number] for number in renewed)
    assert all(after[number] is None for number in range(50, 60))


async def test_rows_held_longer_than_the_lease_stay_with_their_worker(factory: Any) -> None:
    # One conversation of 12 rows at 0.1 s a send: 1.2 s of sending, twice the lease.
    await _fill(factory, 12, CHANNELS[:1])
    holder = SlowSender(0.1)
    other = RecordingSender()
    first = OutboxWorker(factory, holder, pacer=_free_pacer(), lease_seconds=0.6)
    second = OutboxWorker(factory, other, pacer=_free_pacer(), lease_seconds=0.6)
    draining = asyncio.create_task(first.drain())
    await asyncio.sleep(0.05)  # the first worker claims before the second polls
    await _keep_draining(second, draining)
    assert await draining == 12
    assert [number for _, number in holder.sent] == list(range(12))
    assert other.sent == []


async def test_a_worker_that_cannot_renew_stops_before_its_lease_lapses(factory: Any) -> None:
    # The database is unreachable for the first worker's renewals: it stops sending while
    # its lease still has its margin, and the second worker takes the rest once it lapsed.
    await _fill(factory, 20, CHANNELS[:1])

    leases: set[datetime] = set()

    class CannotRenew(OutboxWorker):
        async def _claim(self) -> list[int]:
            ids = await super()._claim()
            leases.update(self._leases[i] for i in ids)
            return ids

        async def _renew(self) -> None:
            raise ConnectionRefusedError("database unreachable")

    holder = SlowSender(0.1)
    other = SlowSender(0.01)
    first = CannotRenew(factory, holder, pacer=_free_pacer(), lease_seconds=0.8)
    second = OutboxWorker(factory, other, pacer=_free_pacer(), lease_seconds=0.8)
    draining = asyncio.create_task(first.drain())
    await asyncio.sleep(0.05)  # the first worker claims before the second polls
    await _keep_draining(second, draining)
    sent_first = await draining
    await second.drain()

    by_first = [number for _, number in holder.sent]
    by_second = [number for _, number in other.sent]
    assert 0 < len(by_first) <= 6  # 0.8 s lease, 30 % margin: about 0.56 s of sends
    assert sent_first == len(by_first)
    assert by_first + by_second == list(range(20))  # each once, in order
    async with factory() as session:
        statuses = set((await session.scalars(select(OutboxMessage.status))).all())
    assert statuses == {"sent"}
    # The first worker's lease was never renewed: it sent only while the lease had its
    # margin left, and the second worker began once the lease had lapsed.
    [lease_until] = leases  # one claim
    assert max(holder.started) <= lease_until - timedelta(seconds=0.8 * 0.3)
    assert min(other.started) > lease_until


async def test_rows_of_a_dead_worker_are_sent_once_their_lease_lapses(factory: Any) -> None:
    await _fill(factory, 9)
    dead = OutboxWorker(factory, RecordingSender(), lease_seconds=0.5)
    assert len(await dead._claim()) == 9  # then the process is killed
    sender = RecordingSender()
    live = OutboxWorker(factory, sender, pacer=_free_pacer())
    assert await live.drain() == 0  # still leased
    await asyncio.sleep(0.55)
    assert await live.drain() == 9
    assert sorted(number for _, number in sender.sent) == list(range(9))


async def test_a_row_taken_over_is_dropped_by_its_old_holder(factory: Any) -> None:
    await _fill(factory, 3)
    old = OutboxWorker(factory, RecordingSender(), lease_seconds=0.3)
    ids = await old._claim()
    await asyncio.sleep(0.35)  # its renewals never came (a stalled process)
    new = OutboxWorker(factory, RecordingSender())
    assert await new._claim() == ids
    taken = await _leases(factory)
    await old._renew()  # finds the rows no longer its own, and leaves them alone
    assert [old._lease_left(i) for i in ids] == [None] * 3
    assert not await old._may_send(ids[0])
    old._leases = {i: until for i, until in zip(ids, taken.values(), strict=True)}
    old._leases[ids[0]] = utcnow()  # its own, older value
    await old._release([ids[0]])  # a release by the old holder does not touch it
    assert await _leases(factory) == taken


async def test_the_claim_holds_back_a_target_behind_a_waiting_retry(factory: Any) -> None:
    await _fill(factory, 6, CHANNELS[:2])  # rows 0, 2, 4 to the first channel
    async with factory() as session:
        ids = {
            int(row.activity["text"]): row.id
            for row in (await session.scalars(select(OutboxMessage))).all()
        }
    async with transaction(factory) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == ids[2])
            .values(next_attempt_at=utcnow() + timedelta(seconds=30))
        )
    worker = OutboxWorker(factory, RecordingSender())
    assert await worker._claim() == [ids[0], ids[1], ids[3], ids[5]]  # not 2, nor 4 after it
    async with transaction(factory) as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == ids[2]).values(next_attempt_at=utcnow())
        )
    assert await worker._claim() == [ids[2], ids[4]]


async def test_a_cancelled_pass_sends_no_further_row(factory: Any) -> None:
    await _fill(factory, 12, CHANNELS[:2])
    sender = SlowSender(0.2)
    worker = OutboxWorker(factory, sender, pacer=_free_pacer())
    draining = asyncio.create_task(worker.drain())
    await asyncio.sleep(0.3)
    draining.cancel()
    await asyncio.wait([draining])
    sent = len(sender.sent)
    await asyncio.sleep(0.6)  # the sends in hand end and are recorded; no other starts
    assert len(sender.sent) == sent < 12
    assert worker._leases == {}  # what it held lapses
    async with factory() as session:
        statuses = (await session.scalars(select(OutboxMessage.status))).all()
    assert statuses.count("sent") == sent
