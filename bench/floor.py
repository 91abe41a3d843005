"""The stack's floor: the least a click and a bundle cost on aiohttp + SQLAlchemy 2 async.

Usage, from the repository root: ``python -m bench.floor [--runs 3] [--requests 3000]
[--json FILE] [--skip-postgres]`` (the server alone: ``python -m bench.floor serve --db URL
--port P [--cases N] [--card-context FILE]``).

What it measures. A *floor* server, its own process on 127.0.0.1: a bare aiohttp app on
the product's own engine (``bot.db.create_engine``: on SQLite one pooled connection, WAL,
BEGIN IMMEDIATE, synchronous=NORMAL; on PostgreSQL its pool) with small tables of its own
(SQLAlchemy Core, dropped and created at start, N cases seeded, and a role table holding
the 16 bench physicians as ``physician`` and the 4 bench MVAs as ``mva``). Its routes:

- ``POST /click`` takes a Teams ``adaptiveCard/action`` invoke (``case.decide``) and runs,
  in one transaction, the 7 statements a decision needs (lock and read the case, update
  it, insert an event, the decision, one task, an audit row, an outbox row holding the
  card activity), then answers the invoke with a fixed ~3 KB Adaptive Card. No role check,
  no rendering.
- ``POST /click-min``, the issue's minimum ("role check; one transaction with case, tasks,
  audit and outbox; card render; invoke response"): in one transaction, first one SELECT
  of the role rows of the invoke's ``from.aadObjectId`` (without a ``physician`` row the
  invoke is answered HTTP 200 with an ``application/vnd.microsoft.error`` body, statusCode
  403, and nothing is written), then the 7 statements of ``/click``; after the commit it
  renders the product's real summary card, ``cards.render.render("case_summary_card",
  **ctx)`` (Jinja, every request, nothing cached), and answers the invoke with it. ``ctx``
  is ``--card-context``: the driver captures it at start-up from the product itself (on a
  scratch SQLite file, migrated and loaded with the bench directory as bench/paths.py
  does, one bundle through ``ingest`` and ``case.decide`` through ``actions.dispatch``,
  with ``bot.messaging.cards.render`` wrapped to record it; JSON as it is, nothing converted).
  Only the case id and "Ärende N" of the clicked case are put into it per request.
- ``POST /intake`` parses a FHIR bundle with the product's parser
  (``bot.intake.fhir.parse_bundle``) and runs, in one transaction, the 6 statements of a
  new case (the earlier answer by report id, then insert the case, the answer with its raw
  body, an event, an audit row, an outbox row), then answers 201.

The driver captures the card context, starts the stock botbuilder echo bot
(bench/echo_bot.py) and one floor server per database (SQLite in a temporary folder; a
scratch PostgreSQL database, skipped when PostgreSQL does not answer), checks that
``/click-min`` refuses an MVA and an unknown user, and per run times, at concurrency 16,
the same invokes against the echo bot, against ``/click`` and against ``/click-min``
(fresh case ids for each route, each case clicked once), then bundles with distinct
report ids against ``/intake``. It prints the medians against the issue's targets, with
the CPU per request of each server process; both clicks are compared with the same run's
echo bot figures.

Why. The product cannot do less per request than this on its stack (aiohttp, SQLAlchemy 2
async, aiosqlite/asyncpg): a target the floor misses is out of reach of any trimming of
the product, and the margin by which the floor meets one is all the product may spend.

Left out on purpose: botbuilder (activity parsing, the turn, the adapter), the ORM, the
patient key, request logging, and the outbox worker's sends; in ``/click`` also the role
check and the rendering. The role check of ``/click-min`` asks for a physician role in
any unit (the floor's cases have no unit), it loads no staff row or directory, and a
refusal writes no audit row; the card it renders is the captured one, not read back
from the case's rows (the 7 statements read nothing the card shows).

Exit status 0 when every request was answered as expected (a FAIL against a target is a
finding, not an error), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench import ROOT
from bench.loadgen import Request, run_load
from bench.parse_bench import TODAY
from bench.run.directory import PHYSICIANS, SECRETARIES
from bench.run.harness import say
from bench.run.legs import child_env
from bench.run.payloads import DECISIONS, Bundles, click_body, is_card_answer, is_created
from bench.run.plan import TARGETS
from bench.run.postgres import create_pg_database, drop_pg_database
from bench.run.processes import Process, cpu_meter, cpu_seconds, free_port
from bench.run.report import machine, mark, median, source_revision
from bot.cli import pin_to_cpu, serve_cpu
from bot.config import parse_cpu
from bot.db import UTCDateTime, create_engine, utcnow
from bot.intake.fhir import BundleInvalid, parse_bundle
from cards.render import render

CONCURRENCY = 16
LOCAL = "http://127.0.0.1"
WARMUP = 200
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
ERROR_TYPE = "application/vnd.microsoft.error"

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
staff_roles = table("staff_roles", col("aad", sa.String(64), index=True), col("unit"), col("role"))

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


def card_answer(card: dict[str, Any]) -> web.Response:
    return json_response({"statusCode": 200, "type": CARD_TYPE, "value": card})


async def decide(conn: AsyncConnection, data: dict[str, Any], actor: str) -> bool:
    """The 7 statements of a decision on `conn`; False (nothing written) when the card is stale."""
    case_id, now = int(data["case_id"]), utcnow()
    ref = {"case_id": case_id, "at": now}
    note = data.get("other_note") or data.get("note")
    query = select(cases.c.state, cases.c.version).where(cases.c.id == case_id)
    row = (await conn.execute(query.with_for_update())).first()
    if row is None or row.version != data["version"] or row.state != "awaiting":
        return False
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
    return True


def floor_app(engine: AsyncEngine, summary: dict[str, Any] | None) -> web.Application:
    async def click(request: web.Request) -> web.Response:
        activity = json.loads(await request.read())
        data, actor = activity["value"]["action"]["data"], activity["from"]["aadObjectId"]
        async with engine.begin() as conn:
            if not await decide(conn, data, actor):
                return json_response({"statusCode": 412, "error": "stale card"}, 412)
        return card_answer(CARD)

    async def click_min(request: web.Request) -> web.Response:
        """The issue's minimum: role check, the decision's transaction, card render."""
        assert summary is not None
        activity = json.loads(await request.read())
        data, actor = activity["value"]["action"]["data"], activity["from"]["aadObjectId"]
        async with engine.begin() as conn:
            query = select(staff_roles.c.role).where(staff_roles.c.aad == actor)
            if "physician" not in (await conn.scalars(query)).all():
                message = "Endast läkare på enheten kan besluta i ärendet."
                error = {"code": "Forbidden", "message": message}
                return json_response({"statusCode": 403, "type": ERROR_TYPE, "value": error})
            if not await decide(conn, data, actor):
                return json_response({"statusCode": 412, "error": "stale card"}, 412)
        case_id = int(data["case_id"])
        case = {**summary["case"], "id": case_id, "ref": f"Ärende {case_id}"}
        return card_answer(render("case_summary_card", **{**summary, "case": case}))

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
    if summary is not None:
        app.router.add_post("/click-min", click_min)
    app.router.add_post("/intake", intake)
    app.router.add_get("/readyz", ready)
    return app


async def serve(url: str, port: int, seed: int, summary: dict[str, Any] | None) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(meta.drop_all)
        await conn.run_sync(meta.create_all)
        rows = [{"state": "awaiting", "version": 1, "at": utcnow()}] * seed
        for start in range(0, seed, 5000):
            await conn.execute(insert(cases), rows[start : start + 5000])
        staff = [(p, "physician") for p in PHYSICIANS]
        staff += [(p, "mva") for p in SECRETARIES]
        roles = [{"aad": p.aad, "unit": str(p.unit), "role": r, "at": utcnow()} for p, r in staff]
        await conn.execute(insert(staff_roles), roles)
    runner = web.AppRunner(floor_app(engine, summary), access_log=None)
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


async def capture_summary_context(workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The context the product renders its summary card with after a decision, as JSON.

    On a scratch SQLite file in `workdir`, migrated and loaded with the bench directory as
    bench/paths.py does, one bundle goes through ``ingest`` and its case through
    ``actions.dispatch(factory, "case.decide", ...)`` with ``bot.messaging.cards.render``
    (the product's ``cards.render.render``) wrapped to record the context of the summary card.
    Returns the JSON file and what to report about it.
    """
    from unittest import mock

    from bench.paths import NOW, ingest_bundle, prepare
    from bot.db import session_factory
    from bot.messaging import cards as product_cards
    from bot.teams import actions

    url = f"sqlite+aiosqlite:///{workdir / 'product.db'}"
    await prepare(url, workdir)
    physician, decision = PHYSICIANS[0], DECISIONS[0]
    contexts: list[dict[str, Any]] = []

    def recording(name: str, **ctx: Any) -> dict[str, Any]:
        if name == "case_summary_card":
            contexts.append(ctx)
        return render(name, **ctx)

    engine = create_engine(url)
    try:
        factory = session_factory(engine)
        case_id = await ingest_bundle(factory, Bundles().make("floor-capture", physician))
        click = click_body(f"{LOCAL}:9", physician, case_id, decision, 0)
        data = json.loads(click)["value"]["action"]["data"]
        invoke = actions.Invoke(actor_aad=physician.aad, now=NOW, trigger="manual")
        with mock.patch.object(product_cards, "render", recording):
            answer = await actions.dispatch(factory, "case.decide", data, invoke)
    finally:
        await engine.dispose()
    if answer.card is None or len(contexts) != 1:
        raise RuntimeError(f"capture: {answer.error or len(contexts)} summary card renders")
    text = json.dumps(contexts[0], ensure_ascii=False)  # JSON as it is: str, int, bool, None
    path = workdir / "summary-context.json"
    path.write_text(text, encoding="utf-8")
    card = json.dumps(render("case_summary_card", **json.loads(text)), ensure_ascii=False)
    sizes = {"context_bytes": len(text.encode()), "card_bytes": len(card.encode())}
    return path, {"decision": decision, **sizes}


async def check_gate(floor_url: str, case_id: int) -> None:
    """`/click-min` refuses the unit's MVA and an unknown user, and the case stays clickable."""
    physician = PHYSICIANS[0]
    stranger = dataclasses.replace(physician, aad="00000000-0000-0000-0000-0000000000ff")
    clickers = (SECRETARIES[0], stranger, physician)
    url, headers = f"{floor_url}/click-min", {"Content-Type": "application/json"}
    requests = [
        Request(url, click_body(LOCAL, who, case_id, "other", n), headers)
        for n, who in enumerate(clickers)
    ]
    result = await run_load(requests, concurrency=1, check=lambda *_: True, keep_answers=True)
    kinds = [
        "card" if is_card_answer(status, body) else f"{status} {body[:120]!r}"
        for _, status, body in result.answers
    ]
    refused = [ERROR_TYPE.encode() in body[:200] for _, _, body in result.answers]
    if refused != [True, True, False] or kinds[2] != "card":
        raise RuntimeError(f"the role check of /click-min does not gate: {kinds}")


async def timed_load(requests: list[Request], pid: int, check: Any) -> dict[str, Any]:
    """Warm up, then time the rest; the figures with the CPU ms per request of `pid`."""
    await run_load(requests[:WARMUP], concurrency=CONCURRENCY, check=check)
    figures: dict[str, Any] = {}  # + server_cpu, loadgen_cpu, server_machine_busy, in cores
    before = cpu_seconds(pid)
    with cpu_meter(figures, "server_", pid):
        result = await run_load(requests[WARMUP:], concurrency=CONCURRENCY, check=check)
    cpu_ms = 1000 * (cpu_seconds(pid) - before) / max(1, result.requests)
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
    """Echo bot, floor `/click`, `/click-min`, `/intake`; `floor` and `echo` are (url, pid)."""
    (floor_url, floor_pid), (echo_url, echo_pid) = floor, echo
    block, people = WARMUP + count, PHYSICIANS
    first = 1 + 2 * run * block  # seeded case ids, each clicked once: /click, then /click-min

    def invokes(start: int) -> list[bytes]:
        return [
            click_body(f"{LOCAL}:9", people[n % 16], start + n, decision, n)
            for n, decision in zip(range(block), itertools.cycle(DECISIONS))
        ]

    bodies = invokes(first)
    headers, check = {"Content-Type": "application/json"}, is_card_answer
    stock = await timed_load(
        [Request(f"{echo_url}/api/messages", b, headers) for b in bodies], echo_pid, check
    )
    click = await timed_load(
        [Request(f"{floor_url}/click", b, headers) for b in bodies], floor_pid, check
    )
    minimum = await timed_load(  # the same invokes on the next `block` cases
        [Request(f"{floor_url}/click-min", b, headers) for b in invokes(first + block)],
        floor_pid,
        check,
    )
    for part in (click, minimum):
        part["ratio"] = round(part["throughput_per_s"] / max(0.1, stock["throughput_per_s"]), 2)
    say(f"{kind} run {run + 1} echo: {brief(stock)}")
    say(f"{kind} run {run + 1} click: {brief(click)}, {click['ratio']}x the echo bot")
    say(
        f"{kind} run {run + 1} click, issue's minimum: {brief(minimum)},"
        f" {minimum['ratio']}x the echo bot"
    )
    bundles, fhir = Bundles(), {"Content-Type": "application/fhir+json"}
    reports = [(f"{kind}-{run}-{n:06d}", people[n % 16]) for n in range(WARMUP + count)]
    intake = await timed_load(
        [Request(f"{floor_url}/intake", bundles.make(*r), fhir) for r in reports],
        floor_pid,
        is_created,
    )
    say(f"{kind} run {run + 1} intake: {brief(intake)}")
    return {"run": run, "click": click, "click_min": minimum, "echo": stock, "intake": intake}


def summarise(kind: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the runs, in the shape of the summary of ``bench.run``."""

    def med(part: str, key: str) -> float:
        return median([r[part][key] for r in runs])

    keys = ("throughput_per_s", "p50_ms", "p99_ms", "cpu_ms_per_request")
    parts: dict[str, dict[str, Any]] = {}
    for part in ("click", "click_min"):
        click = {k: med(part, k) for k in (*keys, "ratio")}
        click |= {f"baseline_{k}": med("echo", k) for k in keys}
        click["failures"] = sum(r[part]["failures"] + r["echo"]["failures"] for r in runs)
        ratio, p99 = click["ratio"], click["p99_ms"]
        click["pass"] = ratio >= TARGETS.click_ratio(kind) and p99 <= TARGETS.click_p99_ms
        parts[part] = click
    intake = {k: med("intake", k) for k in keys}
    intake["failures"] = sum(r["intake"]["failures"] for r in runs)
    intake["pass"] = (
        intake["throughput_per_s"] >= TARGETS.intake_rate
        and intake["p99_ms"] <= TARGETS.intake_p99_ms
    )
    parts["intake"] = intake
    for figures in parts.values():
        figures["pass"] = figures["pass"] and figures["failures"] == 0
    return parts


def table(summary: dict[str, Any]) -> str:
    """The rows of ``bench.run``'s table for the click and the intake, and the issue's minimum."""
    rows: list[tuple[str, ...]] = []
    for kind, entry in summary.items():
        c, m, i = entry["click"], entry["click_min"], entry["intake"]
        ratio, p99 = f">= {TARGETS.click_ratio(kind):.1f}x", f"p99 <= {TARGETS.click_p99_ms:.0f} ms"
        versus = f"vs stock {c['baseline_throughput_per_s']:.0f}/s"
        rows += [
            (
                kind,
                "1 click: throughput",
                f"{c['throughput_per_s']:.0f}/s {versus} = {c['ratio']:.2f}x"
                f" (CPU/req {c['cpu_ms_per_request']:.1f} vs"
                f" {c['baseline_cpu_ms_per_request']:.1f} ms)",
                ratio,
                mark(c["ratio"] >= TARGETS.click_ratio(kind)),
            ),
            (
                kind,
                "1 click: latency",
                f"p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms"
                f" (stock p99 {c['baseline_p99_ms']:.1f})",
                p99,
                mark(c["p99_ms"] <= TARGETS.click_p99_ms and c["failures"] == 0),
            ),
            (
                kind,
                "1 click, issue's minimum",
                f"{m['throughput_per_s']:.0f}/s {versus} = {m['ratio']:.2f}x,"
                f" p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms"
                f" (CPU/req {m['cpu_ms_per_request']:.1f} ms)",
                f"{ratio}, {p99}",
                mark(m["pass"]),
            ),
            (
                kind,
                "2 intake",
                f"{i['throughput_per_s']:.0f}/s, p50 {i['p50_ms']:.1f} ms,"
                f" p99 {i['p99_ms']:.1f} ms (CPU/req {i['cpu_ms_per_request']:.1f} ms)",
                f">= {TARGETS.intake_rate:.0f}/s, p99 <= {TARGETS.intake_p99_ms:.0f} ms",
                mark(i["pass"]),
            ),
        ]
    headers = ("database", "measurement", "figure (median of runs)", "target", "")
    widths = [max(len(r[n]) for r in [headers, *rows]) for n in range(5)]
    lines = [headers, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


async def drive(args: argparse.Namespace, report: dict[str, Any]) -> None:
    workroot = Path(tempfile.mkdtemp(prefix="fk-floor-"))
    legs = [("sqlite", f"sqlite+aiosqlite:///{workroot / 'floor.db'}")]
    pg_url: str | None = None
    if args.skip_postgres:
        report["postgresql_skipped"] = "--skip-postgres"
    else:
        pg_url, problem = await create_pg_database()
        if pg_url is None:
            say(f"SKIPPING the PostgreSQL leg: {problem}")
            report["postgresql_skipped"] = problem
        else:
            legs.append(("postgresql", pg_url))
    seed = max(30_000, 2 * args.runs * (WARMUP + args.requests) + 1)  # the last: check_gate
    processes: list[Process] = []
    try:
        capture = workroot / "capture"
        capture.mkdir()
        context, report["summary_card"] = await capture_summary_context(capture)
        say(f"summary card context captured: {report['summary_card']}")
        port = free = free_port()
        argv = [sys.executable, "-m", "bench.echo_bot", "--port", str(port)]
        echo = Process("echo-bot", argv, env=child_env(""), cwd=ROOT, log_dir=workroot)
        processes.append(echo)
        await echo.start()
        await echo.wait_http(f"{LOCAL}:{free}/api/messages")
        for kind, url in legs:
            port = free_port()
            argv = [sys.executable, "-m", "bench.floor", "serve", "--db", url, "--port", str(port)]
            argv += ["--cases", str(seed), "--card-context", str(context)]
            if args.serve_cpu is not None:
                argv += ["--cpu", str(args.serve_cpu)]
            env = child_env(url)
            floor = Process(f"floor-{kind}", argv, env=env, cwd=ROOT, log_dir=workroot)
            processes.append(floor)
            await floor.start()
            await floor.wait_http(f"{LOCAL}:{port}/readyz", within_s=120)
            say(f"{kind}: floor server pid {floor.pid} up, {seed} cases seeded")
            await check_gate(f"{LOCAL}:{port}", seed)
            servers = (f"{LOCAL}:{port}", floor.pid), (f"{LOCAL}:{free}", echo.pid)
            runs = [await one_run(kind, n, args.requests, *servers) for n in range(args.runs)]
            report["legs"][kind] = runs
            report["summary"][kind] = summarise(kind, runs)
            await floor.stop()
            report["summary"][kind]["floor_peak_rss_mb"] = floor.memory()["peak_rss_mb"]
    finally:
        for process in processes:
            await process.stop()
        if pg_url is not None:
            try:
                await drop_pg_database(pg_url)
            except (OSError, asyncpg.PostgresError) as exc:
                say(f"could not drop the scratch database: {exc}")
        shutil.rmtree(workroot, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floor", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="run the floor server alone")
    server.add_argument("--db", required=True, help="SQLAlchemy URL (aiosqlite or asyncpg)")
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--cases", type=int, default=30_000, help="cases to seed")
    server.add_argument(
        "--card-context", default=None, help="JSON context of the summary card (for /click-min)"
    )
    server.add_argument(
        "--cpu",
        type=parse_cpu,
        default=None,
        help="a CPU core, or any; default as `frakturkedjan serve`: one core on SQLite",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per phase")
    parser.add_argument("--json", default=None, help="write the figures here as JSON")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--serve-cpu",
        type=parse_cpu,
        default=None,
        help="run the floor server on this CPU core, or any (default: as serve does)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        allowed = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cpu = serve_cpu(args.cpu, args.db, allowed)  # as `frakturkedjan serve` decides
        if cpu is not None:
            pin_to_cpu(cpu)
        context = args.card_context
        summary = None if context is None else json.loads(Path(context).read_bytes())
        asyncio.run(serve(args.db, args.port, args.cases, summary))
        return 0
    report: dict[str, Any] = {
        "date": date.today().isoformat(),
        "revision": source_revision(),
        "machine": machine(),
        **{k: v for k, v in vars(args).items() if k in ("runs", "requests", "serve_cpu")},
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
        + ("" if args.serve_cpu is None else f", floor server on CPU {args.serve_cpu}")
    )
    print(table(summary))
    if "postgresql_skipped" in report:
        print(f"PostgreSQL leg skipped: {report['postgresql_skipped']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"JSON written to {args.json}")
    parts = ("click", "click_min", "intake")
    failures = sum(s[part]["failures"] for s in summary.values() for part in parts)
    return 0 if summary and not failures and "aborted" not in report else 1


if __name__ == "__main__":
    raise SystemExit(main())
