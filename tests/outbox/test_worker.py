"""The outbox: retries on 429/5xx with Retry-After, unusable conversations, waiting for an
install, and nothing lost across a restart. Through the real app and a fake connector."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from bot.audit.models import AuditEntry
from bot.outbox.models import ConversationRef, OutboxMessage
from tests.harness import ANNA, CHANNEL, MARIA, personal_conversation, running_bot
from tests.helpers import fixture_bytes


async def _rows(factory: Any) -> list[OutboxMessage]:
    async with factory() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_429_is_retried_after_retry_after_and_sent_once(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        connector.fail_next(429, headers={"Retry-After": "1"}, code="Throttled")
        connector.fail_next(503)
        started = time.monotonic()
        status, _ = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 201
        await connector.wait_count(personal_conversation(ANNA), 1, timeout=30)
        assert time.monotonic() - started >= 1.0  # Retry-After honoured
        assert connector.attempts == 3
    [row] = await _rows(factory)
    assert row.status == "sent" and row.attempts == 3 and row.activity_id == "act-1"
    assert len(connector.sent) == 1


async def test_permanent_refusal_is_given_up_and_audited(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        connector.fail_next(400, code="BadSyntax")
        await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        await connector.wait_for(lambda: connector.attempts >= 1)
        await connector.wait_for(lambda: True)
    for _ in range(50):
        rows = await _rows(factory)
        if rows[0].status == "failed":
            break
    assert rows[0].status == "failed" and rows[0].last_status == 400
    async with factory() as session:
        give_up = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.give_up"))
        ).all()
    assert len(give_up) == 1 and give_up[0].detail["status"] == 400


async def test_blocked_personal_chat_falls_back_and_tells_the_channel(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        connector.fail_next(403, code="ConversationBlockedByUser")
        await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        sent = await connector.wait_count(CHANNEL, 2, timeout=15)
        texts = [s.text for s in sent]
        assert any("Kan inte nå en användare" in t for t in texts)
        assert any("kunde inte levereras till Anna Berg personligen" in t for t in texts)
        assert connector.to(personal_conversation(ANNA)) == []
    async with factory() as session:
        ref = await session.scalar(
            select(ConversationRef).where(ConversationRef.kind == "personal")
        )
        assert (
            ref is not None
            and not ref.usable
            and ref.unusable_reason == "ConversationBlockedByUser"
        )


async def test_waits_for_the_channel_install_and_survives_a_restart(
    db_url: str, factory: Any
) -> None:
    async with running_bot(db_url) as (teams, connector):
        status, _ = await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        assert status == 201
        await connector.wait_for(lambda: True)
    rows = await _rows(factory)
    assert [r.status for r in rows] == ["pending"]
    # the bot was down; it starts again, the channel is installed, and the card goes out
    async with running_bot(db_url) as (teams, connector):
        await teams.install_channel(MARIA)
        [sent] = await connector.wait_count(CHANNEL, 1, timeout=70)
        assert sent.card is not None
    rows = await _rows(factory)
    assert [r.status for r in rows] == ["sent"]
