"""A new message the worker draws when it sends it (`bot.outbox.views.to_draw`): the card
the views draw then, with the row's own notification text; never nothing when nothing
can be drawn; and the physician's decision card posted so by the intake unless it carries
a notice (issue 15: the intake renders no card for it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.db import transaction
from bot.outbox import service as outbox
from bot.outbox.models import OutboxMessage
from bot.outbox.views import DRAW_AT_SEND, Shown, card_hash, to_draw
from bot.outbox.worker import OutboxWorker
from tests.helpers import fixture_bytes, ingest_sample
from tests.outbox.test_updates import USER, Sender, Views, _pacer, _rows, add_chat

DRAWN = {
    "type": "message",
    "summary": "Uppdaterat: Ärende 7",
    "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {}}],
}


async def _to_draw(factory: Any) -> None:
    async with transaction(factory) as session:
        add_chat(session)
        outbox.enqueue(
            session,
            purpose="decision_card",
            target_kind="user",
            target=USER,
            activity=to_draw(summary="DXA-svar att bedöma: Ärende 7"),
            unit_id=None,
            case_id=7,
        )


async def test_the_card_is_drawn_when_sent_with_the_rows_notification_text(
    factory: Any,
) -> None:
    await _to_draw(factory)
    sender, views = Sender(), Views(fixed=DRAWN)
    assert await OutboxWorker(factory, sender, pacer=_pacer(), views=views).drain() == 1
    sent = {**DRAWN, "summary": "DXA-svar att bedöma: Ärende 7"}
    assert sender.posted == [sent]
    assert views.asked == [Shown("decision_card", 7, None, "user", USER, "user")]
    [row] = await _rows(factory)
    assert row.status == "sent"
    assert row.shown_hash == card_hash(sent)  # an update that draws the same is not sent


async def test_with_nothing_drawn_its_text_goes_never_nothing(factory: Any) -> None:
    await _to_draw(factory)
    sender = Sender()
    assert await OutboxWorker(factory, sender, pacer=_pacer(), views=None).drain() == 1
    text = {
        "type": "message",
        "summary": "DXA-svar att bedöma: Ärende 7",
        "text": "DXA-svar att bedöma: Ärende 7",
    }
    assert sender.posted == [text]  # the marker stays home
    [row] = await _rows(factory)
    assert row.status == "sent"


class _Nothing(Views):
    async def current(self, shown: Shown, **_: Any) -> dict[str, Any] | None:
        self.asked.append(shown)
        return None  # the case is gone


async def test_a_case_gone_before_the_send_gets_the_text(factory: Any) -> None:
    await _to_draw(factory)
    sender, views = Sender(), _Nothing()
    assert await OutboxWorker(factory, sender, pacer=_pacer(), views=views).drain() == 1
    assert len(views.asked) == 1
    assert [a.get("text") for a in sender.posted] == ["DXA-svar att bedöma: Ärende 7"]
    assert DRAW_AT_SEND not in sender.posted[0]


async def test_the_intake_posts_the_decision_card_to_draw(factory: Any) -> None:
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    case_id = await ingest_sample(factory, "01_osteoporosis_named.json", now=now)
    async with factory() as session:
        row = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.case_id == case_id, OutboxMessage.purpose == "decision_card"
            )
        )
    assert row is not None
    assert row.activity == to_draw(summary=f"DXA-svar att bedöma: Ärende {case_id}")


async def test_a_correction_s_card_carries_its_notice_and_is_drawn_at_once(
    factory: Any,
) -> None:
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    from bot.flows.take_in_answer import ingest

    first = await ingest_sample(factory, "01_osteoporosis_named.json", now=now)
    result = await ingest(
        factory,
        body=fixture_bytes("07_amended_01.json"),
        content_type="application/fhir+json",
        sender="test",
        channel="cli",
        secret="s",
        now=now,
    )
    assert result.body.get("outcome") == "correction", result.body
    corrected = result.case_id
    async with factory() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.case_id == corrected,
                    OutboxMessage.purpose == "decision_card",
                )
            )
        ).all()
    assert len(rows) == 1
    assert DRAW_AT_SEND not in rows[0].activity  # the notice is the intake's to render
    [attachment] = rows[0].activity["attachments"]
    assert f"Korrigerat svar – ersätter Ärende {first}" in str(attachment["content"])
