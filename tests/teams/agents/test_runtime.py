"""`TEAMS_SDK=agents` without botbuilder: `frakturkedjan serve` runs in a subprocess in
which `botbuilder`, `botframework` and `msrest` cannot be imported (a meta-path finder
refuses them and notes every attempt), and is driven over HTTP as Teams would: installs,
an intake answer, its card, a click on it and a text command.

Also: on a process without the Agents SDK, `TEAMS_SDK=agents` ends `serve` with one line
and exit status 2.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.db import create_engine, session_factory, transaction
from bot.directory.service import load_directory
from tests.harness import (
    ANNA,
    CHANNEL,
    INTAKE_TOKEN,
    MARIA,
    FakeConnector,
    Teams,
    actions_of,
    card_of,
    card_text,
    personal_conversation,
)
from tests.helpers import FIXTURES, fixture_bytes

# Runs `frakturkedjan` with the packages named in argv[2] (comma-separated) unimportable;
# every attempt to import one is appended to the file argv[1].
UNIMPORTABLE = """
import sys

class Unimportable:
    def __init__(self, names, notes):
        self.names, self.notes = tuple(names.split(",")), notes

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            with open(self.notes, "a", encoding="utf-8") as notes:
                notes.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Unimportable(sys.argv[2], sys.argv[1]))
from bot.cli import main
sys.exit(main(sys.argv[3:]))
"""
BOTBUILDER = "botbuilder,botframework,msrest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    attempts: Path
    log: Path


def command(tmp_path: Path, blocked: str, *args: str) -> list[str]:
    script = tmp_path / "unimportable.py"
    script.write_text(UNIMPORTABLE, encoding="utf-8")
    return [sys.executable, str(script), str(tmp_path / "attempts.txt"), blocked, *args]


def environment(tmp_path: Path, db: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONUTF8": "1",
        "TEAMS_SDK": "agents",
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "INTAKE_TOKENS": INTAKE_TOKEN,
        "PATIENT_KEY_SECRET": "test-secret",
        "OUTBOX_POLL_SECONDS": "0.05",
    }


@pytest.fixture
async def served(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Served]:
    db = tmp_path / "fk.db"
    shutil.copy(sqlite_template, db)
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    async with transaction(session_factory(engine)) as session:
        directory = (FIXTURES / "directory.yaml").read_text(encoding="utf-8")
        await load_directory(session, directory, actor="test")
    await engine.dispose()
    port = free_port()
    log = tmp_path / "serve.log"  # a file, not a pipe nobody reads while it runs
    with log.open("w", encoding="utf-8") as output:
        process = await asyncio.create_subprocess_exec(
            *command(tmp_path, BOTBUILDER, "serve", "--local", "--no-migrate", "--port", str(port)),
            cwd=tmp_path, env=environment(tmp_path, db), stdout=output, stderr=output,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                assert process.returncode is None, log.read_text(encoding="utf-8")[-3000:]
                try:
                    async with http.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        yield Served(process, url, tmp_path / "attempts.txt", log)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_the_agents_runtime_runs_without_botbuilder(served: Served) -> None:
    connector = FakeConnector()
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            teams = Teams(http, served.url, connector.url)
            for person in (ANNA, MARIA):
                await teams.install_personal(person)
            await teams.install_channel(MARIA)

            status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
            assert status == 201, body
            anna = personal_conversation(ANNA)
            [posted] = await connector.wait_count(anna, 1)
            assert posted.card is not None
            [decide] = [
                a for a in actions_of(posted.card) if a["data"].get("decision") == "call_in"
            ]

            status, answer = await teams.invoke(ANNA, "case.decide", decide["data"])
            assert status == 200
            assert "Kalla till läkarbesök" in card_text(card_of(answer))
            await connector.wait_count(CHANNEL, 1)  # the MVA's task, through the outbox

            status, _ = await teams.message(ANNA, "hjälp")  # the Agents SDK's dialogs
            assert status == 201
            replies = await connector.wait_count(anna, 2)
            assert "hjälp" in card_text(replies[-1].card or {})
    finally:
        await server.close()
    assert served.process.returncode is None
    assert not served.attempts.exists(), served.attempts.read_text(encoding="utf-8")
    assert "Traceback" not in served.log.read_text(encoding="utf-8")


def test_agents_without_its_sdk_ends_serve_with_one_line(
    tmp_path: Path, sqlite_template: Path
) -> None:
    shutil.copy(sqlite_template, tmp_path / "fk.db")
    done = subprocess.run(
        command(tmp_path, "microsoft_agents", "serve", "--local", "--no-migrate",
                "--port", str(free_port())),
        cwd=tmp_path, env=environment(tmp_path, tmp_path / "fk.db"), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines() == [
        "frakturkedjan: setting TEAMS_SDK: agents needs its SDK, which is not installed "
        "(microsoft_agents); install it with `pip install 'frakturkedjan[agents]'`"
    ]
