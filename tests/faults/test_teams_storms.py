"""Teams answering with 429 (Retry-After) and storms of 500/503: every card is still
delivered exactly once, each conversation's cards arrive in outbox order, and no request
reaches a throttled conversation before its Retry-After has passed. The outbox worker
runs with its real Bot Connector client against a recording connector."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import select

from bot.outbox.models import OutboxMessage
from bot.outbox.worker import OutboxWorker
from bot.teams.connector import ConnectorClient
from tests.faults.connector import Received, recording_connector, seed_cards

CONVERSATIONS = [f"19:storm-{n}@thread.tacv2" for n in range(6)]
PER_CONVERSATION = 6
THROTTLED = CONVERSATIONS[0]


class Storm:
    """The connector's script, by each conversation's requests so far: the throttled
    conversation's 1st and 4th requests get a 429 with Retry-After: 1; every other
    conversation's first two requests get 500 or 503 (a storm: all of them at once, at the
    start), and its fifth one again."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()

    def __call__(
        self, conversation: str, key: str, before: int
    ) -> tuple[int, dict[str, str]] | None:
        number = self.requests[conversation]
        self.requests[conversation] += 1
        if conversation == THROTTLED:
            return (429, {"Retry-After": "1"}) if number in (0, 3) else None
        if number in (0, 1, 4):
            return (500 if number % 2 else 503), {}
        return None


def next_request_after(received: list[Received], throttle: Received) -> Received | None:
    later = [r for r in received if r.conversation == throttle.conversation and r.at > throttle.at]
    return later[0] if later else None


async def test_429_and_5xx_storms_deliver_each_card_once_in_order(factory: Any) -> None:
    expected = {f"s{n}" for n in range(len(CONVERSATIONS) * PER_CONVERSATION)}
    async with recording_connector(script=Storm()) as connector:
        await seed_cards(
            factory,
            connector.url,
            CONVERSATIONS,
            cards=len(CONVERSATIONS) * PER_CONVERSATION,
            prefix="s",
        )
        client = ConnectorClient(token_provider=None)
        worker = OutboxWorker(factory, client, poll_seconds=0.05)
        running = asyncio.create_task(worker.run())
        try:
            await connector.wait_for(
                lambda: set(connector.delivered()) == expected or running.done(),
                timeout=40,
                what="every card delivered",
            )
        finally:
            worker.stop()
            await asyncio.wait_for(running, timeout=10)
            await client.close()

    delivered = connector.delivered()
    assert set(delivered) == expected
    assert [key for key, count in delivered.items() if count > 1] == []  # exactly once
    failures = [r for r in connector.received if r.status >= 500]
    throttles = [r for r in connector.received if r.status == 429]
    assert (len(failures), len(throttles)) == (3 * (len(CONVERSATIONS) - 1), 2)
    for conversation in CONVERSATIONS:
        numbers = [int(key[1:]) for key in connector.delivered_to(conversation)]
        assert numbers == sorted(numbers), (conversation, numbers)
    for throttle in throttles:  # Retry-After honoured
        after = next_request_after(connector.received, throttle)
        assert after is not None and after.at - throttle.at >= 1.0, (throttle, after)
    async with factory() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    assert {row.status for row in rows} == {"sent"}
    requests = {key: sum(1 for r in connector.received if r.key == key) for key in expected}
    assert {row.activity["channelData"]["faultId"]: row.attempts for row in rows} == requests
