"""The whole benchmark in order: the fake connector, the echo bot, then for each Teams
runtime one leg per database, their delivery runs side by side, then intake and clicks
one database at a time; and the cleanup, whatever happens."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from bench import ROOT
from bench.fake_connector import FakeConnector
from bench.run.click import click_run
from bench.run.delivery import delivery_run
from bench.run.intake import intake_run
from bench.run.legs import Leg, child_env, start_leg
from bench.run.plan import Plan
from bench.run.postgres import create_pg_database, drop_pg_database
from bench.run.processes import Process, free_port
from bench.run.profiler import Profiler
from bench.run.report import summarise


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
    if "bot_cpu" in figures:
        parts.append(f"cpu={figures['bot_cpu']}")
    if "bot_worker_cpu" in figures:
        parts.append(f"worker_cpu={figures['bot_worker_cpu']}")
    if "baseline" in figures:
        parts.append(f"stock={figures['baseline']['throughput_per_s']}/s")
    return " ".join(parts)


async def run_bench(args: argparse.Namespace, plan: Plan, report: dict[str, Any]) -> None:
    """Run the measurements `args.only` asks for; fills `report` (legs, summary, kinds)
    even when cancelled."""
    connector = FakeConnector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    connector_port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", connector_port)
    await site.start()
    connector.base_url = f"http://127.0.0.1:{connector_port}"
    profiler = Profiler(Path(args.profile) if args.profile else None)
    serve_command = [sys.executable, args.serve_wrapper] if args.serve_wrapper else []
    serve_args = [] if args.serve_cpu is None else ["--cpu", args.serve_cpu]
    if args.profile and profiler.exe is None:
        say("--profile: py-spy is not installed (pip install py-spy); profiling skipped")

    workroot = Path(tempfile.mkdtemp(prefix="fk-bench-"))
    legs: list[Leg] = []
    pg_urls: list[str] = []
    echo: Process | None = None
    try:
        for runtime in args.runtimes:
            folders = {kind: workroot / f"{kind}-{runtime}" for kind in ("sqlite", "postgresql")}
            urls = {"sqlite": f"sqlite+aiosqlite:///{folders['sqlite'] / 'bench.db'}"}
            pg_url = await scratch_postgres(args, report)
            if pg_url is not None:
                pg_urls.append(pg_url)
                urls["postgresql"] = pg_url
            for kind, url in urls.items():
                folders[kind].mkdir()
                legs.append(
                    Leg(
                        kind,
                        url,
                        folders[kind],
                        connector,
                        plan,
                        profiler,
                        serve_command=serve_command,
                        serve_args=serve_args,
                        runtime=runtime,
                    )
                )

        echo_port = free_port()
        echo = Process(
            "echo-bot",
            [sys.executable, "-m", "bench.echo_bot", "--port", str(echo_port)],
            env=child_env(""),
            cwd=ROOT,
            log_dir=workroot,
        )
        await echo.start()
        echo_url = f"http://127.0.0.1:{echo_port}"
        await echo.wait_http(f"{echo_url}/api/messages")

        for runtime in args.runtimes:  # one runtime's processes at a time
            await run_runtime(
                args, plan, [leg for leg in legs if leg.runtime == runtime], echo_url, echo.pid
            )
    finally:
        for leg in legs:
            if leg.bot is not None:
                await leg.bot.stop()
            if leg.engine is not None:
                await leg.engine.dispose()
        if echo is not None:
            await echo.stop()
        await runner.cleanup()
        for pg_url in pg_urls:
            try:
                await drop_pg_database(pg_url)
            except (OSError, asyncpg.PostgresError) as exc:
                say(f"could not drop the scratch database: {exc}")
        report["legs"] = {leg.name: leg.results for leg in legs}
        report["summary"] = summarise(legs, echo)
        report["kinds"] = [leg.name for leg in legs]
        if args.keep:
            report["workdir"] = str(workroot)
        else:
            shutil.rmtree(workroot, ignore_errors=True)


async def scratch_postgres(args: argparse.Namespace, report: dict[str, Any]) -> str | None:
    """A scratch PostgreSQL database for one leg; None, with the reason in `report`, when
    the PostgreSQL legs are skipped."""
    if args.skip_postgres:
        report["postgresql_skipped"] = "--skip-postgres"
    if "postgresql_skipped" in report:
        return None
    url, problem = await create_pg_database()
    if url is None:
        say(f"SKIPPING the PostgreSQL leg: {problem}")
        report["postgresql_skipped"] = problem
    return url


async def run_runtime(
    args: argparse.Namespace, plan: Plan, legs: list[Leg], echo_url: str, echo_pid: int
) -> None:
    """The measurements of one Teams runtime's legs (one per database); its `serve`
    processes are stopped when done."""
    for leg in legs:
        say(f"starting serve --local on {leg.kind}, TEAMS_SDK={leg.runtime}")
        await start_leg(leg)
        assert leg.bot is not None
        say(f"{leg.name}: serve pid {leg.bot.pid}, up")

    # 3. delivery: the legs side by side (each its own app and limits) unless --serial
    for faulty in (False, True) if "delivery" in args.only else ():
        key = "delivery_faulty" if faulty else "delivery_clean"
        for run in range(plan.runs):
            steps = [
                timed(f"{leg.name} {key} run {run + 1}", delivery_run(leg, run, faulty=faulty))
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
            figures = await timed(f"{leg.name} intake run {run + 1}", intake_run(leg, run))
            leg.results.setdefault("intake", []).append(figures)
        leg.checkpoint("after_intake")
        for run in range(plan.runs if "click" in args.only else 0):
            figures = await timed(
                f"{leg.name} click run {run + 1}", click_run(leg, run, echo_url, echo_pid)
            )
            leg.results.setdefault("click", []).append(figures)
        leg.checkpoint("after_click")
        assert leg.bot is not None and leg.teams is not None
        leg.results["teams_connector"] = [leg.teams.summary()]
        leg.results["memory_steps"] = [leg.memory_steps]
        after = ", ".join(f"{k} {v['peak_mb']}" for k, v in leg.memory_steps.items())
        memory = leg.bot.memory()
        worker = (
            f", worker {memory['worker_peak_rss_mb']} MB, total {memory['total_peak_rss_mb']} MB"
            if memory["worker_processes"]
            else ""
        )
        say(f"{leg.name}: peak RSS {memory['peak_rss_mb']} MB{worker} (peak after: {after})")
        await leg.bot.stop()
