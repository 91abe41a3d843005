"""One leg of the benchmark: one database and one Teams runtime, its
``frakturkedjan serve --local`` process, and the outbox between the timed phases."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.fake_connector import FakeConnector, Service
from bench.loadgen import run_load
from bench.run.directory import PHYSICIANS, directory_yaml
from bench.run.payloads import (
    INTAKE_TOKEN,
    Bundles,
    install_activities,
    intake_request,
    is_created,
    text_message,
)
from bench.run.plan import Plan
from bench.run.processes import Process, cpus_allowed, free_port, proc_status_kb, run_command
from bench.run.profiler import Profiler
from bot.db import create_engine, session_factory, transaction, utcnow
from bot.outbox import service as outbox
from bot.outbox.models import OutboxMessage
from bot.preflight import TEAMS_SDKS
from cards.render import render

RUNTIMES = TEAMS_SDKS  # the default first


@dataclass
class Leg:
    kind: str  # "sqlite" or "postgresql"
    db_url: str
    workdir: Path
    connector: FakeConnector
    plan: Plan
    profiler: Profiler
    bot: Process | None = None
    bot_url: str = ""
    engine: AsyncEngine | None = None
    factory: async_sessionmaker[AsyncSession] | None = None
    teams: Service | None = None
    card_template: dict[str, Any] | None = None
    pool: list[tuple[int, int]] = field(default_factory=list)  # fresh cases: (id, physician)
    memory_steps: dict[str, dict[str, float]] = field(default_factory=dict)
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    serial: int = 0
    serve_command: list[str] = field(default_factory=list)  # default: the frakturkedjan exe
    serve_args: list[str] = field(default_factory=list)  # more `serve` options (`--cpu N`)
    cpus: str = ""  # the cores the `serve` process runs on, once started (`1`, `0-1`)
    runtime: str = RUNTIMES[0]  # TEAMS_SDK of the `serve` process

    @property
    def name(self) -> str:
        """The leg in the printout, the JSON and file names: `sqlite-botbuilder`."""
        return f"{self.kind}-{self.runtime}"

    def checkpoint(self, label: str) -> None:
        """RSS now and the peak so far of the bot process, in MB, after a step."""
        if self.bot is None or self.bot.proc is None or self.bot.proc.returncode is not None:
            return
        status = proc_status_kb(self.bot.pid)
        self.memory_steps[label] = {
            "rss_mb": round(status.get("VmRSS", 0) / 1024, 1),
            "peak_mb": round(status.get("VmHWM", 0) / 1024, 1),
        }
        workers = [proc_status_kb(child) for child in self.bot.sample_children()]
        if workers:  # serve's outbox worker process (none with OUTBOX_WORKER=inline)
            self.memory_steps[label]["worker_rss_mb"] = round(
                sum(w.get("VmRSS", 0) for w in workers) / 1024, 1
            )
            self.memory_steps[label]["worker_peak_mb"] = round(
                max(w.get("VmHWM", 0) for w in workers) / 1024, 1
            )

    def tag(self, what: str) -> str:
        self.serial += 1
        runtime = "" if self.runtime == RUNTIMES[0] else self.runtime[:1]
        return f"{self.kind[:2].upper()}{runtime.upper()}-{what}-{self.serial:03d}"

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        assert self.factory is not None
        return self.factory


def child_env(db_url: str, runtime: str = RUNTIMES[0]) -> dict[str, str]:
    """The environment of a child process: this one's, with the bot's benchmark settings
    (database, Teams runtime, tokens, patient-key secret) and no proxy for 127.0.0.1."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("Microsoft") and k not in ("ALLOWED_TENANTS", "DATABASE_URL")
    }
    env.update(
        {
            "DATABASE_URL": db_url,
            "TEAMS_SDK": runtime,
            "INTAKE_TOKENS": INTAKE_TOKEN,
            "REPORT_TOKENS": "bench-report-token",
            "PATIENT_KEY_SECRET": "bench-secret",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def frakturkedjan_exe() -> str:
    exe = Path(sys.executable).parent / "frakturkedjan"
    if exe.exists():
        return str(exe)
    found = shutil.which("frakturkedjan")
    if found is None:
        raise RuntimeError("the frakturkedjan command is not installed (pip install -e .)")
    return found


async def start_leg(leg: Leg) -> None:
    """Migrate, load the directory, start `serve --local`, install the bot in Teams, take
    in one bundle and answer one text command (so that the dialogs, loaded on the first
    text message, count in the memory)."""
    env = child_env(leg.db_url, leg.runtime)
    exe = frakturkedjan_exe()
    directory = leg.workdir / "directory.yaml"
    directory.write_text(directory_yaml(), encoding="utf-8")
    log = leg.workdir / "setup.log"
    await run_command([exe, "db", "upgrade"], env=env, cwd=leg.workdir, log=log)
    await run_command([exe, "directory", "load", str(directory)], env=env, cwd=leg.workdir, log=log)
    port = free_port()
    leg.bot = Process(
        f"serve-{leg.name}",
        [
            *(leg.serve_command or [exe]),
            *("serve", "--local", "--port", str(port), "--no-migrate", *leg.serve_args),
        ],
        env=env,
        cwd=leg.workdir,
    )
    await leg.bot.start()
    leg.bot_url = f"http://127.0.0.1:{port}"
    await leg.bot.wait_http(f"{leg.bot_url}/readyz")
    leg.cpus = cpus_allowed(leg.bot.pid)  # serve pins itself (SQLite) before it listens
    leg.checkpoint("started")
    leg.engine = create_engine(leg.db_url)
    leg.factory = session_factory(leg.engine)

    leg.teams = leg.connector.add_service(f"teams-{leg.name}")
    service_url = leg.connector.url(leg.teams.name)
    async with aiohttp.ClientSession() as http:
        for activity in install_activities(service_url):
            async with http.post(f"{leg.bot_url}/api/messages", json=activity) as response:
                if response.status not in (200, 201):
                    raise RuntimeError(f"install answered {response.status}")
    # One real decision card, sent by the bot's worker, is the card of the delivery leg.
    bundles = Bundles()
    result = await run_load(
        [intake_request(leg.bot_url, bundles, leg.tag("sample"), PHYSICIANS[0])],
        concurrency=1,
        check=is_created,
    )
    if result.failures:
        raise RuntimeError(f"sample intake failed: {result.failure_samples}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if leg.teams.sample is not None:
            break
        await asyncio.sleep(0.1)
    if leg.teams.sample is not None:
        leg.card_template = leg.teams.sample
    else:
        leg.notes.append("no decision card seen in 15 s; delivery uses a notice card")
        card = render("notice_card", title="Benchmark", text="Ett kort.", case=None, facts=[])
        leg.card_template = outbox.card_activity(card, summary="Benchmark")
    leg.checkpoint("first_intake_and_card")
    async with aiohttp.ClientSession() as http:
        message = text_message(service_url, PHYSICIANS[0], "mina ärenden")
        async with http.post(f"{leg.bot_url}/api/messages", json=message) as response:
            if response.status not in (200, 201, 202):
                raise RuntimeError(f"a text command answered {response.status}")
    leg.checkpoint("first_text_command")


async def park_outbox(leg: Leg) -> int:
    """Set aside what earlier phases left pending, so each timed phase starts alike."""
    async with transaction(leg.db) as session:
        result = await session.execute(
            update(OutboxMessage).where(OutboxMessage.status == "pending").values(status="parked")
        )
        return int(getattr(result, "rowcount", 0) or 0)


async def wait_worker_idle(leg: Leg, within_s: float = 60.0) -> float:
    """Wait until the worker holds no lease (its current pass is over). Returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        async with leg.db() as session:
            busy = await session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.status.in_(("pending", "parked")),
                    OutboxMessage.lease_until.is_not(None),
                    OutboxMessage.lease_until > utcnow(),
                )
            )
        if not busy:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    leg.notes.append(f"worker still held leases after {within_s} s")
    return within_s
