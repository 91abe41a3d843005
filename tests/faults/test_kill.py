"""kill -9 of `serve` in the middle of delivering the outbox: a second `serve` on the same
database delivers everything within 30 s of its start, and sends again only cards that were
in flight at the kill (received by Teams, not yet recorded as sent)."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from bot.db import create_engine, session_factory, utcnow
from bot.outbox.models import OutboxMessage
from tests.faults.connector import RecordingConnector, recording_connector, seed_cards
from tests.faults.processes import Serve, ServeProcesses

CONVERSATIONS = [f"19:fault-{n}@thread.tacv2" for n in range(30)]
CARDS = 150  # 5 per conversation; at Teams' 50 a second, about 3 s of sending
RECOVERY_SECONDS = 30.0  # the contract of issue 10


async def until_received(connector: RecordingConnector, serve: Serve, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(connector.received) < count:
        assert serve.running(), f"serve ended early:\n{serve.tail()}"
        assert time.monotonic() < deadline, f"serve sent nothing:\n{serve.tail()}"
        await asyncio.sleep(0.02)


async def test_kill_9_mid_delivery_then_another_serve_delivers_the_rest(
    db_url: str, serve_processes: ServeProcesses
) -> None:
    engine = create_engine(db_url)
    factory = session_factory(engine)
    try:
        # slow answers: sends are in flight when the kill lands
        async with recording_connector(delay=0.2) as connector:
            await seed_cards(factory, connector.url, CONVERSATIONS, cards=CARDS, prefix="k")
            first = serve_processes.start(db_url)
            await until_received(connector, first, 40)
            first.kill()
            await asyncio.sleep(1.0)  # requests already on the wire still arrive
            received_before = {r.key for r in connector.received}
            async with factory() as session:
                sent = await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.status == "sent")
                )
                recorded = {m.activity["channelData"]["faultId"] for m in sent.all()}
                held = await session.scalar(
                    select(func.count(OutboxMessage.id)).where(
                        OutboxMessage.status == "pending", OutboxMessage.lease_until > utcnow()
                    )
                )
            # The kill landed mid-delivery: the dead process held leases on unsent rows.
            assert held, "the kill came too late: the dead process held no rows"
            in_flight = received_before - recorded

            restarted = time.monotonic()
            second = serve_processes.start(db_url)
            expected = {f"k{n}" for n in range(CARDS)}
            deadline = restarted + RECOVERY_SECONDS
            while set(connector.delivered()) != expected:
                missing = len(expected - set(connector.delivered()))
                assert second.running(), f"the second serve ended:\n{second.tail()}"
                assert time.monotonic() < deadline, (
                    f"{missing} of {CARDS} cards not delivered {RECOVERY_SECONDS} s after the "
                    f"restart ({len(in_flight)} were in flight at the kill)"
                )
                await asyncio.sleep(0.05)

            # Every row ends `sent`, once the last record is written.
            for _ in range(100):
                async with factory() as session:
                    unsent = await session.scalar(
                        select(func.count(OutboxMessage.id)).where(OutboxMessage.status != "sent")
                    )
                if not unsent:
                    break
                await asyncio.sleep(0.05)
            assert unsent == 0
            second.stop()

        twice = {key: count - 1 for key, count in connector.delivered().items() if count > 1}
        # Sent again only what was in flight at the kill: received, never recorded as sent.
        assert set(twice) <= in_flight, sorted(set(twice) - in_flight)
        assert all(extra == 1 for extra in twice.values()), twice
        # At most one send in flight per conversation.
        assert len(in_flight) <= len(CONVERSATIONS), len(in_flight)
    finally:
        await engine.dispose()
