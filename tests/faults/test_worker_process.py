"""`serve` runs the outbox worker in a process of its own (`bot.outbox.child`): the cards
go out from that process, its sends show on `serve`'s /metrics, a commit in `serve` wakes
it long before its poll, a killed worker is started again and nothing is lost, it never
outlives `serve`, and it hears when `serve` is busy (clicks first)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.faults.connector import RecordingConnector, recording_connector, seed_cards
from tests.faults.processes import Serve, ServeProcesses
from tests.harness import ANNA, Teams
from tests.helpers import process_alive as alive

Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
async def connector() -> AsyncIterator[RecordingConnector]:
    async with recording_connector() as started:
        yield started


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


async def worker_of(serve: Serve, other_than: int | None = None, timeout: float = 30.0) -> int:
    """The pid of serve's outbox worker process, once it runs (and is not `other_than`)."""
    deadline = time.monotonic() + timeout
    while True:
        assert serve.running(), f"serve ended:\n{serve.tail()}"
        workers = [
            pid
            for pid in children(serve.popen.pid)
            if "worker --managed" in cmdline(pid) and pid != other_than and alive(pid)
        ]
        if workers:
            assert len(workers) == 1, workers
            return workers[0]
        assert time.monotonic() < deadline, f"no worker process:\n{serve.tail()}"
        await asyncio.sleep(0.1)


def base_url(serve: Serve) -> str:
    args = [str(a) for a in serve.popen.args]  # type: ignore[union-attr]
    return f"http://127.0.0.1:{args[args.index('--port') + 1]}"


async def until_ready(serve: Serve) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{base_url(serve)}/readyz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert serve.running(), serve.tail()
            assert time.monotonic() < deadline, f"serve not ready:\n{serve.tail()}"
            await asyncio.sleep(0.1)


async def sends_ok(serve: Serve) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url(serve)}/metrics") as answer:
        text = await answer.text()
    found = re.search(r'^frakturkedjan_outbox_sends_total\{result="ok"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def delivered(connector: RecordingConnector, prefix: str, count: int) -> None:
    await connector.wait_for(
        lambda: {f"{prefix}{n}" for n in range(count)} <= set(connector.delivered()),
        timeout=30,
        what=f"{count} cards {prefix}…",
    )


async def test_the_worker_process_sends_reports_and_is_started_again_when_killed(
    db_url: str, factory: Factory, connector: RecordingConnector, serve_processes: ServeProcesses
) -> None:
    serve = serve_processes.start(db_url)
    worker = await worker_of(serve)
    conversations = [f"19:first-{n}@thread.tacv2" for n in range(6)]
    await seed_cards(factory, connector.url, conversations, cards=24, prefix="a")
    await delivered(connector, "a", 24)
    # the sends were the worker process's; serve's /metrics shows them
    deadline = time.monotonic() + 10
    while await sends_ok(serve) < 24:
        assert time.monotonic() < deadline, "the worker's sends never reached /metrics"
        await asyncio.sleep(0.2)

    os.kill(worker, signal.SIGKILL)
    again = await worker_of(serve, other_than=worker)
    assert "outbox worker process ended" in serve.tail(200)
    conversations = [f"19:second-{n}@thread.tacv2" for n in range(6)]
    await seed_cards(factory, connector.url, conversations, cards=12, prefix="b")
    await delivered(connector, "b", 12)
    assert set(connector.delivered().values()) == {1}  # none twice

    serve.stop()
    assert not serve.running()
    deadline = time.monotonic() + 10
    while alive(again):
        assert time.monotonic() < deadline, "the worker outlived serve"
        await asyncio.sleep(0.1)
    assert "outbox worker stopped" in serve.tail(20)


async def test_a_commit_in_serve_wakes_the_worker_long_before_its_poll(
    db_url: str, factory: Factory, connector: RecordingConnector, serve_processes: ServeProcesses
) -> None:
    serve = serve_processes.start(db_url, OUTBOX_POLL_SECONDS="120")
    await worker_of(serve)
    await until_ready(serve)
    await asyncio.sleep(1.5)  # its first pass, at start, is over
    conversations = [f"19:quiet-{n}@thread.tacv2" for n in range(3)]
    await seed_cards(factory, connector.url, conversations, cards=6, prefix="q")
    await asyncio.sleep(1.5)
    assert not connector.delivered(), "sent without a wake-up: the poll is 120 s"
    # storing a conversation reference is a commit that wakes the outbox
    async with aiohttp.ClientSession() as http:
        teams = Teams(http, base_url(serve), connector.url)
        started = time.monotonic()
        await teams.install_personal(ANNA)
    await delivered(connector, "q", 6)
    assert time.monotonic() - started < 10


async def test_the_worker_process_ends_when_serve_is_killed_alone(
    db_url: str, serve_processes: ServeProcesses
) -> None:
    serve = serve_processes.start(db_url)
    worker = await worker_of(serve)
    os.kill(serve.popen.pid, signal.SIGKILL)  # serve only, not its process group
    serve.popen.wait(timeout=10)
    deadline = time.monotonic() + 20
    while alive(worker):  # end of file on its stdin ends it
        assert time.monotonic() < deadline, "the worker outlived a killed serve"
        await asyncio.sleep(0.1)


async def test_inline_keeps_one_process(
    db_url: str, factory: Factory, connector: RecordingConnector, serve_processes: ServeProcesses
) -> None:
    serve = serve_processes.start(db_url, OUTBOX_WORKER="inline")
    await until_ready(serve)
    await seed_cards(factory, connector.url, ["19:one@thread.tacv2"], cards=3, prefix="i")
    await delivered(connector, "i", 3)
    assert not [p for p in children(serve.popen.pid) if "worker" in cmdline(p)]
    assert await sends_ok(serve) >= 3  # counted in serve itself


async def _held_body(ready: asyncio.Event, release: asyncio.Event) -> AsyncIterator[bytes]:
    yield b"{"
    ready.set()
    await release.wait()
    yield b"}"


async def gave_way(serve: Serve) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url(serve)}/metrics") as answer:
        text = await answer.text()
    found = re.search(r"^frakturkedjan_outbox_gave_way_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_the_worker_process_gives_way_while_serve_is_busy(
    db_url: str, factory: Factory, serve_processes: ServeProcesses
) -> None:
    """Four requests in flight at `serve` reach its worker process over the pipe: the
    worker counts that it gave way (its metrics, passed up to serve's /metrics)."""
    serve = serve_processes.start(db_url)
    await worker_of(serve)
    await until_ready(serve)
    assert await gave_way(serve) == 0.0
    release = asyncio.Event()
    readies = [asyncio.Event() for _ in range(4)]
    async with aiohttp.ClientSession() as http:
        held = [
            asyncio.create_task(
                http.post(f"{base_url(serve)}/api/messages", data=_held_body(ready, release))
            )
            for ready in readies
        ]
        try:
            await asyncio.gather(*(ready.wait() for ready in readies))
            deadline = time.monotonic() + 15
            while await gave_way(serve) < 1:
                assert time.monotonic() < deadline, f"the worker never gave way:\n{serve.tail()}"
                await asyncio.sleep(0.2)
        finally:
            release.set()
            for answer in await asyncio.gather(*held, return_exceptions=True):
                if isinstance(answer, aiohttp.ClientResponse):
                    answer.release()
