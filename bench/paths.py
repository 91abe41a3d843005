"""CPU per action of the two hot service paths, in process, without HTTP or Teams.

Usage, from the repository root: ``python -m bench.paths [COUNT]`` (default 400). On
SQLite (a temporary file, WAL) and on a scratch PostgreSQL database (skipped when none
answers), it migrates, loads the benchmark directory, then times COUNT bundles through
``bot.flows.take_in_answer.ingest`` (each for a patient of its own, one in ten for a
returning patient: ``bench.run.payloads.Bundles``) and COUNT decisions through
``bot.teams.actions.dispatch`` (``case.decide``, one transaction each, the summary card
rendered), one at a time. Then it draws, as the outbox worker does before a send
(``bot.messaging.views.MessageViews``, in one reading session each), every card those
clicks left to draw: the physician's decision card updated, the task cards. It prints CPU
and wall milliseconds per action, and per drawn card (and, on PostgreSQL, the CPU the
database server's processes used for it): what a click and a bundle cost before aiohttp,
the botbuilder turn and the outbox worker add theirs (compare with ``cpu_ms_per_request``
of ``python -m bench.run``), and what the worker spends drawing the cards of a click.
The outbox worker sends what the bundles left (their decision cards, drawn at send) before
the clicks, and what the clicks left after them (``drain``; every physician and MVA
channel has a chat with the bot; Teams replaced by a sender that answers at once, no
pacing): CPU per row, all the worker does included (the claim, the routing, the drawing,
the recording of each send). The clicks are the benchmark's (``bench.run.payloads``), each
deciding its case.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.run.directory import PHYSICIANS, UNITS, directory_yaml
from bench.run.payloads import DECISIONS, Bundles, decision_data
from bench.run.postgres import create_pg_database, drop_pg_database
from bench.run.processes import named_cpu_seconds, run_command
from bot.db import create_engine, session_factory, transaction
from bot.flows.take_in_answer import ingest
from bot.messaging.views import LIVE_PURPOSES, MessageViews
from bot.outbox import service as outbox
from bot.outbox.models import OutboxMessage
from bot.outbox.pacing import Pacer
from bot.outbox.views import DRAW_AT_SEND, shown_at_target
from bot.outbox.worker import OutboxWorker
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
            data = decision_data(physician, cases[n], DECISIONS[n % len(DECISIONS)])
            invoke = actions.Invoke(actor_aad=physician.aad, now=NOW, trigger="manual")
            answer = await actions.dispatch(factory, "case.decide", data, invoke)
            if answer.card is None:
                raise RuntimeError(f"click refused: {answer.error}")

        await remember_conversations(factory)
        for name, step in (("intake", one_bundle), ("click", one_click)):
            if name == "click":  # the decision cards posted, as before a click in Teams
                await measure_sends(factory, figures, "intake")
            for n in range(WARMUP):
                await step(n)
            cpu, wall = time.process_time(), time.perf_counter()
            server = named_cpu_seconds("postgres")
            for n in range(WARMUP, WARMUP + count):
                await step(n)
            figures[f"{name}_cpu_ms"] = 1000 * (time.process_time() - cpu) / count
            figures[f"{name}_wall_ms"] = 1000 * (time.perf_counter() - wall) / count
            figures[f"{name}_server_ms"] = 1000 * (named_cpu_seconds("postgres") - server) / count
        await measure_draws(factory, cases[WARMUP:], figures)
        await measure_sends(factory, figures, "click")
    finally:
        await engine.dispose()
    return figures


async def measure_draws(
    factory: async_sessionmaker[AsyncSession], cases: list[int], figures: dict[str, float]
) -> None:
    """Draw each card the clicks on `cases` left to draw, as the worker does before sending
    it (the update of the decision card, the new task cards); figures per card drawn."""
    async with factory() as session:
        rows = (
            await session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.case_id.in_(cases),
                    OutboxMessage.purpose.in_(LIVE_PURPOSES),
                    OutboxMessage.status == "pending",
                )
            )
        ).scalars()
        shown = [
            shown_at_target(row)
            for row in rows
            if row.update_of is not None or row.activity.get(DRAW_AT_SEND) is True
        ]
    views = MessageViews(factory)
    cpu, wall = time.process_time(), time.perf_counter()
    server = named_cpu_seconds("postgres")
    for one in shown:
        async with factory() as session:
            if await views.current(one, session=session) is None:
                raise RuntimeError(f"nothing drawn for {one}")
    figures["draws"] = len(shown)
    figures["draw_cpu_ms"] = 1000 * (time.process_time() - cpu) / len(shown)
    figures["draw_wall_ms"] = 1000 * (time.perf_counter() - wall) / len(shown)
    figures["draw_server_ms"] = 1000 * (named_cpu_seconds("postgres") - server) / len(shown)


@dataclass(frozen=True)
class Answered:
    """A send Teams took at once."""

    activity_id: str
    ok: bool = True
    status: int = 201
    retry_after: float | None = None
    error_code: str | None = None


class Instant:
    """Teams that answers every send and update at once (no HTTP)."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_activity(
        self, service_url: str, conversation_id: str, activity: dict[str, Any]
    ) -> Answered:
        self.sent += 1
        return Answered(f"a-{self.sent}")

    async def update_activity(
        self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> Answered:
        self.sent += 1
        return Answered(activity_id)


async def remember_conversations(factory: async_sessionmaker[AsyncSession]) -> None:
    """Every physician and MVA channel has a chat with the bot (as after its installation)."""
    async with transaction(factory) as session:
        for kind, key in [("personal", p.aad) for p in PHYSICIANS] + [
            ("channel", u.channel) for u in UNITS
        ]:
            await outbox.remember_conversation(
                session,
                kind=kind,
                key=key,
                conversation_id=f"a:{key}",
                service_url="https://teams.invalid/",
                tenant_id="t",
                bot_id="b",
            )


async def measure_sends(
    factory: async_sessionmaker[AsyncSession], figures: dict[str, float], name: str
) -> None:
    """The outbox worker sends everything pending (the rows of phase `name`); figures per
    row done."""
    sender = Instant()
    free = Pacer(conversation_windows=((10**6, 1.0),), app_windows=((10**6, 1.0),), margin=0.0)
    worker = OutboxWorker(factory, sender, pacer=free, views=MessageViews(factory))
    cpu, wall = time.process_time(), time.perf_counter()
    server = named_cpu_seconds("postgres")
    done = await worker.drain()
    figures[f"{name}_sends"] = done
    figures[f"{name}_send_cpu_ms"] = 1000 * (time.process_time() - cpu) / done
    figures[f"{name}_send_wall_ms"] = 1000 * (time.perf_counter() - wall) / done
    figures[f"{name}_send_server_ms"] = 1000 * (named_cpu_seconds("postgres") - server) / done


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
                print(
                    f"{'':10}  draw {figures['draw_cpu_ms']:5.2f} ms CPU "
                    f"({figures['draw_wall_ms']:5.2f} wall{server(kind, figures, 'draw')})"
                    f"  per card the worker draws, {figures['draws']:.0f} cards"
                )
                for phase in ("intake", "click"):
                    name = f"{phase}_send"
                    print(
                        f"{'':10}  send {figures[name + '_cpu_ms']:5.2f} ms CPU "
                        f"({figures[name + '_wall_ms']:5.2f} wall{server(kind, figures, name)})"
                        f"  per row the worker sends after the {phase}s, "
                        f"{figures[name + 's']:.0f} rows"
                    )
        finally:
            if pg_url is not None:
                await drop_pg_database(pg_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)))
