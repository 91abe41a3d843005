"""The outbox worker gives way while `serve` is busy answering (issue 15): requests in
flight counted (`bot.state.InFlight`), the worker told (in process, or its child over the
pipe), and its sends slowed to one each `GIVE_WAY_SPACING` until `serve` is calm again;
nothing is held back for good."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp

from bot.outbox.child import WorkerChild
from bot.outbox.pacing import GIVE_WAY_SPACING
from bot.state import BUSY_AT, CALM_AT, InFlight
from tests.harness import ANNA, personal_conversation, running_bot
from tests.helpers import fixture_bytes
from tests.outbox.test_child import script, until

ANNA_CHAT = personal_conversation(ANNA)

# The real child side: writes each busy (1) or calm (0) it hears, and the wake-ups.
TOLD = """
import asyncio, sys
from pathlib import Path
from bot.outbox.child import ParentLink

out = Path(sys.argv[1])
heard: list[str] = []

async def main() -> None:
    ended = asyncio.Event()

    def note(what: str) -> None:
        heard.append(what)
        out.write_text(" ".join(heard))

    link = ParentLink(lambda: note("w"), ended.set, lambda busy: note("1" if busy else "0"))
    await link.listen()

asyncio.run(main())
"""


def test_busy_from_the_fourth_request_in_flight_until_one_is_left() -> None:
    heard: list[bool] = []
    in_flight = InFlight()
    in_flight.listeners.append(heard.append)
    for _ in range(BUSY_AT - 1):
        in_flight.enter()
    assert heard == []
    in_flight.enter()
    in_flight.enter()
    assert heard == [True]  # told once
    while in_flight.count > CALM_AT + 1:
        in_flight.leave()
    assert heard == [True]
    in_flight.leave()
    assert heard == [True, False] and in_flight.count == CALM_AT
    in_flight.leave()
    assert heard == [True, False]


async def test_the_child_hears_busy_and_calm_and_again_after_a_restart(tmp_path: Path) -> None:
    out = tmp_path / "heard.txt"
    child = WorkerChild([*script(tmp_path, "told", TOLD), str(out)])
    await child.start()
    try:
        child.give_way(True)
        await until(lambda: out.exists() and out.read_text() == "1", "busy")
        child.wake()
        await until(lambda: out.read_text() == "1 w", "a wake-up, still busy")
        child.give_way(False)
        await until(lambda: out.read_text() == "1 w 0", "calm")
        child.give_way(True)
        await until(lambda: out.read_text() == "1 w 0 1", "busy again")
        pid = child.pid
        assert pid is not None
        out.unlink()
        os.kill(pid, signal.SIGKILL)  # a new child is told that serve is busy
        await until(lambda: child.pid != pid and out.exists(), "the new child", timeout=15)
        await until(lambda: out.read_text() == "1", "busy, told to the new child")
    finally:
        await child.stop()


async def _held(ready: asyncio.Event, release: asyncio.Event) -> AsyncIterator[bytes]:
    """A request body that is not finished until `release`: its request stays in flight."""
    yield b"{"
    ready.set()
    await release.wait()
    yield b"}"


def _bundle(n: int) -> bytes:
    bundle = json.loads(fixture_bytes("02_normal_named.json"))  # Anna's patient
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "DiagnosticReport":  # an answer of its own
            entry["resource"]["identifier"][0]["value"] += f"-{n}"
    return json.dumps(bundle).encode()


async def test_the_worker_sends_five_a_second_while_requests_wait(
    db_url: str, factory: Any
) -> None:
    """Four requests held in flight make `serve` busy: the decision cards of six bundles
    go to Anna at most five a second. Once the requests end, the rest go at once."""
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        release = asyncio.Event()
        readies = [asyncio.Event() for _ in range(BUSY_AT)]
        async with aiohttp.ClientSession() as http:
            held = [
                asyncio.create_task(
                    http.post(f"{teams.bot_url}/api/messages", data=_held(ready, release))
                )
                for ready in readies
            ]
            await asyncio.gather(*(ready.wait() for ready in readies))
            await asyncio.sleep(0.1)  # the bodies' first bytes reached serve
            for n in range(6):
                status, body = await teams.intake(_bundle(n))
                assert status == 201, body
            arrived: list[float] = []
            deadline = time.monotonic() + 10
            while len(arrived) < 4 and time.monotonic() < deadline:
                arrived += [time.monotonic()] * (len(connector.to(ANNA_CHAT)) - len(arrived))
                await asyncio.sleep(0.005)
            assert len(arrived) == 4, arrived
            gaps = [b - a for a, b in pairwise(arrived)]
            assert min(gaps) >= GIVE_WAY_SPACING * 0.9, gaps
            release.set()
            answers: list[Any] = await asyncio.gather(*held)
            for answer in answers:
                answer.release()
            calm = time.monotonic()
            await connector.wait_count(ANNA_CHAT, 6)
            assert time.monotonic() - calm < GIVE_WAY_SPACING * 2  # two left, at once
            async with http.get(f"{teams.bot_url}/metrics") as response:
                text = await response.text()
            assert "frakturkedjan_outbox_gave_way_total 1.0" in text.splitlines()
