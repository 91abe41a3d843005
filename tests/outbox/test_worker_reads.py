"""On SQLite the outbox worker process draws its cards on a reading connection of its
own (`bot.db.reading_factory`), so that those reads never hold the write lock `serve`'s
transactions need; its claims, routes and records still go through the main one (a
reading connection refuses writes). Issue 15: the worker drawing cards under load held
`serve` up on the lock, and the click p99 with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.config import Settings
from bot.db import reading_factory, transaction
from bot.metrics import Metrics
from bot.worker_process import outbox_worker
from tests.helpers import ingest_sample
from tests.outbox.test_updates import Sender, _rows, add_chat

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def test_the_worker_draws_on_its_reading_connection(db_url: str, factory: Any) -> None:
    reads = reading_factory(db_url)
    # PostgreSQL's readers never wait for writers: there the worker reads on its factory
    assert (reads is None) == db_url.startswith("postgresql")
    source = reads or factory
    opened: list[int] = []

    def counting() -> Any:
        opened.append(1)
        return source()

    try:
        case_id = await ingest_sample(factory, "01_osteoporosis_named.json", now=NOW)
        async with transaction(factory) as session:
            add_chat(session)
        sender = Sender()
        worker = outbox_worker(
            Settings(_env_file=None),  # type: ignore[call-arg]
            factory,
            sender,
            Metrics(),
            lambda: NOW,
            reads=counting,  # type: ignore[arg-type]
        )
        assert await worker.drain() == 1
        # drawn on the reading connection: the physician's decision card
        assert len(opened) == 1
        [posted] = sender.posted
        assert posted["summary"] == f"DXA-svar att bedöma: Ärende {case_id}"
        [attachment] = posted["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert "case.decide" in str(attachment["content"])
        # recorded through the main connection
        [row] = await _rows(factory)
        assert (row.status, row.activity_id) == ("sent", "posted-1")
    finally:
        if reads is not None:
            await reads.kw["bind"].dispose()
