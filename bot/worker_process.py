"""`frakturkedjan worker`: the outbox worker on its own (`bot.outbox.child` says why), and
what the serving process builds its own worker from. Imports only what sending needs, so
that the worker process stays small."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import create_engine, is_sqlite, reading_factory, session_factory, utcnow
from bot.messaging.cards import notice_card
from bot.messaging.views import MessageViews
from bot.metrics import Metrics
from bot.outbox.child import METRICS_EVERY_SECONDS, ParentLink
from bot.outbox.sending import Sender
from bot.outbox.worker import OutboxWorker
from bot.preflight import SchemaWatch, check_registration
from bot.teams.connector import ConnectorClient
from bot.teams.registration import Registration
from bot.teams.runtime import TeamsEndpoint, create_endpoint  # imports an SDK when called

log = logging.getLogger("frakturkedjan.worker")


def registration(settings: Settings, *, local: bool) -> Registration:
    return Registration(
        app_id=settings.app_id or None,
        app_password=settings.app_password or None,
        app_type=settings.app_type,
        tenant_id=settings.app_tenant_id or None,
        local=local,
        allowed_tenants=settings.allowed_tenants,
    )


def outbox_worker(
    settings: Settings,
    factory: async_sessionmaker[AsyncSession],
    sender: Sender,
    metrics: Metrics,
    clock: Callable[[], datetime],
    *,
    reads: async_sessionmaker[AsyncSession] | None = None,
) -> OutboxWorker:
    """The outbox worker; `reads` (`bot.db.reading_factory`) for what it only reads to
    draw its cards: the messages its updates replace, and the cards."""
    return OutboxWorker(
        factory,
        sender,
        poll_seconds=settings.outbox_poll_seconds,
        metrics=metrics,
        notice_card=notice_card,
        views=MessageViews(reads or factory, clock=clock),
        reads=reads,
    )


async def run_outbox_worker(settings: Settings, *, local: bool, managed: bool) -> int:
    """`frakturkedjan worker`: the outbox worker alone, until SIGTERM (or SIGINT).

    `managed` is the child `serve` starts (`bot.outbox.child`): it is woken through stdin,
    ends at end of file there (SIGINT, a terminal's Ctrl-C, is `serve`'s to handle), and
    sends its metrics to `serve` through stdout. Otherwise it looks at the outbox every
    `OUTBOX_POLL_SECONDS`. Its exit status.
    """
    check_registration(settings, local=local)
    # a pass at a time, its sends recorded in few transactions: a small PostgreSQL pool
    pool: dict[str, Any] = (
        {} if is_sqlite(settings.database_url) else {"pool_size": 4, "max_overflow": 4}
    )
    engine = create_engine(settings.database_url, **pool)
    schema = SchemaWatch(engine)
    factory = session_factory(engine)
    metrics = Metrics()
    endpoint: TeamsEndpoint | None = None
    if settings.app_id:  # for its outbound token (check_registration: required unless local)
        endpoint = create_endpoint(
            settings.teams_sdk,
            registration(settings, local=local),
            factory=factory,
            on_change=lambda: None,  # it receives no activities
            clock=utcnow,
            metrics=metrics,
        )
    connector = ConnectorClient(
        token_provider=endpoint.token_provider() if endpoint is not None else None
    )
    # on SQLite, drawing its cards on a connection of its own, without the write lock
    reads = reading_factory(settings.database_url)
    worker = outbox_worker(settings, factory, connector, metrics, utcnow, reads=reads)

    def stop() -> None:
        worker.stop()
        schema.close()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop)
    if not managed:  # managed, SIGINT stays ignored (bot.cli)
        loop.add_signal_handler(signal.SIGINT, stop)
    helpers: list[asyncio.Task[None]] = []
    if managed:
        link = ParentLink(worker.wake, stop, worker.give_way)
        helpers.append(asyncio.create_task(link.listen(), name="wake-ups"))

        async def publish() -> None:
            while True:
                link.publish(metrics.worker_text())
                await asyncio.sleep(METRICS_EVERY_SECONDS)

        helpers.append(asyncio.create_task(publish(), name="metrics"))
    log.info("outbox worker running", extra={"managed": managed})
    try:
        await schema.run_while_current(worker.run)
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await connector.close()
        if endpoint is not None:
            await endpoint.close()
        await engine.dispose()
        if reads is not None:
            await reads.kw["bind"].dispose()
    log.info("outbox worker stopped")
    return 0
