"""Updates of posted card messages, as the worker sends them: drawn at send time by the
card views, in the conversation the message went to, only the last of several, never one
that changes nothing, and none for a message that is gone or was never posted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import transaction, utcnow
from bot.outbox import results
from bot.outbox import service as outbox
from bot.outbox.claims import Leases
from bot.outbox.models import ConversationRef, OutboxMessage
from bot.outbox.pacing import Pacer
from bot.outbox.routing import LATER_UPDATE, Route
from bot.outbox.updates import Ready
from bot.outbox.views import Shown, card_hash
from bot.outbox.worker import OutboxWorker

CHAT = "a:personal-101"
USER = "00000000-0000-0000-0000-000000000101"


@dataclass(frozen=True)
class Result:
    ok: bool = True
    status: int = 200
    activity_id: str | None = "posted-1"
    retry_after: float | None = None
    error_code: str | None = None


class Sender:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []
        self.updated: list[tuple[str, dict[str, Any]]] = []
        self.answer = Result()

    async def send_activity(
        self, service_url: str, conversation_id: str, activity: dict[str, Any]
    ) -> Result:
        self.posted.append(activity)
        return Result()

    async def update_activity(
        self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> Result:
        self.updated.append((activity_id, activity))
        return self.answer


class Views:
    """Draws a card saying how many times it was asked, or a fixed one."""

    def __init__(self, fixed: dict[str, Any] | None = None) -> None:
        self.asked: list[Shown] = []
        self.fixed = fixed

    async def current(
        self, shown: Shown, *, session: AsyncSession | None = None
    ) -> dict[str, Any] | None:
        self.asked.append(shown)
        return self.fixed or {"type": "message", "text": f"drawn {len(self.asked)}"}


POSTED = {"type": "message", "text": "posted"}


def _pacer() -> Pacer:
    return Pacer(conversation_windows=((1000, 1.0),), app_windows=((1000, 1.0),), margin=0.0)


def add_chat(session: AsyncSession) -> None:
    """The user's personal chat with the bot (its conversation reference)."""
    session.add(
        ConversationRef(
            kind="personal",
            key=USER,
            conversation_id=CHAT,
            service_url="http://127.0.0.1:9",
            user_id="29:anna",
        )
    )


async def _posted(factory: Any, *, status: str = "sent") -> int:
    """A decision card posted to the user's chat (sent unless told otherwise)."""
    async with transaction(factory) as session:
        add_chat(session)
        row = outbox.enqueue(
            session,
            purpose="decision_card",
            target_kind="user",
            target=USER,
            activity=POSTED,
            unit_id=None,
            case_id=7,
        )
        await session.flush()
        row.status = status
        if status == "sent":
            row.activity_id = "posted-1"
            row.conversation_id = CHAT
            row.delivered_to = "user"
            row.shown_hash = card_hash(POSTED)
        return row.id


async def _updates(factory: Any, count: int = 1) -> None:
    for _ in range(count):
        async with transaction(factory) as session:
            await outbox.enqueue_updates(session, case_id=7, purposes=["decision_card"])


async def _rows(factory: Any) -> list[OutboxMessage]:
    async with factory() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def _worker(factory: Any, sender: Sender, views: Views | None) -> OutboxWorker:
    return OutboxWorker(factory, sender, pacer=_pacer(), views=views)


async def test_only_the_last_of_several_updates_is_sent_with_the_card_drawn_now(
    factory: Any,
) -> None:
    posted = await _posted(factory)
    await _updates(factory, 3)
    sender, views = Sender(), Views()
    assert await _worker(factory, sender, views).drain() == 3
    drawn = {"type": "message", "text": "drawn 1", "id": "posted-1"}
    assert sender.updated == [("posted-1", drawn)]
    assert sender.posted == []
    assert views.asked == [Shown("decision_card", 7, None, "user", USER, "user")]
    rows = await _rows(factory)
    assert [r.status for r in rows] == ["sent", "skipped", "skipped", "sent"]
    assert rows[0].id == posted
    # the message now shows the drawn card: an update drawing it again is not sent
    assert rows[0].shown_hash == card_hash({"type": "message", "text": "drawn 1"})
    await _updates(factory)
    assert await _worker(factory, sender, Views({"type": "message", "text": "drawn 1"})).drain()
    assert len(sender.updated) == 1
    assert (await _rows(factory))[-1].status == "skipped"


async def test_an_update_of_a_deleted_message_marks_it_gone(factory: Any) -> None:
    await _posted(factory)
    await _updates(factory)
    sender = Sender()
    sender.answer = Result(ok=False, status=404, activity_id=None, error_code="NotFound")
    await _worker(factory, sender, Views()).drain()
    assert [r.status for r in await _rows(factory)] == ["gone", "gone"]
    # no more updates of it are even written
    await _updates(factory)
    assert len(await _rows(factory)) == 2


async def test_updates_of_a_message_never_posted_or_failed_are_skipped(factory: Any) -> None:
    await _posted(factory, status="failed")
    await _updates(factory)  # a failed message is not updated: nothing written
    assert len(await _rows(factory)) == 1


async def test_an_update_waits_for_its_message_still_being_posted_elsewhere(
    factory: Any,
) -> None:
    posted = await _posted(factory, status="pending")
    await _updates(factory)
    worker = _worker(factory, Sender(), Views())
    # another worker holds the posted message: this one gets only the update
    async with transaction(factory) as session:
        message = await session.get(OutboxMessage, posted)
        assert message is not None
        message.lease_until = utcnow() + timedelta(seconds=30)
    await worker.drain()
    [first, update] = await _rows(factory)
    assert (update.status, update.last_error) == ("pending", "the message is not posted yet")
    assert update.next_attempt_at > update.created_at


async def test_without_card_views_updates_are_skipped(factory: Any) -> None:
    await _posted(factory)
    await _updates(factory)
    sender = Sender()
    await _worker(factory, sender, None).drain()
    assert sender.updated == []
    assert [r.status for r in await _rows(factory)] == ["sent", "skipped"]


# The statements of a pass: lower this when the worker needs fewer, never raise it
UPDATE_PASS_BUDGET = 4  # claim (returning the row), posted message with its reference,
# the message now and whether a later update follows, the recording of both rows


async def test_an_update_costs_a_few_statements(factory: Any) -> None:
    await _posted(factory)
    await _updates(factory)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    sender = Sender()
    engine = factory.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await _worker(factory, sender, Views()).drain() == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(sender.updated) == 1
    assert len(statements) <= UPDATE_PASS_BUDGET, "\n".join(statements)
    [posted, update] = await _rows(factory)
    assert (update.status, update.attempts, update.activity_id) == ("sent", 1, "posted-1")
    assert posted.status == "sent" and posted.attempts == 0
    assert posted.shown_hash == update.shown_hash == card_hash(sender.updated[0][1])


SUPERSEDED_PASS_BUDGET = 5  # as above, and one UPDATE for the updates a later one replaces


async def test_updates_a_later_one_replaces_cost_one_statement_together(factory: Any) -> None:
    # a secretary ticking four tasks off in a row: four updates of the same card, claimed
    # together; the first three are skipped at once, without a read or a transaction each
    await _posted(factory)
    await _updates(factory, 4)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    sender, views = Sender(), Views()
    engine = factory.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await _worker(factory, sender, views).drain() == 4
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= SUPERSEDED_PASS_BUDGET, "\n".join(statements)
    assert len(views.asked) == 1 and len(sender.updated) == 1
    rows = await _rows(factory)
    assert [(r.status, r.last_error) for r in rows[1:]] == [
        ("skipped", LATER_UPDATE),
        ("skipped", LATER_UPDATE),
        ("skipped", LATER_UPDATE),
        ("sent", None),
    ]


async def test_an_update_claimed_apart_from_a_later_one_is_skipped_when_sent(
    factory: Any,
) -> None:
    # the later update is not in the same claim (a claim of one row at a time): the
    # earlier one finds it in the database when it is about to be drawn
    await _posted(factory)
    await _updates(factory, 2)
    sender, views = Sender(), Views()
    worker = OutboxWorker(factory, sender, pacer=_pacer(), views=views, batch_size=1)
    assert await worker.drain() == 2
    assert len(views.asked) == 1 and len(sender.updated) == 1
    rows = await _rows(factory)
    assert [(r.status, r.last_error) for r in rows[1:]] == [
        ("skipped", LATER_UPDATE),
        ("sent", None),
    ]


async def test_a_sent_update_recorded_twice_changes_nothing_more(factory: Any) -> None:
    # a retry of the recording after a commit whose answer was lost
    posted = await _posted(factory)
    await _updates(factory)
    [_, update] = await _rows(factory)
    route = Route(1, "http://127.0.0.1:9", CHAT, "user", target=("user", USER))
    ready = Ready({"type": "message", "text": "new"}, "hash-new", "posted-1", update_of=posted)
    leases = Leases(factory, seconds=10, batch=10)
    for _ in range(2):
        async with transaction(factory) as session:
            delay = await results.record(
                session, update.id, route, Result(), ready, leases=leases, notice_card=None
            )
        assert delay is None
    rows = {r.id: r for r in await _rows(factory)}
    assert (rows[update.id].status, rows[update.id].attempts) == ("sent", 1)
    assert rows[update.id].shown_hash == rows[posted].shown_hash == "hash-new"
    # the posted message's row keeps all but what it shows
    before = (rows[posted].status, rows[posted].attempts, rows[posted].sent_at)
    assert before == ("sent", 0, None)
    assert (rows[posted].activity_id, rows[posted].delivered_to) == ("posted-1", "user")
