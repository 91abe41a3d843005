"""The database goes away and comes back while answers arrive and cards are being sent: on a
private PostgreSQL cluster of this test, stopped at once (as a crash) and started again.
Nothing acknowledged is lost (every answer taken in with 201, or recognised as a duplicate,
has its case and its cards delivered), no card is sent twice beyond the in-flight window,
and the outbox worker goes on once the database is back."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.cases.models import Case
from bot.db import create_engine, session_factory, transaction
from bot.directory.service import load_directory
from bot.migrate import upgrade
from bot.outbox.models import OutboxMessage
from tests.faults.connector import RecordingConnector, activity_key, recording_connector
from tests.faults.postgres import PrivateCluster
from tests.harness import ANNA, MARIA, Teams, settings_for
from tests.helpers import FIXTURES, fixture_bytes

ANSWERS = 40
SAMPLES = ("01_osteoporosis_named.json", "03_osteopenia_jour_vc.json")  # Anna; the channel
OUTAGE_AFTER = 10  # answers acknowledged before the database goes away
OUTAGE_SECONDS = 2.0


def answer(n: int) -> bytes:
    """Sample bundle n (alternating), with its own answer identifier."""
    bundle = json.loads(fixture_bytes(SAMPLES[n % 2]))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "DiagnosticReport":
            resource["identifier"][0]["value"] += f"-outage{n}"
    return json.dumps(bundle, ensure_ascii=False).encode()


async def create_database(cluster: PrivateCluster) -> str:
    connection = await asyncpg.connect(cluster.dsn(), timeout=10)
    try:
        await connection.execute('CREATE DATABASE "fk"')
    finally:
        await connection.close()
    url = cluster.url("fk")
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        async with transaction(session_factory(engine)) as session:
            await load_directory(
                session, (FIXTURES / "directory.yaml").read_text(encoding="utf-8"), actor="test"
            )
    finally:
        await engine.dispose()
    return url


@asynccontextmanager
async def bot_sending_to(
    url: str, connector: RecordingConnector
) -> AsyncIterator[tuple[Teams, aiohttp.ClientSession]]:
    app = create_app(settings_for(url, outbox_poll_seconds=0.05), local=True)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Teams(http, str(server.make_url("")).rstrip("/"), connector.url), http
    finally:
        await server.close()


async def test_database_restart_under_load_loses_nothing_acknowledged(
    private_postgres: PrivateCluster,
) -> None:
    url = await create_database(private_postgres)
    engine = create_engine(url)
    factory = session_factory(engine)
    acknowledged: dict[int, int] = {}  # answer number -> case id
    refused = Counter[int]()
    restarted_at: float | None = None
    try:
        async with (
            recording_connector(delay=0.05) as connector,
            bot_sending_to(url, connector) as (teams, _),
        ):
            await teams.install_personal(ANNA)
            await teams.install_channel(MARIA)
            enough = asyncio.Event()  # time for the outage
            numbers: asyncio.Queue[int] = asyncio.Queue()
            for n in range(ANSWERS):
                numbers.put_nowait(n)

            async def sender() -> None:
                """An integration engine: posts each answer until it is acknowledged."""
                while not numbers.empty():
                    n = numbers.get_nowait()
                    deadline = time.monotonic() + 30
                    while True:
                        status, body = await teams.intake(answer(n))
                        if status in (200, 201):
                            acknowledged[n] = body["case_id"]
                            if len(acknowledged) >= OUTAGE_AFTER:
                                enough.set()
                            break
                        assert status == 503, (status, body)  # only "try again later"
                        refused[n] += 1
                        assert time.monotonic() < deadline, f"answer {n} never taken in"
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(0.02)

            async def outage() -> None:
                nonlocal restarted_at
                await enough.wait()
                await asyncio.to_thread(private_postgres.stop)
                await asyncio.sleep(OUTAGE_SECONDS)
                await asyncio.to_thread(private_postgres.start)
                restarted_at = time.monotonic()

            await asyncio.gather(outage(), *(sender() for _ in range(4)))
            assert refused, "no answer arrived while the database was away"
            assert restarted_at is not None
            # the worker keeps going: every row is sent in the end
            deadline = time.monotonic() + 30
            while True:
                async with factory() as session:
                    rows = (await session.scalars(select(OutboxMessage))).all()
                if rows and all(row.status == "sent" for row in rows):
                    break
                assert time.monotonic() < deadline, (
                    f"30 s after the restart, outbox rows by status: "
                    f"{dict(Counter(row.status for row in rows))}"
                )
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.2)  # a send still on the wire would show up now

        async with factory() as session:
            cases = set((await session.scalars(select(Case.id))).all())
            case_of_row = [row.case_id for row in rows]
        assert len(acknowledged) == ANSWERS
        assert set(acknowledged.values()) <= cases  # nothing acknowledged is lost
        assert set(acknowledged.values()) <= set(case_of_row)  # each has its cards
        expected = Counter(activity_key(row.activity) for row in rows)
        delivered = connector.delivered()
        assert expected - delivered == Counter()  # every card arrived
        twice = delivered - expected
        conversations = {r.conversation for r in connector.received}
        assert sum(twice.values()) <= len(conversations), twice  # the in-flight window
        after_restart = [r for r in connector.received if r.at > restarted_at and r.status < 300]
        assert after_restart, "nothing was delivered after the database came back"
    finally:
        await engine.dispose()
