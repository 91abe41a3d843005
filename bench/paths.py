"""CPU per action of the two hot service paths, in process, without HTTP or Teams.

Usage, from the repository root: ``python -m bench.paths [COUNT]`` (default 400). On
SQLite (a temporary file, WAL) and on a scratch PostgreSQL database (skipped when none
answers), it migrates, loads the benchmark directory, then times COUNT bundles through
``bot.flows.take_in_answer.ingest`` (each for a patient of its own, one in ten for a
returning patient: ``bench.run.payloads.Bundles``) and COUNT decisions through
``bot.teams.actions.dispatch`` (``case.decide``, one transaction each, the summary card
rendered), one at a time. It prints CPU and wall milliseconds per action (and, on
PostgreSQL, the CPU the database server's processes used for it): what a click
and a bundle cost before aiohttp, the botbuilder turn and the outbox worker add theirs
(compare with ``cpu_ms_per_request`` of ``python -m bench.run``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.run.directory import PHYSICIANS, directory_yaml
from bench.run.payloads import DECISIONS, Bundles
from bench.run.postgres import create_pg_database, drop_pg_database
from bench.run.processes import named_cpu_seconds, run_command
from bot.db import create_engine, session_factory
from bot.flows.take_in_answer import ingest
from bot.teams import actions

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
WARMUP = 20


async def prepare(url: str, workdir: Path) -> None:
    """Migrate and load the benchmark directory with the installed command."""
    exe = str(Path(sys.executable).with_name("frakturkedjan"))
    env = {**os.environ, "DATABASE_URL": url}
    directory = workdir / "directory.yaml"
    directory.write_text(directory_yaml(), encoding="utf-8")
    log = workdir / "prepare.log"
    await run_command([exe, "db", "upgrade"], env=env, cwd=workdir, log=log)
    await run_command([exe, "directory", "load", str(directory)], env=env, cwd=workdir, log=log)


async def ingest_bundle(factory: async_sessionmaker[AsyncSession], body: bytes) -> int:
    """Take in one bundle through the intake service (no HTTP); the new case's id."""
    result = await ingest(
        factory,
        body=body,
        content_type="application/fhir+json",
        sender="bench",
        channel="cli",
        secret="bench",  # noqa: S106 - the patient-key salt of a benchmark
        now=NOW,
    )
    if result.status != 201 or result.case_id is None:
        raise RuntimeError(f"intake answered {result.status}: {result.body}")
    return result.case_id


async def measure(url: str, count: int) -> dict[str, float]:
    engine = create_engine(url)
    factory = session_factory(engine)
    bundles = Bundles()
    physician = PHYSICIANS[0]
    cases: list[int] = []
    figures: dict[str, float] = {}
    try:

        async def one_bundle(n: int) -> None:
            cases.append(await ingest_bundle(factory, bundles.make(f"paths-{n}", physician)))

        async def one_click(n: int) -> None:
            decision = DECISIONS[n % len(DECISIONS)]
            data = {"case_id": cases[n], "version": 1, "decision": decision, "other_note": "x"}
            invoke = actions.Invoke(actor_aad=physician.aad, now=NOW, trigger="manual")
            answer = await actions.dispatch(factory, "case.decide", data, invoke)
            if answer.card is None:
                raise RuntimeError(f"click refused: {answer.error}")

        for name, step in (("intake", one_bundle), ("click", one_click)):
            for n in range(WARMUP):
                await step(n)
            cpu, wall = time.process_time(), time.perf_counter()
            server = named_cpu_seconds("postgres")
            for n in range(WARMUP, WARMUP + count):
                await step(n)
            figures[f"{name}_cpu_ms"] = 1000 * (time.process_time() - cpu) / count
            figures[f"{name}_wall_ms"] = 1000 * (time.perf_counter() - wall) / count
            figures[f"{name}_server_ms"] = 1000 * (named_cpu_seconds("postgres") - server) / count
    finally:
        await engine.dispose()
    return figures


def server(kind: str, figures: dict[str, float], name: str) -> str:
    """`, server 1.23`: the PostgreSQL server's CPU ms per action (its processes on this
    machine: the session's backend and the background writers)."""
    if kind != "postgresql":
        return ""
    return f", server {figures[name + '_server_ms']:4.2f}"


async def main(count: int) -> int:
    with tempfile.TemporaryDirectory(prefix="fk-paths-") as tmp:
        workdir = Path(tmp)
        legs = [("sqlite", f"sqlite+aiosqlite:///{workdir / 'paths.db'}")]
        pg_url, problem = await create_pg_database()
        if pg_url is None:
            print(f"PostgreSQL leg skipped: {problem}")
        else:
            legs.append(("postgresql", pg_url))
        try:
            for kind, url in legs:
                await prepare(url, workdir)
                figures = await measure(url, count)
                print(
                    f"{kind:10}  intake {figures['intake_cpu_ms']:5.2f} ms CPU "
                    f"({figures['intake_wall_ms']:5.2f} wall{server(kind, figures, 'intake')})"
                    "  click "
                    f"{figures['click_cpu_ms']:5.2f} ms CPU ({figures['click_wall_ms']:5.2f} wall"
                    f"{server(kind, figures, 'click')})  per action, {count} each"
                )
        finally:
            if pg_url is not None:
                await drop_pg_database(pg_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)))
