"""The stack's floor: the least a click and a bundle cost on aiohttp + SQLAlchemy 2 async.

Usage: ``python bench/floor.py [--runs 3] [--requests 3000] [--json FILE] [--skip-postgres]``
(the server alone: ``python bench/floor.py serve --db URL --port P [--cases N]``).

What it measures. A *floor* server, its own process on 127.0.0.1: a bare aiohttp app on
the product's own engine (``bot.db.create_engine``: on SQLite one pooled connection, WAL,
BEGIN IMMEDIATE, synchronous=NORMAL; on PostgreSQL its pool) with small tables of its own
(SQLAlchemy Core, dropped and created at start, N cases seeded). ``POST /click`` takes a
Teams ``adaptiveCard/action`` invoke (``case.decide``) and runs, in one transaction, the 7
statements a decision needs (lock and read the case, update it, insert an event, the
decision, one task, an audit row, an outbox row holding the card activity), then answers
the invoke with a fixed ~3 KB Adaptive Card. ``POST /intake`` parses a FHIR bundle with
the product's parser (``bot.intake.fhir.parse_bundle``) and runs, in one transaction, the
6 statements of a new case (the earlier answer by report id, then insert the case, the
answer with its raw body, an event, an audit row, an outbox row), then answers 201.
The driver starts the stock botbuilder echo bot (bench/echo_bot.py) and one floor server
per database (SQLite in a temporary folder; a scratch PostgreSQL database, skipped when
PostgreSQL does not answer) and per run times, at concurrency 16, the same invokes against
the echo bot and against ``/click`` (each case clicked once), then bundles with distinct
report ids against ``/intake``. It prints the medians against the issue's targets, with the
CPU per request of each server process.

Why. The product cannot do less per request than this on its stack (aiohttp, SQLAlchemy 2
async, aiosqlite/asyncpg): a target the floor misses is out of reach of any trimming of
the product, and the margin by which the floor meets one is all the product may spend.

Left out on purpose: botbuilder (activity parsing, the turn, the adapter), the ORM, card
rendering (the card is a fixed dict, no Jinja), role and directory checks, the patient
key, request logging, and the outbox worker's sends.

Exit status 0 when every request was answered as expected (a FAIL against a target is a
finding, not an error), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import signal
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import asyncpg  # noqa: E402
import run as harness  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from aiohttp import web  # noqa: E402
from loadgen import Request, run_load  # noqa: E402
from parse_bench import TODAY  # noqa: E402
from sqlalchemy import insert, select, update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bot.db import UTCDateTime, create_engine, utcnow  # noqa: E402
from bot.intake.fhir import BundleInvalid, parse_bundle  # noqa: E402

CONCURRENCY = 16
LOCAL = "http://127.0.0.1"
WARMUP = 200
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
TARGETS = harness.TARGETS

# --- the floor server -----------------------------------------------------------------

meta = sa.MetaData()


def table(name: str, *columns: sa.Column[Any]) -> sa.Table:
    """`floor_NAME` with an integer key and an `at` timestamp; columns NOT NULL unless said."""
    key = sa.Column("id", sa.Integer, primary_key=True)
    return sa.Table(f"floor_{name}", meta, key, *columns, sa.Column("at", UTCDateTime))


def col(name: str, kind: Any = None, *, null: bool = False, **kwargs: Any) -> sa.Column[Any]:
    """A column, String(200) unless `kind` says otherwise."""
    return sa.Column(name, kind if kind is not None else sa.String(200), nullable=null, **kwargs)


def case_ref(**kwargs: Any) -> sa.Column[Any]:
    return col("case_id", sa.ForeignKey("floor_cases.id"), **kwargs)


cases = table("cases", col("state"), col("version", sa.Integer))
answers = table(
    "answers", col("report", unique=True), col("hash"), case_ref(), col("body", sa.Text)
)
events = table("case_events", case_ref(index=True), col("kind"), col("actor", null=True))
decisions = table("decisions", case_ref(unique=True), col("decision"), col("note", null=True))
tasks = table("tasks", case_ref(index=True), col("kind"), col("state"))
audit = table("audit", col("actor", null=True), col("action"), col("case_id", sa.Integer))
outbox = table(
    "outbox", col("case_id", sa.Integer), col("purpose"), col("activity", sa.Text), col("status")
)

FACTS = """\
Patient|Namn: Testsson, Anna Maria|Personnummer: 19520314-XXXX|Ålder: 74 år
Bentäthetsmätning (DXA) 2026-11-10|Ländrygg L1–L4: T-score -2,9 / BMD 0,712 g/cm²|\
Höft totalt: T-score -2,6 / BMD 0,701 g/cm²|Lårbenshals: T-score -2,7 / BMD 0,655 g/cm²|\
Radius 33 %: T-score -2,1 / BMD 0,598 g/cm²
Frakturen|Diagnos: S52.5 Fraktur på nedre delen av radius|\
Remiss: R-2026-000123, Akutmottagningen, Benchvalla sjukhus
Beslut|Beslut: Normalt brev|Beslutat av: Läkare 1-1 (SE2321000156-B1L1)|Tid: 2026-11-21 10:00|\
Mottagande enhet: Benchvalla vårdcentral 1 (SE2321000156-BNCH1)|\
Uppgift: Brev till patienten, medicinsk vårdadministratör
Händelser|2026-11-12 09:30: Svar mottaget från röntgen|2026-11-12 09:31: Kort skickat till läkare|\
2026-11-21 10:00: Beslut registrerat|2026-11-21 10:00: Uppgift skapad (brev)"""
NOTE = (
    "Skicka brev med behandlingsrekommendation och information om kalcium, D-vitamin, "
    "fysisk aktivitet och fallprevention. Patienten kallas till uppföljande DXA om två år. "
    "Kontrollera att patienten inte redan står på benspecifik behandling."
)
CARD: dict[str, Any] = {  # about 3 KB as JSON, like the product's summary card
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
    "refresh": {"userIds": [], "action": {"type": "Action.Execute", "verb": "case.refresh"}},
    "body": [{"type": "TextBlock", "text": "Beslut registrerat", "weight": "Bolder"}],
    "actions": [
        {"type": "Action.OpenUrl", "title": "Öppna ärendet", "url": "https://example.invalid/c/1"},
        {"type": "Action.Execute", "title": "Ångra", "verb": "case.undo", "data": {"case_id": 1}},
        {"type": "Action.Execute", "title": "Visa svaret", "verb": "case.show", "data": {"id": 1}},
    ],
    "msteams": {"width": "Full"},
}
for section in FACTS.splitlines():
    title, *lines = section.split("|")
    facts = [dict(zip(("title", "value"), x.split(": ", 1), strict=True)) for x in lines]
    CARD["body"] += [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "separator": True},
        {"type": "FactSet", "facts": facts},
    ]
CARD["body"].append({"type": "TextBlock", "text": NOTE, "wrap": True, "isSubtle": True})
ACTIVITY = {"type": "message", "attachments": [{"contentType": CARD_TYPE, "content": CARD}]}


def json_response(payload: dict[str, Any], status: int = 200) -> web.Response:
    body = json.dumps(payload).encode()
    return web.Response(status=status, body=body, content_type="application/json")


def floor_app(engine: AsyncEngine) -> web.Application:
    async def click(request: web.Request) -> web.Response:
        activity = json.loads(await request.read())
        data, actor = activity["value"]["action"]["data"], activity["from"]["aadObjectId"]
        case_id, now = int(data["case_id"]), utcnow()
        ref = {"case_id": case_id, "at": now}
        note = data.get("other_note") or data.get("note")
        async with engine.begin() as conn:
            query = select(cases.c.state, cases.c.version).where(cases.c.id == case_id)
            row = (await conn.execute(query.with_for_update())).first()
            if row is None or row.version != data["version"] or row.state != "awaiting":
                return json_response({"statusCode": 412, "error": "stale card"}, 412)
            for statement in (
                update(cases)
                .where(cases.c.id == case_id)
                .values(state="decided", version=cases.c.version + 1, at=now),
                insert(events).values(**ref, kind="decided", actor=actor),
                insert(decisions).values(**ref, decision=data["decision"], note=note),
                insert(tasks).values(**ref, kind="letter", state="open"),
                insert(audit).values(**ref, actor=actor, action="case.decide"),
                insert(outbox).values(
                    **ref, purpose="task_card", activity=json.dumps(ACTIVITY), status="pending"
                ),
            ):
                await conn.execute(statement)
        return json_response({"statusCode": 200, "type": CARD_TYPE, "value": CARD})

    async def intake(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            answer = parse_bundle(json.loads(body), today=TODAY)
        except (ValueError, BundleInvalid) as exc:
            return json_response({"error": type(exc).__name__}, 422)
        now = utcnow()
        async with engine.begin() as conn:
            query = select(answers.c.case_id).where(answers.c.report == answer.report_value)
            earlier = await conn.scalar(query)
            if earlier is not None:
                return json_response({"status": "duplicate", "case_id": earlier})
            created = await conn.execute(insert(cases).values(state="awaiting", version=1, at=now))
            ref = {"case_id": created.inserted_primary_key[0], "at": now}  # type: ignore[index]
            for statement in (
                insert(answers).values(
                    **ref, report=answer.report_value, hash=answer.content_hash, body=body.decode()
                ),
                insert(events).values(**ref, kind="received"),
                insert(audit).values(**ref, action="intake"),
                insert(outbox).values(
                    **ref, purpose="decision_card", activity=json.dumps(ACTIVITY), status="pending"
                ),
            ):
                await conn.execute(statement)
        return json_response({"status": "created", "case_id": ref["case_id"]}, 201)

    async def ready(_request: web.Request) -> web.Response:
        return json_response({"ready": True})

    app = web.Application()
    app.router.add_post("/click", click)
    app.router.add_post("/intake", intake)
    app.router.add_get("/readyz", ready)
    return app


async def serve(url: str, port: int, seed: int) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(meta.drop_all)
        await conn.run_sync(meta.create_all)
        rows = [{"state": "awaiting", "version": 1, "at": utcnow()}] * seed
        for start in range(0, seed, 5000):
            await conn.execute(insert(cases), rows[start : start + 5000])
    runner = web.AppRunner(floor_app(engine), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await engine.dispose()


# --- the driver -----------------------------------------------------------------------


async def timed_load(requests: list[Request], pid: int, check: Any) -> dict[str, Any]:
    """Warm up, then time the rest; the figures with the CPU ms per request of `pid`."""
    await run_load(requests[:WARMUP], concurrency=CONCURRENCY, check=check)
    figures: dict[str, Any] = {}  # + server_cpu, loadgen_cpu, server_machine_busy, in cores
    before = harness.cpu_seconds(pid)
    with harness.cpu_meter(figures, "server_", pid):
        result = await run_load(requests[WARMUP:], concurrency=CONCURRENCY, check=check)
    cpu_ms = 1000 * (harness.cpu_seconds(pid) - before) / max(1, result.requests)
    figures |= {**result.figures(), "cpu_ms_per_request": round(cpu_ms, 2)}
    if result.failure_samples:
        figures["failure_samples"] = result.failure_samples
    return figures


def brief(f: dict[str, Any]) -> str:
    return (
        f"{f['throughput_per_s']}/s, p99 {f['p99_ms']} ms, {f['failures']} failed; CPU cores:"
        f" server {f['server_cpu']}, loadgen {f['server_loadgen_cpu']},"
        f" machine {f.get('server_machine_busy')}"
    )


async def one_run(kind: str, run: int, count: int, floor: Any, echo: Any) -> dict[str, Any]:
    """Echo bot, floor `/click`, floor `/intake`; `floor` and `echo` are (url, pid)."""
    (floor_url, floor_pid), (echo_url, echo_pid) = floor, echo
    first, people = 1 + run * (WARMUP + count), harness.PHYSICIANS  # seeded ids, each once
    bodies = [
        harness.click_body(f"{LOCAL}:9", people[n % 16], first + n, decision, n)
        for n, decision in zip(range(WARMUP + count), itertools.cycle(harness.DECISIONS))
    ]
    headers, check = {"Content-Type": "application/json"}, harness.is_card_answer
    stock = await timed_load(
        [Request(f"{echo_url}/api/messages", b, headers) for b in bodies], echo_pid, check
    )
    click = await timed_load(
        [Request(f"{floor_url}/click", b, headers) for b in bodies], floor_pid, check
    )
    click["ratio"] = round(click["throughput_per_s"] / max(0.1, stock["throughput_per_s"]), 2)
    harness.say(f"{kind} run {run + 1} echo: {brief(stock)}")
    harness.say(f"{kind} run {run + 1} click: {brief(click)}, {click['ratio']}x the echo bot")
    bundles, fhir = harness.Bundles(), {"Content-Type": "application/fhir+json"}
    reports = [(f"{kind}-{run}-{n:06d}", people[n % 16]) for n in range(WARMUP + count)]
    intake = await timed_load(
        [Request(f"{floor_url}/intake", bundles.make(*r), fhir) for r in reports],
        floor_pid,
        harness.is_created,
    )
    harness.say(f"{kind} run {run + 1} intake: {brief(intake)}")
    return {"run": run, "click": click, "echo": stock, "intake": intake}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the runs, in the shape run.py's `table` prints."""

    def med(part: str, key: str) -> float:
        return harness.median([r[part][key] for r in runs])

    keys = ("throughput_per_s", "p50_ms", "p99_ms", "cpu_ms_per_request")
    click = {k: med("click", k) for k in (*keys, "ratio")}
    click |= {f"baseline_{k}": med("echo", k) for k in keys}
    click["failures"] = sum(r["click"]["failures"] + r["echo"]["failures"] for r in runs)
    ratio, p99 = click["ratio"], click["p99_ms"]
    click["pass"] = ratio >= TARGETS.click_ratio and p99 <= TARGETS.click_p99_ms
    intake = {k: med("intake", k) for k in keys}
    intake["failures"] = sum(r["intake"]["failures"] for r in runs)
    intake["pass"] = (
        intake["throughput_per_s"] >= TARGETS.intake_rate
        and intake["p99_ms"] <= TARGETS.intake_p99_ms
    )
    for part in (click, intake):
        part["pass"] = part["pass"] and part["failures"] == 0
    return {"click": click, "intake": intake}


async def drive(args: argparse.Namespace, report: dict[str, Any]) -> None:
    workroot = Path(tempfile.mkdtemp(prefix="fk-floor-"))
    legs = [("sqlite", f"sqlite+aiosqlite:///{workroot / 'floor.db'}")]
    pg_url: str | None = None
    if args.skip_postgres:
        report["postgresql_skipped"] = "--skip-postgres"
    else:
        pg_url, problem = await harness.create_pg_database()
        if pg_url is None:
            harness.say(f"SKIPPING the PostgreSQL leg: {problem}")
            report["postgresql_skipped"] = problem
        else:
            legs.append(("postgresql", pg_url))
    seed = max(30_000, args.runs * (WARMUP + args.requests))
    processes: list[harness.Process] = []
    try:
        port = free = harness.free_port()
        argv = [sys.executable, str(ROOT / "bench" / "echo_bot.py"), "--port", str(port)]
        echo = harness.Process("echo-bot", argv, env=harness.child_env(""), cwd=workroot)
        processes.append(echo)
        await echo.start()
        await echo.wait_http(f"{LOCAL}:{free}/api/messages")
        for kind, url in legs:
            port = harness.free_port()
            argv = [sys.executable, __file__, "serve", "--db", url, "--port", str(port)]
            argv += ["--cases", str(seed)]
            floor = harness.Process(f"floor-{kind}", argv, env=harness.child_env(url), cwd=workroot)
            processes.append(floor)
            await floor.start()
            await floor.wait_http(f"{LOCAL}:{port}/readyz", within_s=120)
            harness.say(f"{kind}: floor server pid {floor.pid} up, {seed} cases seeded")
            servers = (f"{LOCAL}:{port}", floor.pid), (f"{LOCAL}:{free}", echo.pid)
            runs = [await one_run(kind, n, args.requests, *servers) for n in range(args.runs)]
            report["legs"][kind] = runs
            report["summary"][kind] = summarise(runs)
            await floor.stop()
            report["summary"][kind]["floor_peak_rss_mb"] = floor.memory()["peak_rss_mb"]
    finally:
        for process in processes:
            await process.stop()
        if pg_url is not None:
            try:
                await harness.drop_pg_database(pg_url)
            except (OSError, asyncpg.PostgresError) as exc:
                harness.say(f"could not drop the scratch database: {exc}")
        shutil.rmtree(workroot, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="run the floor server alone")
    server.add_argument("--db", required=True, help="SQLAlchemy URL (aiosqlite or asyncpg)")
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--cases", type=int, default=30_000, help="cases to seed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per phase")
    parser.add_argument("--json", default=None, help="write the figures here as JSON")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args.db, args.port, args.cases))
        return 0
    report: dict[str, Any] = {
        "date": date.today().isoformat(),
        "revision": harness.source_revision(),
        "machine": harness.machine(),
        **{k: v for k, v in vars(args).items() if k in ("runs", "requests")},
        "warmup": WARMUP,
        "concurrency": CONCURRENCY,
        "targets": TARGETS.__dict__,
        "legs": {},
        "summary": {},
    }
    started = time.monotonic()
    try:
        asyncio.run(drive(args, report))
    except KeyboardInterrupt:
        report["aborted"] = "interrupted"
    m, summary = report["machine"], report["summary"]
    print(
        f"\nThe stack's floor, {report['date']}, {m['nproc']} cores ({m['cpu']}), "
        f"{args.runs} run(s) of {args.requests} requests, concurrency {CONCURRENCY}, "
        f"{time.monotonic() - started:.0f} s, revision {report['revision']}"
    )
    print(harness.table(summary, list(summary)))
    if "postgresql_skipped" in report:
        print(f"PostgreSQL leg skipped: {report['postgresql_skipped']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"JSON written to {args.json}")
    failures = sum(s[part]["failures"] for s in summary.values() for part in ("click", "intake"))
    return 0 if summary and not failures and "aborted" not in report else 1


if __name__ == "__main__":
    raise SystemExit(main())
