"""The benchmark harness (issue 5): decision clicks, intake, delivery and memory.

Usage::

    .venv/bin/python bench/run.py [--quick] [--runs N] [--json out.json]
                                  [--skip-postgres] [--serial] [--profile DIR]

Starts everything itself, on 127.0.0.1 only: a fake Bot Connector that enforces Teams'
limits (bench/fake_connector.py, in this process), the stock botbuilder echo bot
(bench/echo_bot.py, its own process), and one ``frakturkedjan serve --local`` process per
database (SQLite WAL in a temporary folder; PostgreSQL in a scratch database created and
dropped here, when PostgreSQL answers). The load generator (bench/loadgen.py) runs here.

Measurements (bench/README.md explains each):

1. decision click: ``case.decide`` invokes on fresh cases, 16 concurrent clients, against
   the stock echo bot answering the same invokes in the same run;
2. intake: FHIR bundles with unique identifiers, 16 concurrent senders;
3. delivery: cards written into the outbox for 40 conversations, sent by the bot's own
   outbox worker and ConnectorClient to the limit-enforcing fake connector, once cleanly
   and once with 5 % seeded 500/503 answers;
4. memory: peak RSS (VmHWM) of each ``serve`` process through all of the above.

Prints a table (median of the runs, pass/fail per target) and writes it as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402
from fake_connector import (  # noqa: E402
    APP_WINDOWS,
    CONVERSATION_WINDOWS,
    FakeConnector,
    Service,
)
from loadgen import Request, run_load  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402

from bot.cases.models import Case, Decision  # noqa: E402
from bot.db import create_engine, session_factory, transaction, utcnow  # noqa: E402
from bot.outbox import service as outbox  # noqa: E402
from bot.outbox.models import ConversationRef, OutboxMessage  # noqa: E402
from cards.render import render  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "01_osteoporosis_named.json"
INTAKE_TOKEN = "bench-intake-token"  # noqa: S105 - a local benchmark token
TENANT = "11111111-2222-3333-4444-555555555555"
BOT_ID = "28:frakturkedjan-bench"
PG_ADMIN = os.environ.get("FK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DECISIONS = ("normal_letter", "call_in", "normal_call", "other")
FIGURES_DATE = "2026-11-21"


@dataclass(frozen=True)
class Plan:
    """How much work each run does."""

    runs: int
    clicks: int  # timed case.decide invokes per run
    intake: int  # timed bundles per run
    warmup: int  # untimed requests before each timed phase
    cards: int  # cards per delivery run
    conversations: int = 40
    concurrency: int = 16
    fault_rate: float = 0.05
    phase_max_s: float = 15.0  # no request of a timed phase starts after this
    budget_s: float = 840.0  # the whole bench stops (and cleans up) after this


FULL = Plan(runs=3, clicks=960, intake=2400, warmup=64, cards=2000)
QUICK = Plan(runs=1, clicks=320, intake=640, warmup=32, cards=500, phase_max_s=8.0, budget_s=175.0)


@dataclass(frozen=True)
class Targets:
    click_ratio: float = 2.0
    click_p99_ms: float = 100.0
    intake_rate: float = 300.0
    intake_p99_ms: float = 150.0
    delivery_factor: float = 1.1
    delivery_429_share: float = 0.01
    rss_mb: float = 150.0


TARGETS = Targets()


# --------------------------------------------------------------------------------------
# The directory and the Teams side of the benchmark
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    name: str
    aad: str
    user_id: str
    hsa: str | None
    unit: int


@dataclass(frozen=True)
class Unit:
    hsa: str
    name: str
    channel: str


UNITS = [
    Unit(f"SE2321000156-BNCH{u}", f"Benchvalla vårdcentral {u}", f"19:bench-mva-{u}@thread.tacv2")
    for u in range(1, 5)
]
PHYSICIANS = [
    Person(
        name=f"Läkare {u}-{p}",
        aad=f"00000000-0000-0000-0b0{u}-00000000000{p}",
        user_id=f"29:bench-u{u}-p{p}",
        hsa=f"SE2321000156-B{u}L{p}",
        unit=u,
    )
    for u in range(1, 5)
    for p in range(1, 5)
]
SECRETARIES = [
    Person(
        name=f"Sekreterare {u}",
        aad=f"00000000-0000-0000-0b0{u}-000000000009",
        user_id=f"29:bench-u{u}-mva",
        hsa=None,
        unit=u,
    )
    for u in range(1, 5)
]


def directory_yaml() -> str:
    """The benchmark's directory: 4 units, each with 4 physicians and 1 MVA."""
    lines = ["units:"]
    for unit in UNITS:
        lines += [
            f"  - hsa_id: {unit.hsa}",
            f"    name: {unit.name}",
            f'    mva_channel: "{unit.channel}"',
            "    settings: {card_identity: full, call_in_months: 2, letter_tasks_to: physician}",
        ]
    lines.append("staff:")
    for person in [*PHYSICIANS, *SECRETARIES]:
        role = "physician" if person.hsa else "mva"
        lines += [f"  - name: {person.name}", f"    aad_object_id: {person.aad}"]
        if person.hsa:
            lines.append(f"    hsa_id: {person.hsa}")
        lines.append(f"    units: {{{UNITS[person.unit - 1].hsa}: [{role}]}}")
    return "\n".join(lines) + "\n"


def personal_conversation(person: Person) -> str:
    return f"a:bench-personal-{person.user_id[3:]}"


def activity_base(
    service_url: str,
    person: Person,
    conversation: dict[str, Any],
    channel_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": "f:1",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "timestamp": "2026-11-21T10:00:00Z",
        "conversation": {"tenantId": TENANT, **conversation},
        "from": {"id": person.user_id, "name": person.name, "aadObjectId": person.aad},
        "recipient": {"id": BOT_ID, "name": "Frakturkedjan"},
        "channelData": {"tenant": {"id": TENANT}, **(channel_data or {})},
    }


def install_activities(service_url: str) -> list[dict[str, Any]]:
    """installationUpdate for every physician's personal chat and every MVA channel."""
    activities = []
    conversation: dict[str, Any]
    for person in PHYSICIANS:
        conversation = {"id": personal_conversation(person), "conversationType": "personal"}
        activities.append(
            {
                **activity_base(service_url, person, conversation),
                "type": "installationUpdate",
                "action": "add",
            }
        )
    for unit, mva in zip(UNITS, SECRETARIES, strict=True):
        conversation = {
            "id": unit.channel,
            "conversationType": "channel",
            "isGroup": True,
        }
        data: dict[str, Any] = {
            "team": {"id": f"19:team-{unit.hsa}@thread.tacv2"},
            "channel": {"id": unit.channel},
        }
        activities.append(
            {
                **activity_base(service_url, mva, conversation, data),
                "type": "installationUpdate",
                "action": "add",
            }
        )
    return activities


def click_body(service_url: str, person: Person, case_id: int, decision: str, n: int) -> bytes:
    """The `adaptiveCard/action` invoke Teams posts when a physician clicks a decision."""
    data: dict[str, Any] = {"case_id": case_id, "version": 1, "decision": decision}
    if decision == "call_in":
        data["visit_physician"] = person.aad
        data["note"] = "Tolk behövs"
    elif decision == "other":
        data["other_note"] = "Remiss till fysioterapeut för balansträning"
    conversation = {"id": personal_conversation(person), "conversationType": "personal"}
    activity = {
        **activity_base(service_url, person, conversation),
        "id": f"f:click-{n}",
        "type": "invoke",
        "name": "adaptiveCard/action",
        "value": {
            "action": {"type": "Action.Execute", "verb": "case.decide", "data": data},
            "trigger": "manual",
        },
    }
    return json.dumps(activity, ensure_ascii=False).encode()


class Bundles:
    """Sample 01 with a unique DiagnosticReport identifier, routed to a unit and physician."""

    def __init__(self) -> None:
        data = json.loads(FIXTURE.read_text(encoding="utf-8"))
        for entry in data["entry"]:
            resource = entry["resource"]
            kind = resource["resourceType"]
            if kind == "DiagnosticReport":
                resource["identifier"][0]["value"] = "@@REPORT@@"
            elif kind == "Organization":
                resource["identifier"][0]["value"] = "@@UNIT@@"
            elif kind == "Practitioner":
                resource["identifier"][0]["value"] = "@@PHYSICIAN@@"
        self._text = json.dumps(data, ensure_ascii=False, indent=1)

    def make(self, report_value: str, physician: Person) -> bytes:
        assert physician.hsa is not None
        text = (
            self._text.replace("@@REPORT@@", report_value)
            .replace("@@UNIT@@", UNITS[physician.unit - 1].hsa)
            .replace("@@PHYSICIAN@@", physician.hsa)
        )
        return text.encode()


# --------------------------------------------------------------------------------------
# Processes and memory
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS, kept by the kernel) of a process, in kB."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_meter(figures: dict[str, Any], prefix: str, pid: int) -> Iterator[None]:
    """Adds the CPU used during the block, in cores: `{prefix}cpu` of `pid`, `..._loadgen_cpu`
    of this process, and `..._machine_busy` of the whole machine (the rest of which is
    other work: PostgreSQL, or anything else running on the machine)."""
    started, own, wall = cpu_seconds(pid), own_cpu_seconds(), time.monotonic()
    busy, total = machine_ticks()
    yield
    wall = max(1e-9, time.monotonic() - wall)
    busy2, total2 = machine_ticks()
    cores = os.cpu_count() or 1
    figures[f"{prefix}cpu"] = round((cpu_seconds(pid) - started) / wall, 2)
    figures[f"{prefix}loadgen_cpu"] = round((own_cpu_seconds() - own) / wall, 2)
    if total2 > total:
        figures[f"{prefix}machine_busy"] = round((busy2 - busy) / (total2 - total) * cores, 2)


def rss_now_kb(pid: int) -> int:
    try:
        import psutil  # optional; /proc is enough on Linux

        return int(psutil.Process(pid).memory_info().rss // 1024)
    except Exception:  # not installed, or the process is gone
        return proc_status_kb(pid).get("VmRSS", 0)


def open_log(path: Path) -> Any:
    return path.open("ab")


class Process:
    """A child process started here; `stop` ends exactly this pid, politely first."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = cwd / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_rss_kb = 0
        self.hwm_kb = 0
        self._sampler: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        log = open_log(self.log_path)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log.close()
        self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while self.proc is not None and self.proc.returncode is None:
            self.peak_rss_kb = max(self.peak_rss_kb, rss_now_kb(self.pid))
            self.hwm_kb = max(self.hwm_kb, proc_status_kb(self.pid).get("VmHWM", 0))
            await asyncio.sleep(0.2)

    def memory(self) -> dict[str, float]:
        if self.proc is not None and self.proc.returncode is None:
            self.hwm_kb = max(self.hwm_kb, proc_status_kb(self.pid).get("VmHWM", 0))
        return {
            "peak_rss_mb": round(max(self.hwm_kb, self.peak_rss_kb) / 1024, 1),
            "sampled_max_rss_mb": round(self.peak_rss_kb / 1024, 1),
        }

    async def wait_http(self, url: str, within_s: float = 60.0) -> None:
        deadline = time.monotonic() + within_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status < 500:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {url} within {within_s} s")

    async def stop(self) -> None:
        if self.proc is None:
            return
        self.memory()
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self.proc.returncode is None:
            for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(sig)
                try:
                    await asyncio.wait_for(self.proc.wait(), wait)
                    break
                except TimeoutError:
                    continue


async def run_command(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> None:
    handle = open_log(log)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        handle.close()
    try:
        code = await asyncio.wait_for(proc.wait(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{argv[1:3]} took over 120 s; see {log}") from None
    if code != 0:
        raise RuntimeError(f"{' '.join(argv[1:3])} exited {code}; see {log}")


class Profiler:
    """`py-spy record` against one pid for the length of a phase (raw collapsed stacks).

    `--gil` keeps only samples of the thread holding the GIL: Python CPU time, without
    the waits (epoll, SQLite's C calls, idle threads); `--nonblocking` does not pause the
    bot to sample it (blocking sampling slowed the clicks by about 40 %).
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        exe = Path(sys.executable).parent / "py-spy"
        self.exe = str(exe) if exe.exists() else shutil.which("py-spy")

    @contextlib.asynccontextmanager
    async def record(self, pid: int, name: str) -> AsyncIterator[None]:
        if self.directory is None or self.exe is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        output = self.directory / f"{name}.txt"
        proc = await asyncio.create_subprocess_exec(
            self.exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(output),
            "--duration",
            "600",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)  # let it attach
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# --------------------------------------------------------------------------------------
# One database: its bot process and its measurements
# --------------------------------------------------------------------------------------


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

    def checkpoint(self, label: str) -> None:
        """RSS now and the peak so far of the bot process, in MB, after a step."""
        if self.bot is None or self.bot.proc is None or self.bot.proc.returncode is not None:
            return
        status = proc_status_kb(self.bot.pid)
        self.memory_steps[label] = {
            "rss_mb": round(status.get("VmRSS", 0) / 1024, 1),
            "peak_mb": round(status.get("VmHWM", 0) / 1024, 1),
        }

    def tag(self, what: str) -> str:
        self.serial += 1
        return f"{self.kind[:2].upper()}-{what}-{self.serial:03d}"

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        assert self.factory is not None
        return self.factory


def child_env(db_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("Microsoft") and k not in ("ALLOWED_TENANTS", "DATABASE_URL")
    }
    env.update(
        {
            "DATABASE_URL": db_url,
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
    """Migrate, load the directory, start `serve --local`, install the bot in Teams."""
    env = child_env(leg.db_url)
    exe = frakturkedjan_exe()
    directory = leg.workdir / "directory.yaml"
    directory.write_text(directory_yaml(), encoding="utf-8")
    log = leg.workdir / "setup.log"
    await run_command([exe, "db", "upgrade"], env=env, cwd=leg.workdir, log=log)
    await run_command([exe, "directory", "load", str(directory)], env=env, cwd=leg.workdir, log=log)
    port = free_port()
    leg.bot = Process(
        f"serve-{leg.kind}",
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
    leg.checkpoint("started")
    leg.engine = create_engine(leg.db_url)
    leg.factory = session_factory(leg.engine)

    leg.teams = leg.connector.add_service(f"teams-{leg.kind}")
    service_url = leg.connector.url(leg.teams.name)
    async with aiohttp.ClientSession() as http:
        for activity in install_activities(service_url):
            async with http.post(f"{leg.bot_url}/api/messages", json=activity) as response:
                if response.status not in (200, 201):
                    raise RuntimeError(f"install answered {response.status}")
    # One real decision card, sent by the bot's worker, is the card of the delivery leg.
    bundles = Bundles()
    result = await run_load(
        [intake_request(leg, bundles, leg.tag("sample"), PHYSICIANS[0])],
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


def intake_request(leg: Leg, bundles: Bundles, report: str, physician: Person) -> Request:
    return Request(
        url=f"{leg.bot_url}/api/dxa-answers",
        body=bundles.make(report, physician),
        headers={
            "Authorization": f"Bearer {INTAKE_TOKEN}",
            "Content-Type": "application/fhir+json",
        },
        tag=PHYSICIANS.index(physician),
    )


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


# --- 2. intake --------------------------------------------------------------------------


async def intake_run(leg: Leg, run: int) -> dict[str, Any]:
    """One timed intake phase; the cases it creates are the fresh cases of the clicks."""
    plan = leg.plan
    bundles = Bundles()
    tag = leg.tag("intake")

    def batch(label: str, count: int) -> list[Request]:
        return [
            intake_request(leg, bundles, f"{tag}-{label}-{i:06d}", PHYSICIANS[i % 16])
            for i in range(count)
        ]

    warm, timed = batch("w", plan.warmup), batch("t", plan.intake)
    await park_outbox(leg)
    await run_load(warm, concurrency=plan.concurrency, check=is_created, keep_answers=True)
    assert leg.bot is not None
    cpu: dict[str, Any] = {}
    async with leg.profiler.record(leg.bot.pid, f"{leg.kind}-intake-run{run}"):
        with cpu_meter(cpu, "bot_", leg.bot.pid):
            result = await run_load(
                timed,
                concurrency=plan.concurrency,
                check=is_created,
                keep_answers=True,
                max_seconds=plan.phase_max_s,
            )
    leg.pool.extend(created_cases(result.answers))
    figures: dict[str, Any] = {"run": run, **result.figures(), **cpu}
    if result.failure_samples:
        figures["failure_samples"] = result.failure_samples
    return figures


def is_created(status: int, _body: bytes) -> bool:
    return status == 201


def created_cases(answers: list[tuple[Any, int, bytes]]) -> list[tuple[int, int]]:
    """(case id, physician index) of every 201 answer."""
    return [
        (int(json.loads(body)["case_id"]), physician)
        for physician, status, body in answers
        if status == 201
    ]


# --- 1. decision click -------------------------------------------------------------------


def is_card_answer(status: int, body: bytes) -> bool:
    return status == 200 and b"application/vnd.microsoft.card.adaptive" in body[:400]


async def fresh_cases(leg: Leg, count: int) -> list[tuple[int, int]]:
    """`count` fresh cases awaiting decision: (case id, physician index).

    Taken from the cases the intake phases created (never clicked before); when those are
    too few, more bundles are posted to the intake first (untimed).
    """
    missing = count - len(leg.pool)
    if missing > 0:
        bundles = Bundles()
        tag = leg.tag("preload")
        requests = [
            intake_request(leg, bundles, f"{tag}-{i:06d}", PHYSICIANS[i % 16])
            for i in range(missing)
        ]
        result = await run_load(
            requests, concurrency=leg.plan.concurrency, check=is_created, keep_answers=True
        )
        if result.failures:
            raise RuntimeError(f"preloading cases failed: {result.failure_samples}")
        leg.pool.extend(created_cases(result.answers))
    taken, leg.pool = leg.pool[:count], leg.pool[count:]
    return taken


async def click_run(leg: Leg, run: int, echo_url: str, echo_pid: int) -> dict[str, Any]:
    plan = leg.plan
    assert leg.teams is not None and leg.bot is not None
    service_url = leg.connector.url(leg.teams.name)
    cases = await fresh_cases(leg, plan.warmup + plan.clicks)
    cases.sort(key=lambda item: item[0])
    # interleave the physicians so that the 16 clients click for different people
    by_physician: dict[int, list[int]] = {}
    for case_id, physician in cases:
        by_physician.setdefault(physician, []).append(case_id)
    ordered: list[tuple[int, int]] = []
    while any(by_physician.values()):
        for physician in sorted(by_physician):
            if by_physician[physician]:
                ordered.append((by_physician[physician].pop(0), physician))
    bodies = [
        (case_id, click_body(service_url, PHYSICIANS[p], case_id, DECISIONS[n % 4], n))
        for n, (case_id, p) in enumerate(ordered)
    ]
    headers = {"Content-Type": "application/json"}

    def requests(url: str, part: list[tuple[int, bytes]]) -> list[Request]:
        return [Request(url, body, headers, tag=case_id) for case_id, body in part]

    warm, timed = bodies[: plan.warmup], bodies[plan.warmup :]
    await park_outbox(leg)
    idle_wait = await wait_worker_idle(leg, within_s=45.0)
    # the stock echo bot, same invokes, same concurrency, just before
    echo = f"{echo_url}/api/messages"
    await run_load(requests(echo, warm), concurrency=plan.concurrency, check=is_card_answer)
    cpu: dict[str, Any] = {}
    with cpu_meter(cpu, "baseline_", echo_pid):
        baseline = await run_load(
            requests(echo, timed),
            concurrency=plan.concurrency,
            check=is_card_answer,
            max_seconds=plan.phase_max_s,
        )
    bot = f"{leg.bot_url}/api/messages"
    await run_load(requests(bot, warm), concurrency=plan.concurrency, check=is_card_answer)
    async with leg.profiler.record(leg.bot.pid, f"{leg.kind}-click-run{run}"):
        with cpu_meter(cpu, "bot_", leg.bot.pid):
            result = await run_load(
                requests(bot, timed),
                concurrency=plan.concurrency,
                check=is_card_answer,
                keep_answers=True,
                max_seconds=plan.phase_max_s,
            )
    clicked = [case_id for case_id, _status, _body in result.answers]
    decided = await count_decided(leg, clicked)
    figures: dict[str, Any] = {
        "run": run,
        **result.figures(),
        "decisions_recorded": decided,
        "idle_wait_s": round(idle_wait, 1),
        **cpu,
        "baseline": baseline.figures(),
        "ratio": round(result.throughput / baseline.throughput, 2) if baseline.throughput else None,
    }
    if decided != len(clicked):
        figures["failures"] = max(int(figures["failures"]), len(clicked) - decided)
    if result.failure_samples:
        figures["failure_samples"] = result.failure_samples
    if baseline.failure_samples:
        figures["baseline_failure_samples"] = baseline.failure_samples
    return figures


async def count_decided(leg: Leg, case_ids: list[int]) -> int:
    """How many of these cases now hold a decision and are in state `decided`."""
    total = 0
    async with leg.db() as session:
        for start in range(0, len(case_ids), 500):
            chunk = case_ids[start : start + 500]
            total += int(
                await session.scalar(
                    select(func.count(Decision.id))
                    .join(Case, Case.id == Decision.case_id)
                    .where(Decision.case_id.in_(chunk), Case.state == "decided")
                )
                or 0
            )
    return total


# --- 3. delivery -------------------------------------------------------------------------


def minimum_seconds(total_requests: int, per_conversation: list[int]) -> float:
    """The least time from the first request to the last that Teams' limits allow.

    A window of `count` requests per `seconds` lets request number k (0-based) go no
    earlier than floor(k / count) * seconds after the first; the binding window decides.
    """
    bound = 0.0
    for count, seconds in APP_WINDOWS:
        bound = max(bound, ((total_requests - 1) // count) * seconds)
    for n in per_conversation:
        for count, seconds in CONVERSATION_WINDOWS:
            bound = max(bound, ((n - 1) // count) * seconds)
    return bound


async def delivery_run(leg: Leg, run: int, *, faulty: bool) -> dict[str, Any]:
    plan = leg.plan
    assert leg.card_template is not None
    name = leg.tag("faulty" if faulty else "clean").lower()
    seed = 1000 * run + (7 if faulty else 3) + (0 if leg.kind == "sqlite" else 500)
    service = leg.connector.add_service(
        name, fault_rate=plan.fault_rate if faulty else 0.0, seed=seed
    )
    idle_wait = await wait_worker_idle(leg)
    service_url = leg.connector.url(name)
    conversations = [f"19:{name}-c{c:02d}@thread.tacv2" for c in range(plan.conversations)]
    assignment = [conversations[i % len(conversations)] for i in range(plan.cards)]
    random.Random(seed).shuffle(assignment)  # noqa: S311 - a seeded mix, not security
    ids = [f"{name}-{i:05d}" for i in range(plan.cards)]
    now = utcnow()
    async with transaction(leg.db) as session:
        for conversation in conversations:
            session.add(
                ConversationRef(
                    kind="channel",
                    key=conversation,
                    conversation_id=conversation,
                    service_url=service_url,
                    tenant_id=TENANT,
                    bot_id=BOT_ID,
                    usable=True,
                    updated_at=now,
                )
            )
        for bench_id, conversation in zip(ids, assignment, strict=True):
            activity = {**leg.card_template, "channelData": {"benchId": bench_id}}
            outbox.enqueue(
                session,
                purpose="bench_delivery",
                target_kind="channel",
                target=conversation,
                activity=activity,
                unit_id=None,
            )
    committed = time.monotonic()
    expected = set(ids)
    counts = [assignment.count(c) for c in conversations]
    clean_minimum = minimum_seconds(plan.cards, counts)
    deadline = committed + 2 * clean_minimum + 15.0
    complete = False
    while time.monotonic() < deadline:
        if sum(1 for i in ids if service.by_bench_id[i]) == len(ids):
            complete = True
            break
        await asyncio.sleep(0.05)
    # the worker records each send after the answer: wait for the rows, then for stragglers
    not_sent = await rows_not_sent(leg, name)
    while not_sent and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        not_sent = await rows_not_sent(leg, name)
    await asyncio.sleep(1.0)
    summary = service.summary(expected)
    per_conversation = list(service.per_conversation.values()) or [0]
    minimum = minimum_seconds(plan.cards + service.faults, per_conversation)
    last = service.last_delivery or time.monotonic()
    total = last - committed
    figures: dict[str, Any] = {
        "run": run,
        "cards": plan.cards,
        "conversations": plan.conversations,
        "fault_rate": service.fault_rate,
        **summary,
        "rows_not_sent": not_sent,
        "total_s": round(total, 3),
        "span_s": round(last - (service.first_request or last), 3),
        "first_request_after_s": round((service.first_request or last) - committed, 3),
        "minimum_s": minimum,
        "clean_minimum_s": clean_minimum,
        "factor": round(total / minimum, 3) if minimum else None,
        "share_429": round(service.throttled / max(1, service.requests), 4),
        "idle_wait_s": round(idle_wait, 1),
        "timed_out": not complete,
    }
    return figures


async def rows_not_sent(leg: Leg, name: str) -> int:
    async with leg.db() as session:
        return int(
            await session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.purpose == "bench_delivery",
                    OutboxMessage.status != "sent",
                    OutboxMessage.target.like(f"19:{name}-%"),
                )
            )
            or 0
        )


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def cpu_figures(runs: list[dict[str, Any]], prefix: str) -> dict[str, float]:
    """Median CPU of the bot (cores), CPU ms per request, and machine-wide busy cores."""
    return {
        "bot_cpu_cores": median([r[f"{prefix}cpu"] for r in runs]),
        "cpu_ms_per_request": median(
            [
                1000 * r[f"{prefix}cpu"] / r["throughput_per_s"]
                for r in runs
                if r["throughput_per_s"]
            ]
        ),
        "machine_busy_cores": median([r.get(f"{prefix}machine_busy", float("nan")) for r in runs]),
    }


def summarise(legs: list[Leg], echo: Process | None) -> dict[str, Any]:
    """Medians per leg and pass/fail per target."""
    out: dict[str, Any] = {}
    for leg in legs:
        r = leg.results
        entry: dict[str, Any] = {"notes": leg.notes}
        clicks = r.get("click", [])
        if clicks:
            entry["click"] = {
                "throughput_per_s": median([c["throughput_per_s"] for c in clicks]),
                "p50_ms": median([c["p50_ms"] for c in clicks]),
                "p99_ms": median([c["p99_ms"] for c in clicks]),
                "baseline_throughput_per_s": median(
                    [c["baseline"]["throughput_per_s"] for c in clicks]
                ),
                "baseline_p99_ms": median([c["baseline"]["p99_ms"] for c in clicks]),
                "ratio": median([c["ratio"] or 0.0 for c in clicks]),
                "failures": sum(int(c["failures"]) for c in clicks),
                "runs": len(clicks),
                **cpu_figures(clicks, "bot_"),
                "baseline_cpu_ms_per_request": median(
                    [
                        1000 * c["baseline_cpu"] / c["baseline"]["throughput_per_s"]
                        for c in clicks
                        if c["baseline"]["throughput_per_s"]
                    ]
                ),
            }
            c = entry["click"]
            c["pass"] = (
                c["ratio"] >= TARGETS.click_ratio
                and c["p99_ms"] <= TARGETS.click_p99_ms
                and c["failures"] == 0
            )
        intakes = r.get("intake", [])
        if intakes:
            entry["intake"] = {
                "throughput_per_s": median([i["throughput_per_s"] for i in intakes]),
                "p50_ms": median([i["p50_ms"] for i in intakes]),
                "p99_ms": median([i["p99_ms"] for i in intakes]),
                "failures": sum(int(i["failures"]) for i in intakes),
                "runs": len(intakes),
                **cpu_figures(intakes, "bot_"),
            }
            i = entry["intake"]
            i["pass"] = (
                i["throughput_per_s"] >= TARGETS.intake_rate
                and i["p99_ms"] <= TARGETS.intake_p99_ms
                and i["failures"] == 0
            )
        for key in ("delivery_clean", "delivery_faulty"):
            runs = r.get(key, [])
            if not runs:
                continue
            d = {
                "total_s": median([x["total_s"] for x in runs]),
                "minimum_s": median([x["minimum_s"] for x in runs]),
                "factor": median([x["factor"] or 99.0 for x in runs]),
                "share_429": median([x["share_429"] for x in runs]),
                "throttled_429": median([x["throttled_429"] for x in runs]),
                "faults_5xx": median([x["faults_5xx"] for x in runs]),
                "throttled_429_app_window": median([x["throttled_429_app_window"] for x in runs]),
                "max_requests_in_1s": median([x["max_requests_in_1s"] for x in runs]),
                "span_s": median([x["span_s"] for x in runs]),
                "lost": sum(x["lost"] for x in runs),
                "duplicates": sum(x["duplicates"] for x in runs),
                "rows_not_sent": sum(x["rows_not_sent"] for x in runs),
                "timed_out_runs": sum(1 for x in runs if x["timed_out"]),
                "runs": len(runs),
            }
            d["pass"] = (
                d["factor"] <= TARGETS.delivery_factor
                and d["share_429"] <= TARGETS.delivery_429_share
                and d["lost"] == 0
                and d["duplicates"] == 0
                and d["rows_not_sent"] == 0
                and d["timed_out_runs"] == 0
            )
            entry[key] = d
        if leg.bot is not None:
            memory = leg.bot.memory()
            entry["memory"] = {**memory, "pass": memory["peak_rss_mb"] <= TARGETS.rss_mb}
        out[leg.kind] = entry
    if echo is not None:
        out["echo_bot_memory"] = echo.memory()
    return out


def source_revision() -> str:
    """The product's git commit (read-only), with `+dirty` when product files (outside
    bench/) differ from it."""
    try:
        head = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = ["status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"]
        dirty = subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), *status],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    versions = {}
    for package in ("botbuilder-core", "aiohttp", "SQLAlchemy", "aiosqlite", "asyncpg", "Jinja2"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "packages": versions,
    }


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def table(summary: dict[str, Any], kinds: list[str]) -> str:
    rows: list[tuple[str, str, str, str, str]] = []
    for kind in kinds:
        entry = summary.get(kind)
        if not entry:
            continue
        c = entry.get("click")
        if c:
            rows.append(
                (
                    kind,
                    "1 click: throughput",
                    f"{c['throughput_per_s']:.0f}/s vs stock {c['baseline_throughput_per_s']:.0f}/s"
                    f" = {c['ratio']:.2f}x (CPU/req {c['cpu_ms_per_request']:.1f} vs"
                    f" {c['baseline_cpu_ms_per_request']:.1f} ms)",
                    f">= {TARGETS.click_ratio:.0f}x",
                    mark(c["ratio"] >= TARGETS.click_ratio),
                )
            )
            rows.append(
                (
                    kind,
                    "1 click: latency",
                    f"p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms"
                    f" (stock p99 {c['baseline_p99_ms']:.1f})",
                    f"p99 <= {TARGETS.click_p99_ms:.0f} ms",
                    mark(c["p99_ms"] <= TARGETS.click_p99_ms and c["failures"] == 0),
                )
            )
        i = entry.get("intake")
        if i:
            rows.append(
                (
                    kind,
                    "2 intake",
                    f"{i['throughput_per_s']:.0f}/s, p50 {i['p50_ms']:.1f} ms,"
                    f" p99 {i['p99_ms']:.1f} ms (CPU/req {i['cpu_ms_per_request']:.1f} ms)",
                    f">= {TARGETS.intake_rate:.0f}/s, p99 <= {TARGETS.intake_p99_ms:.0f} ms",
                    mark(i["pass"]),
                )
            )
        for key, label in (("delivery_clean", "3 delivery"), ("delivery_faulty", "3 delivery 5%")):
            d = entry.get(key)
            if d:
                rows.append(
                    (
                        kind,
                        label,
                        f"{d['total_s']:.1f} s (min {d['minimum_s']:.0f} s, {d['factor']:.3f}x),"
                        f" 429 {100 * d['share_429']:.2f}%, lost {d['lost']},"
                        f" dup {d['duplicates']}",
                        "<= 1.1x, 429 <= 1%, 0 lost/dup",
                        mark(d["pass"]),
                    )
                )
        m = entry.get("memory")
        if m:
            rows.append(
                (
                    kind,
                    "4 memory",
                    f"peak RSS {m['peak_rss_mb']:.1f} MB",
                    f"<= {TARGETS.rss_mb:.0f} MB",
                    mark(m["pass"]),
                )
            )
    headers = ("database", "measurement", "figure (median of runs)", "target", "")
    widths = [max(len(str(r[n])) for r in [headers, *rows]) for n in range(5)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------


async def create_pg_database() -> tuple[str | None, str | None]:
    """(SQLAlchemy URL of a new scratch database, None) or (None, why not)."""
    name = f"fk_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        connection = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return None, f"PostgreSQL not reachable at {PG_ADMIN}: {type(exc).__name__}: {exc}"
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", None


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


async def timed(label: str, step: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    figures = await step
    say(f"{label}: {compact(figures)} ({time.monotonic() - started:.1f} s)")
    return figures


def compact(figures: dict[str, Any]) -> str:
    keys = (
        "throughput_per_s",
        "p50_ms",
        "p99_ms",
        "failures",
        "ratio",
        "total_s",
        "minimum_s",
        "factor",
        "requests",
        "throttled_429",
        "faults_5xx",
        "lost",
        "duplicates",
        "rows_not_sent",
    )
    parts = [f"{k}={figures[k]}" for k in keys if k in figures]
    if "baseline" in figures:
        parts.append(f"stock={figures['baseline']['throughput_per_s']}/s")
    return " ".join(parts)


async def bench(args: argparse.Namespace, plan: Plan, report: dict[str, Any]) -> None:
    connector = FakeConnector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    connector_port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", connector_port)
    await site.start()
    connector.base_url = f"http://127.0.0.1:{connector_port}"
    profiler = Profiler(Path(args.profile) if args.profile else None)
    serve_command = [sys.executable, args.serve_wrapper] if args.serve_wrapper else []
    serve_args = [] if args.serve_cpu is None else ["--cpu", str(args.serve_cpu)]
    if args.profile and profiler.exe is None:
        say("--profile: py-spy is not installed (pip install py-spy); profiling skipped")

    workroot = Path(tempfile.mkdtemp(prefix="fk-bench-"))
    legs: list[Leg] = []
    pg_url: str | None = None
    echo: Process | None = None
    try:
        sqlite_dir = workroot / "sqlite"
        sqlite_dir.mkdir()
        legs.append(
            Leg(
                "sqlite",
                f"sqlite+aiosqlite:///{sqlite_dir / 'bench.db'}",
                sqlite_dir,
                connector,
                plan,
                profiler,
                serve_command=serve_command,
                serve_args=serve_args,
            )
        )
        if args.skip_postgres:
            report["postgresql_skipped"] = "--skip-postgres"
        else:
            pg_url, problem = await create_pg_database()
            if pg_url is None:
                say(f"SKIPPING the PostgreSQL leg: {problem}")
                report["postgresql_skipped"] = problem
            else:
                pg_dir = workroot / "postgresql"
                pg_dir.mkdir()
                legs.append(
                    Leg(
                        "postgresql",
                        pg_url,
                        pg_dir,
                        connector,
                        plan,
                        profiler,
                        serve_command=serve_command,
                        serve_args=serve_args,
                    )
                )

        echo_port = free_port()
        echo = Process(
            "echo-bot",
            [sys.executable, str(BENCH / "echo_bot.py"), "--port", str(echo_port)],
            env=child_env(""),
            cwd=workroot,
        )
        await echo.start()
        echo_url = f"http://127.0.0.1:{echo_port}"
        await echo.wait_http(f"{echo_url}/api/messages")

        for leg in legs:
            say(f"starting serve --local on {leg.kind}")
            await start_leg(leg)
            assert leg.bot is not None
            say(f"{leg.kind}: serve pid {leg.bot.pid}, up")

        # 3. delivery: the legs side by side (each its own app and limits) unless --serial
        for faulty in (False, True) if "delivery" in args.only else ():
            key = "delivery_faulty" if faulty else "delivery_clean"
            for run in range(plan.runs):
                steps = [
                    timed(f"{leg.kind} {key} run {run + 1}", delivery_run(leg, run, faulty=faulty))
                    for leg in legs
                ]
                if args.serial:
                    results = [await step for step in steps]
                else:
                    results = list(await asyncio.gather(*steps))
                for leg, figures in zip(legs, results, strict=True):
                    leg.results.setdefault(key, []).append(figures)
            for leg in legs:
                leg.checkpoint(f"after_{key}")

        # 1 and 2, one database at a time; each bot stops when its legs are done
        for leg in legs:
            for run in range(plan.runs if "intake" in args.only else 0):
                figures = await timed(f"{leg.kind} intake run {run + 1}", intake_run(leg, run))
                leg.results.setdefault("intake", []).append(figures)
            leg.checkpoint("after_intake")
            for run in range(plan.runs if "click" in args.only else 0):
                figures = await timed(
                    f"{leg.kind} click run {run + 1}", click_run(leg, run, echo_url, echo.pid)
                )
                leg.results.setdefault("click", []).append(figures)
            leg.checkpoint("after_click")
            assert leg.bot is not None and leg.teams is not None
            leg.results["teams_connector"] = [leg.teams.summary()]
            leg.results["memory_steps"] = [leg.memory_steps]
            say(f"{leg.kind}: peak RSS {leg.bot.memory()['peak_rss_mb']} MB")
            await leg.bot.stop()
    finally:
        for leg in legs:
            if leg.bot is not None:
                await leg.bot.stop()
            if leg.engine is not None:
                await leg.engine.dispose()
        if echo is not None:
            await echo.stop()
        await runner.cleanup()
        if pg_url is not None:
            try:
                await drop_pg_database(pg_url)
            except (OSError, asyncpg.PostgresError) as exc:
                say(f"could not drop the scratch database: {exc}")
        report["legs"] = {leg.kind: leg.results for leg in legs}
        report["summary"] = summarise(legs, echo)
        report["kinds"] = [leg.kind for leg in legs]
        if args.keep:
            report["workdir"] = str(workroot)
        else:
            shutil.rmtree(workroot, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run, smaller counts (< 3 min)")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement")
    parser.add_argument("--json", default=None, help="write the figures here as JSON")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--serial", action="store_true", help="delivery legs one database after the other"
    )
    parser.add_argument("--profile", default=None, help="py-spy raw profiles into this folder")
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default={"delivery", "intake", "click"},
        help="comma-separated subset of delivery,intake,click (memory is always measured)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument(
        "--serve-wrapper",
        default=None,
        help="run `python FILE serve --local ...` instead of `frakturkedjan serve` (to try a "
        "change before making it: FILE patches, then calls bot.cli.main)",
    )
    parser.add_argument(
        "--serve-cpu",
        type=int,
        default=None,
        help="run each `serve` with `--cpu N` (one CPU core; see bench/README.md)",
    )
    args = parser.parse_args(argv)
    unknown = args.only - {"delivery", "intake", "click"}
    if unknown:
        parser.error(f"--only: unknown measurement(s) {', '.join(sorted(unknown))}")
    plan = QUICK if args.quick else FULL
    if args.runs:
        plan = Plan(**{**plan.__dict__, "runs": args.runs})
    report: dict[str, Any] = {
        "date": date.today().isoformat(),
        "serve": " ".join(
            [args.serve_wrapper or "frakturkedjan serve --local"]
            + ([] if args.serve_cpu is None else [f"--cpu {args.serve_cpu}"])
        ),
        "revision": source_revision(),
        "mode": "quick" if args.quick else "full",
        "plan": plan.__dict__,
        "targets": TARGETS.__dict__,
        "machine": machine(),
        "baseline": "stock botbuilder 4.17.1 CloudAdapter + ConfigurationBotFrameworkAuthentication"
        " (bench/echo_bot.py): on_invoke_activity returns InvokeResponse(200,"
        " AdaptiveCardInvokeResponse(...)) as an msrest model",
    }
    started = time.monotonic()
    say(f"mode {report['mode']}: {plan}")
    try:
        asyncio.run(asyncio.wait_for(bench(args, plan, report), plan.budget_s))
    except TimeoutError:
        say(f"stopped: over the budget of {plan.budget_s:.0f} s; figures so far follow")
        report["aborted"] = "over budget"
    except KeyboardInterrupt:
        report["aborted"] = "interrupted"
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    summary = report.get("summary", {})
    print()
    print(
        f"Frakturkedjan benchmark, {report['date']}, {report['machine']['nproc']} cores "
        f"({report['machine']['cpu']}), {report['machine']['ram_gib']} GiB, "
        f"{report['mode']} mode, {plan.runs} run(s), {report['elapsed_s']} s,"
        f" revision {report['revision']}, {report['serve']}"
    )
    clean_min = minimum_seconds(plan.cards, [plan.cards // plan.conversations] * 40)
    print(
        f"delivery minimum: {plan.cards} cards / {plan.conversations} conversations: app 50/s"
        f" -> floor(({plan.cards}-1)/50) = {clean_min:.0f} s from first send to last"
        f" ({plan.cards / 50:.0f} s at 50/s throughput); per conversation"
        f" {plan.cards // plan.conversations} sends -> floor(({plan.cards // plan.conversations}"
        f"-1)/7) = {((plan.cards // plan.conversations) - 1) // 7} s; 5% faults add the"
        " faulted requests to the app window"
    )
    print(table(summary, report.get("kinds", [])))
    if "postgresql_skipped" in report:
        print(f"PostgreSQL leg skipped: {report['postgresql_skipped']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"JSON written to {args.json}")
    verdicts = [
        v.get("pass")
        for kind in report.get("kinds", [])
        for v in summary.get(kind, {}).values()
        if isinstance(v, dict)
    ]
    return 0 if verdicts and all(v is not False for v in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
