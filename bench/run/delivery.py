"""Measurement 3, delivery: cards written into the outbox for 40 conversations, sent by the
bot's own outbox worker to the limit-enforcing fake connector, cleanly or with 5 % seeded
500/503 answers; timed against the least time Teams' limits allow."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from sqlalchemy import func, select

from bench.fake_connector import APP_WINDOWS, CONVERSATION_WINDOWS
from bench.run.legs import Leg, wait_worker_idle
from bench.run.payloads import BOT_ID, TENANT
from bot.db import transaction, utcnow
from bot.outbox import service as outbox
from bot.outbox.models import ConversationRef, OutboxMessage


def minimum_seconds(total_requests: int, per_conversation: list[int]) -> float:
    """The least time from the first request to the last that Teams' limits allow.

    A window of `count` requests per `seconds` lets request number k (0-based) go no
    earlier than floor(k / count) * seconds after the first; the binding window decides.
    """
    bound = 0.0
    for count, seconds in APP_WINDOWS:
        bound = max(bound, ((total_requests - 1) // count) * seconds)
    for n in per_conversation:
        for count, seconds in CONVERSATION_WINDOWS:
            bound = max(bound, ((n - 1) // count) * seconds)
    return bound


async def delivery_run(leg: Leg, run: int, *, faulty: bool) -> dict[str, Any]:
    """One delivery run on a service of its own of the fake connector."""
    plan = leg.plan
    assert leg.card_template is not None
    name = leg.tag("faulty" if faulty else "clean").lower()
    seed = 1000 * run + (7 if faulty else 3) + (0 if leg.kind == "sqlite" else 500)
    service = leg.connector.add_service(
        name, fault_rate=plan.fault_rate if faulty else 0.0, seed=seed
    )
    idle_wait = await wait_worker_idle(leg)
    service_url = leg.connector.url(name)
    conversations = [f"19:{name}-c{c:02d}@thread.tacv2" for c in range(plan.conversations)]
    assignment = [conversations[i % len(conversations)] for i in range(plan.cards)]
    random.Random(seed).shuffle(assignment)  # noqa: S311 - a seeded mix, not security
    ids = [f"{name}-{i:05d}" for i in range(plan.cards)]
    now = utcnow()
    async with transaction(leg.db) as session:
        for conversation in conversations:
            session.add(
                ConversationRef(
                    kind="channel",
                    key=conversation,
                    conversation_id=conversation,
                    service_url=service_url,
                    tenant_id=TENANT,
                    bot_id=BOT_ID,
                    usable=True,
                    updated_at=now,
                )
            )
        for bench_id, conversation in zip(ids, assignment, strict=True):
            activity = {**leg.card_template, "channelData": {"benchId": bench_id}}
            outbox.enqueue(
                session,
                purpose="bench_delivery",
                target_kind="channel",
                target=conversation,
                activity=activity,
                unit_id=None,
            )
    committed = time.monotonic()
    expected = set(ids)
    counts = [assignment.count(c) for c in conversations]
    clean_minimum = minimum_seconds(plan.cards, counts)
    deadline = committed + 2 * clean_minimum + 15.0
    complete = False
    while time.monotonic() < deadline:
        if sum(1 for i in ids if service.by_bench_id[i]) == len(ids):
            complete = True
            break
        await asyncio.sleep(0.05)
    # the worker records each send after the answer: wait for the rows, then for stragglers
    not_sent = await rows_not_sent(leg, name)
    while not_sent and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        not_sent = await rows_not_sent(leg, name)
    await asyncio.sleep(1.0)
    summary = service.summary(expected)
    per_conversation = list(service.per_conversation.values()) or [0]
    minimum = minimum_seconds(plan.cards + service.faults, per_conversation)
    last = service.last_delivery or time.monotonic()
    total = last - committed
    figures: dict[str, Any] = {
        "run": run,
        "cards": plan.cards,
        "conversations": plan.conversations,
        "fault_rate": service.fault_rate,
        **summary,
        "rows_not_sent": not_sent,
        "total_s": round(total, 3),
        "span_s": round(last - (service.first_request or last), 3),
        "first_request_after_s": round((service.first_request or last) - committed, 3),
        "minimum_s": minimum,
        "clean_minimum_s": clean_minimum,
        "factor": round(total / minimum, 3) if minimum else None,
        "share_429": round(service.throttled / max(1, service.requests), 4),
        "idle_wait_s": round(idle_wait, 1),
        "timed_out": not complete,
    }
    return figures


async def rows_not_sent(leg: Leg, name: str) -> int:
    """Outbox rows of the delivery run `name` that are not yet `sent`."""
    async with leg.db() as session:
        return int(
            await session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.purpose == "bench_delivery",
                    OutboxMessage.status != "sent",
                    OutboxMessage.target.like(f"19:{name}-%"),
                )
            )
            or 0
        )
