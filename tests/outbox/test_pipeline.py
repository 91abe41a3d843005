"""The worker's batches overlap: the next batch is claimed while the last one is still being
sent (a backlog never pauses between batches), each conversation keeps its order, and every
row is sent exactly once. The worker runs on its own here, with a recording sender."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.db import transaction, utcnow
from bot.outbox import service as outbox
from bot.outbox.models import ConversationRef, OutboxMessage
from bot.outbox.pacing import Pacer
from bot.outbox.results import backoff
from bot.outbox.worker import OutboxWorker

CHANNELS = [f"19:channel-{n}@thread.tacv2" for n in range(3)]


@dataclass(frozen=True)
class Sent:
    ok: bool = True
    status: int = 201
    activity_id: str | None = "a"
    retry_after: float | None = None
    error_code: str | None = None


class RecordingSender:
    def __init__(self, fail: set[int] | None = None, throttle: set[int] | None = None) -> None:
        self.sent: list[tuple[str, int]] = []  # (conversation, row number)
        self.fail = fail or set()
        self.throttle = throttle or set()

    async def send_activity(
        self, service_url: str, conversation_id: str, activity: dict[str, Any]
    ) -> Sent:
        await asyncio.sleep(0)  # a real send yields to the loop
        number = int(activity["text"])
        self.sent.append((conversation_id, number))
        if number in self.fail:
            self.fail.discard(number)
            return Sent(ok=False, status=503, activity_id=None)
        if number in self.throttle:
            self.throttle.discard(number)
            return Sent(ok=False, status=429, activity_id=None, retry_after=5.0)
        return Sent()


class CountingWorker(OutboxWorker):
    """Records, at each claim, how many rows the worker had claimed and not yet sent."""

    def __init__(self, *args: Any, sender: RecordingSender, **kwargs: Any) -> None:
        super().__init__(*args, sender, **kwargs)
        self.recording = sender
        self.claimed = 0
        self.unsent_at_claim: list[int] = []

    async def _claim(self) -> list[int]:
        self.unsent_at_claim.append(self.claimed - len(self.recording.sent))
        rows = await super()._claim()
        self.claimed += len(rows)
        return rows


async def _fill(factory: Any, count: int, channels: list[str] = CHANNELS) -> None:
    """`count` rows numbered 0… ("text"), dealt round the channels in turn."""
    async with transaction(factory) as session:
        for channel in channels:
            session.add(
                ConversationRef(
                    kind="channel",
                    key=channel,
                    conversation_id=channel,
                    service_url="http://127.0.0.1:9",
                    user_id=None,
                )
            )
        for number in range(count):
            outbox.enqueue(
                session,
                purpose="test",
                target_kind="channel",
                target=channels[number % len(channels)],
                activity={"type": "message", "text": str(number)},
                unit_id=None,
            )


def _free_pacer() -> Pacer:
    # generous limits: this test is about order and overlap, not about the limits
    return Pacer(conversation_windows=((1000, 1.0),), app_windows=((1000, 1.0),), margin=0.0)


async def test_batches_overlap_and_every_conversation_keeps_its_order(factory: Any) -> None:
    await _fill(factory, 40)
    sender = RecordingSender()
    worker = CountingWorker(factory, sender=sender, batch_size=8, pacer=_free_pacer())
    assert await worker.drain() == 40

    numbers = [number for _, number in sender.sent]
    assert sorted(numbers) == list(range(40))  # each row once
    for channel in CHANNELS:
        mine = [number for conversation, number in sender.sent if conversation == channel]
        assert mine == sorted(mine), channel  # in outbox order
    # Claims after the first came while rows of earlier batches were still unsent.
    assert len(worker.unsent_at_claim) > 5
    assert all(unsent > 0 for unsent in worker.unsent_at_claim[1:-1]), worker.unsent_at_claim
    async with factory() as session:
        statuses = (await session.scalars(select(OutboxMessage.status))).all()
    assert set(statuses) == {"sent"}


async def test_a_failed_send_is_retried_later_and_its_conversation_waits_for_it(
    factory: Any,
) -> None:
    await _fill(factory, 12)  # rows 1, 4, 7, 10 go to the second channel
    sender = RecordingSender(fail={4})
    worker = CountingWorker(factory, sender=sender, batch_size=4, pacer=_free_pacer())
    assert await worker.drain() == 10  # rows 7 and 10 were released unsent
    async with factory() as session:
        rows = {
            int(r.activity["text"]): r for r in (await session.scalars(select(OutboxMessage))).all()
        }
    assert (rows[4].status, rows[4].last_status, rows[4].attempts) == ("pending", 503, 1)
    assert rows[4].lease_until is None
    assert [(rows[n].status, rows[n].attempts, rows[n].lease_until) for n in (7, 10)] == [
        ("pending", 0, None)
    ] * 2
    assert all(rows[n].status == "sent" for n in (0, 1, 2, 3, 5, 6, 8, 9, 11))
    # Rows 7 and 10 are due, but wait behind row 4 until its retry falls due.
    assert await worker.drain() == 0
    async with transaction(factory) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == rows[4].id)
            .values(next_attempt_at=utcnow())
        )
    assert await worker.drain() == 3
    assert [n for c, n in sender.sent if c == CHANNELS[1]] == [1, 4, 4, 7, 10]


async def test_idle_wait_ends_when_a_retry_falls_due(factory: Any) -> None:
    await _fill(factory, 2)
    worker = OutboxWorker(factory, RecordingSender(fail={1}), poll_seconds=30.0)
    assert worker._idle_time() == 30.0  # nothing scheduled: the poll
    assert await worker.drain() == 2
    # the 503's retry (0.5 s ± 20 %, less the time the pass took), not the poll
    assert worker._idle_time() <= 0.6
    async with factory() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.status == "pending"))
    assert row is not None and row.activity["text"] == "1"
    assert row.next_attempt_at > utcnow() + timedelta(seconds=0.3)


async def test_a_throttled_conversation_stops_and_its_rest_is_released(factory: Any) -> None:
    await _fill(factory, 9)  # rows 0, 3, 6 go to the first channel
    sender = RecordingSender(throttle={3})
    worker = OutboxWorker(factory, sender, batch_size=100, pacer=_free_pacer())
    assert await worker.drain() == 8  # row 6 was released unsent
    assert (CHANNELS[0], 6) not in sender.sent
    async with factory() as session:
        rows = {
            int(r.activity["text"]): r for r in (await session.scalars(select(OutboxMessage))).all()
        }
    assert rows[3].status == "pending" and rows[3].last_status == 429
    assert rows[3].next_attempt_at >= utcnow() + timedelta(seconds=4)  # Retry-After: 5
    assert (rows[6].status, rows[6].attempts, rows[6].lease_until) == ("pending", 0, None)
    assert all(rows[n].status == "sent" for n in (0, 1, 2, 4, 5, 7, 8))


def test_backoff_doubles_from_half_a_second_up_to_fifteen_minutes() -> None:
    for attempts, base in [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (12, 900.0), (40, 900.0)]:
        for _ in range(20):
            assert base * 0.8 <= backoff(attempts) <= base * 1.2


async def test_each_app_wide_slot_wakes_one_sender_not_all(factory: Any) -> None:
    # 30 conversations wait for the app-wide schedule at once: only the sender holding
    # the slot lock sleeps for it, so the sleeps are about one per send, not one per
    # conversation per send.
    await _fill(factory, 90, [f"19:c{n}@thread.tacv2" for n in range(30)])
    pauses = 0

    class Counting(OutboxWorker):
        async def _pause(self, seconds: float) -> None:
            nonlocal pauses
            pauses += 1
            await super()._pause(seconds)

    sender = RecordingSender()
    # 500 a second, evenly: every send waits for its slot
    pacer = Pacer(conversation_windows=((1000, 1.0),), app_windows=((500, 1.0),), margin=0.0)
    assert await Counting(factory, sender, pacer=pacer).drain() == 90
    assert len(sender.sent) == 90
    assert pauses <= 2 * 90, pauses


async def test_a_failure_while_recording_is_raised_after_the_other_senders_finish(
    factory: Any,
) -> None:
    # The database fails while one send is being recorded: the recording is retried for a
    # lease, drain lets the other conversations finish (no send is cut off before it is
    # recorded) and then raises, for `run` to log; the failed row keeps its lease and is
    # sent again when it lapses.
    await _fill(factory, 9)
    attempts = 0

    class Failing(OutboxWorker):
        async def _record(self, message_id: int, route: Any, result: Any, sent: Any) -> None:
            nonlocal attempts
            if route.conversation_id == CHANNELS[1]:
                attempts += 1
                raise ConnectionError("database gone")
            await super()._record(message_id, route, result, sent)

    sender = RecordingSender()
    with pytest.raises(ConnectionError):
        await Failing(factory, sender, pacer=_free_pacer(), lease_seconds=0.5).drain()
    assert attempts > 1  # retried before giving up
    async with factory() as session:
        rows = {
            int(r.activity["text"]): r for r in (await session.scalars(select(OutboxMessage))).all()
        }
    assert all(rows[n].status == "sent" for n in (0, 2, 3, 5, 6, 8))  # other channels
    assert rows[1].status == "pending" and rows[1].lease_until is not None
    assert [n for c, n in sender.sent if c == CHANNELS[1]] == [1]  # the rest not sent
