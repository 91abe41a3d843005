"""The `frakturkedjan` command: serve, db upgrade, directory load, ingest, remind, report,
purge, audit export (and manifest build, demo-answer)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import ANY_CPU, Settings, parse_cpu, parse_outbox_worker
from bot.db import create_engine, is_sqlite, session_factory, transaction, utcnow
from bot.logs import configure_logging
from bot.preflight import PreflightError, check_reachable, check_registration, check_schema

log = logging.getLogger("frakturkedjan.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frakturkedjan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bot (HTTP on PORT, default 3978)")
    serve.add_argument(
        "--local", action="store_true", help="no Bot Framework authentication; binds 127.0.0.1 only"
    )
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--cpu",
        default=None,
        metavar="N|any",
        help="run on CPU core N only, or on any core (Linux; default SERVE_CPU, else one"
        " core on SQLite and any core on PostgreSQL)",
    )
    serve.add_argument(
        "--worker",
        default=None,
        metavar="process|inline",
        help="run the outbox worker in a process of its own (the default) or in this one"
        " (default OUTBOX_WORKER, else process)",
    )
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="with --local: do not bring the database schema up to date first",
    )

    worker = sub.add_parser(
        "worker",
        help="run the outbox worker alone (serve starts one itself; this one looks at the"
        " outbox every OUTBOX_POLL_SECONDS)",
    )
    worker.add_argument(
        "--local", action="store_true", help="sends carry no Bot Framework token (as serve --local)"
    )
    worker.add_argument("--managed", action="store_true", help=argparse.SUPPRESS)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply all Alembic migrations")

    directory = sub.add_parser("directory", help="units and staff")
    dir_sub = directory.add_subparsers(dest="directory_command", required=True)
    load = dir_sub.add_parser("load", help="load a YAML directory file (idempotent)")
    load.add_argument("file", type=Path)

    ingest = sub.add_parser("ingest", help="ingest FHIR DXA answer bundles, as the intake does")
    ingest.add_argument("files", type=Path, nargs="+")

    demo = sub.add_parser(
        "demo-answer",
        help="post a sample DXA answer with fresh identifiers to a running bot: a new case",
    )
    demo.add_argument(
        "file", type=Path, nargs="?", default=None, help="default tests/fixtures/01_…json"
    )
    demo.add_argument("--url", default=None, help="the bot (default http://127.0.0.1:PORT)")
    demo.add_argument(
        "--token", default=None, help="intake token (default: INTAKE_TOKENS, when it is one)"
    )

    remind = sub.add_parser("remind", help="send today's digests and reminders (once per day)")
    remind.add_argument("--now", action="store_true", help="do not wait for the digest time")

    from bot.reports.command import add_report_parser

    add_report_parser(sub)

    manifest = sub.add_parser("manifest", help="the Teams app package")
    manifest_sub = manifest.add_subparsers(dest="manifest_command", required=True)
    build = manifest_sub.add_parser("build", help="write the app package zip")
    build.add_argument(
        "--out", type=Path, default=None, help="default manifest/build/appPackage.zip"
    )
    build.add_argument("--host", default=None, help="host name (default: PUBLIC_HOST)")
    build.add_argument("--version", default=None, help="app version (default: the package's)")

    sub.add_parser(
        "purge", help="remove identifying data of cases ended longer than retention_days ago"
    )
    audit_cmd = sub.add_parser("audit", help="the audit log")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    export = audit_sub.add_parser("export", help="every audit row about one patient, as JSON")
    export.add_argument("personal_number", help="personnummer or samordningsnummer (12 digits)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. A setting that does not parse or a failed
    preflight check (`bot.preflight`) is one line on stderr and exit status 2."""
    configure_logging()
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            ctx = error.get("ctx") or {}
            message = str(ctx["error"]) if error["type"] == "value_error" else error["msg"]
            print(f"frakturkedjan: setting {name}: {message}", file=sys.stderr)
        return 2
    try:
        return _run(settings, args)
    except PreflightError as exc:
        print(f"frakturkedjan: {exc}", file=sys.stderr)
        return 2


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "serve":
        try:
            cpu = parse_cpu(args.cpu)
        except ValueError as exc:
            print(f"frakturkedjan: --cpu: {exc}", file=sys.stderr)
            return 2
        if cpu is None:
            cpu = settings.serve_cpu
        try:
            worker = parse_outbox_worker(args.worker)
        except ValueError as exc:
            print(f"frakturkedjan: --worker: {exc}", file=sys.stderr)
            return 2
        return _serve(
            settings,
            local=args.local,
            port=args.port,
            migrate=not args.no_migrate,
            cpu=cpu,
            worker=worker or settings.outbox_worker or "process",
        )
    if args.command == "worker":
        if args.managed:  # Ctrl-C in a terminal is for `serve`, which then stops this one
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        from bot.worker_process import run_outbox_worker

        settle_garbage_collector()
        return asyncio.run(run_outbox_worker(settings, local=args.local, managed=args.managed))
    if args.command == "db":
        asyncio.run(_preflight(settings.database_url, check_reachable))
        from bot.migrate import upgrade  # after the check: importing Alembic logs lines

        upgrade(settings.database_url)
        log.info("database schema is up to date")
        print("database schema is up to date")
        return 0
    if args.command == "directory":
        return asyncio.run(_load_directory(settings, args.file))
    if args.command == "ingest":
        return asyncio.run(_ingest(settings, args.files))
    if args.command == "demo-answer":
        return _demo_answer(settings, args)
    if args.command == "manifest":
        return _manifest(settings, args)
    if args.command == "purge":
        return asyncio.run(_purge(settings))
    if args.command == "audit":
        return asyncio.run(_audit_export(settings, args.personal_number))
    if args.command == "remind":
        from bot.jobs.scheduler import remind_now

        return asyncio.run(remind_now(settings.database_url, force_time=args.now))
    if args.command == "report":
        from bot.reports.command import run_report

        return run_report(settings, args)
    return 2


async def _preflight(database_url: str, check: Callable[[AsyncEngine], Awaitable[None]]) -> None:
    """Run one check of `bot.preflight` on an engine of its own (raises `PreflightError`)."""
    engine = create_engine(database_url)
    try:
        await check(engine)
    finally:
        await engine.dispose()


def _migrate_in_child(database_url: str) -> int:
    """Bring the schema up to date in a child process: Alembic stays out of the server's
    memory (about 9 MB). Its exit status; a failure has said why on stderr. Its stdout
    (the line an operator reads) is dropped: it says the same in its JSON log on stderr,
    and the server's output is JSON lines only."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"],
        check=False,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DATABASE_URL": database_url},
    ).returncode


def pin_to_cpu(cpu: int) -> None:
    """Run the calling thread, and every thread it starts later, on CPU core `cpu` only.

    With SQLite each statement is handed to the connection's own thread and back (three or
    four times). On one core that is a switch between two threads; across two cores it
    wakes an idle core each time, which on a virtual machine costs more than the statement
    (bench/README.md: 54 % more clicks and 42 % more bundles a second on SQLite, 2 vCPUs).
    The GIL keeps the process to one core's worth of Python anyway. Raises ValueError for
    a core this process may not use, OSError where the system has no CPU affinity.
    """
    if not hasattr(os, "sched_setaffinity"):
        raise OSError("CPU affinity is not supported on this system")
    allowed = sorted(os.sched_getaffinity(0))
    if cpu not in allowed:
        raise ValueError(
            f"CPU {cpu} is not one this process may run on ({', '.join(map(str, allowed))})"
        )
    os.sched_setaffinity(0, {cpu})


def serve_cpu(
    requested: int | Literal["any"] | None, database_url: str, allowed: set[int] | None
) -> int | None:
    """The one CPU core `serve` keeps to, or None for any core.

    `requested` is `--cpu`/`SERVE_CPU`: a core, or `any`. Unset, SQLite gets one core
    (see `pin_to_cpu`: 40-80 % faster) and PostgreSQL none (7-11 % slower on one core: the
    process could no longer move away from the database server's). The default core is
    the last of `allowed` (the cores this process may use; None where the system has no
    CPU affinity, which leaves every core): the same core on every start, named in the
    log, and not CPU 0, which takes most interrupts and housekeeping (on a virtual machine
    the network's too). The core the process happens to be on at start says nothing
    about where the load will be. With one core allowed there is nothing to choose.
    """
    if requested == ANY_CPU:
        return None
    if requested is not None:
        return requested
    if not is_sqlite(database_url) or allowed is None or len(allowed) < 2:
        return None
    return max(allowed)


GC_GEN0_THRESHOLD = 7000  # Python's default is 700


def settle_garbage_collector() -> None:
    """For a long-running process, once its start-up is done: the objects made so far
    (modules, mappers, templates: most of what a collection would scan, and none of it
    garbage) are frozen out of the collector's way, and the youngest generation is
    collected every 7,000 allocations instead of 700. Measured through a benchmark run
    (issue 15): 0.35 s in the collector, three full collections of about 80 ms each (each
    a pause for every request under way), down to 0.04 s and none."""
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def worker_cores(allowed: set[int] | None, core: int | None) -> set[int] | None:
    """The cores of `serve`'s outbox worker process: the others when `serve` keeps to
    `core`, else (None) the same as `serve`'s."""
    if allowed is None or core is None:
        return None
    others = allowed - {core}
    return others or None


def _serve(
    settings: Settings,
    *,
    local: bool,
    port: int | None,
    migrate: bool,
    cpu: int | Literal["any"] | None = None,
    worker: Literal["process", "inline"] = "process",
) -> int:
    allowed = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    core = serve_cpu(cpu, settings.database_url, allowed)
    refused: OSError | ValueError | None = None
    if core is not None:  # first: the threads started from here on inherit it
        try:
            pin_to_cpu(core)
        except (OSError, ValueError) as exc:
            if cpu is not None:
                print(f"frakturkedjan: --cpu/SERVE_CPU: {exc}", file=sys.stderr)
                return 2
            refused = exc  # the default only: a container that refuses affinity still serves
    check_registration(settings, local=local)
    if local and migrate and _migrate_in_child(settings.database_url) != 0:
        return 2
    # before listening: a service without its schema must never report itself ready
    asyncio.run(_preflight(settings.database_url, check_schema))
    from bot.app import create_app  # after the checks: a refusal is quick
    from bot.outbox.child import WorkerChild

    child: WorkerChild | None = None
    if worker == "process":
        child = WorkerChild(
            [sys.executable, "-m", "bot.cli", "worker", "--managed", *(["--local"] * local)],
            cores=worker_cores(allowed, None if refused is not None else core),
        )
    # refuses a Teams runtime it cannot load
    app = create_app(settings, local=local, worker_child=child, run_worker=child is None)
    # logged once every check passed: a refusal is one line on stderr
    if refused is not None:
        log.warning("could not keep to one CPU core", extra={"error": type(refused).__name__})
    elif core is not None:
        log.info(
            "running on one CPU core",
            extra={"cpu": core, "because": "setting" if cpu is not None else "sqlite"},
        )
    host = "127.0.0.1" if local else settings.host
    if local:
        log.warning("local mode: bound to 127.0.0.1 only, without Bot Framework authentication")
    settle_garbage_collector()
    web.run_app(app, host=host, port=port or settings.port, print=None, access_log=None)
    return 0


async def _load_directory(settings: Settings, path: Path) -> int:
    from bot.directory.service import DirectoryError, load_directory_file

    engine = create_engine(settings.database_url)
    try:
        await check_schema(engine)
        async with transaction(session_factory(engine)) as session:
            report = await load_directory_file(session, path, actor="cli:directory-load")
    except DirectoryError as exc:
        for problem in exc.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        return 1
    except FileNotFoundError:
        print(f"{path}: no such file", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(
        f"units: {report.units_added} added, {report.units_updated} updated; "
        f"staff: {report.staff_added} added, {report.staff_updated} updated, "
        f"{report.staff_deactivated} deactivated" + ("" if report.changed else " (no changes)")
    )
    return 0


def _manifest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.manifest import DEFAULT_OUT, ManifestError, build_package, default_version

    try:
        out = build_package(
            app_id=settings.app_id,
            host=args.host or settings.public_host,
            version=args.version or default_version(),
            out=args.out or DEFAULT_OUT,
        )
    except ManifestError as exc:
        print(f"frakturkedjan: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


async def _purge(settings: Settings) -> int:
    from bot.directory.actor import Actor
    from bot.retention.service import purge

    engine = create_engine(settings.database_url)
    try:
        await check_schema(engine)
        async with transaction(session_factory(engine)) as session:
            report = await purge(session, now=utcnow(), actor=Actor.cli("purge"))
    finally:
        await engine.dispose()
    print(
        f"purged {report.cases} cases ({report.answer_messages} answer messages), "
        f"{report.rejected_bodies} rejected-message bodies, {report.dialog_states} dialog states, "
        f"{report.clicks} answered clicks"
    )
    return 0


async def _audit_export(settings: Settings, number: str) -> int:
    from bot.audit.service import patient_key, record
    from bot.retention.service import export_patient

    digits = number.replace("-", "").replace("+", "").strip()
    if len(digits) != 12 or not digits.isdigit():
        print("give the personal number with 12 digits (YYYYMMDDNNNC)", file=sys.stderr)
        return 2
    key = patient_key(settings.patient_key_secret, digits)
    engine = create_engine(settings.database_url)
    try:
        await check_schema(engine)
        async with transaction(session_factory(engine)) as session:
            rows = await export_patient(session, key=key)
            record(
                session,
                actor="cli:audit-export",
                action="audit.export",
                patient=key,
                detail={"rows": len(rows)},
            )
    finally:
        await engine.dispose()
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def _demo_answer(settings: Settings, args: argparse.Namespace) -> int:
    """Post a sample answer made unique (`bot.demo`) to the running bot's intake: exit 0
    when it made a case, 1 when the bot refused it, 2 when nothing could be posted."""
    from bot.demo import SAMPLE, DemoError, fresh_answer, post_answer

    tokens = sorted(settings.intake_tokens)
    token = args.token or (tokens[0] if len(tokens) == 1 else None)
    if token is None:
        print("frakturkedjan: give the bot's intake token: --token TOKEN", file=sys.stderr)
        return 2
    path: Path = args.file or SAMPLE
    url = args.url or f"http://127.0.0.1:{settings.port}"
    try:
        body = fresh_answer(path.read_bytes(), now=utcnow())
        status, answer = post_answer(url, token=token, body=body)
    except OSError as exc:
        print(f"frakturkedjan: {path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except DemoError as exc:
        print(f"frakturkedjan: {exc}", file=sys.stderr)
        return 2
    print(f"{path.name}: {status} {json.dumps(answer, ensure_ascii=False)}")
    return 0 if status in (201, 202) else 1


async def _ingest(settings: Settings, files: Sequence[Path]) -> int:
    from bot.flows import take_in_answer

    engine = create_engine(settings.database_url)
    factory = session_factory(engine)
    worst = 0
    try:
        await check_schema(engine)
        for path in files:
            try:
                body = path.read_bytes()
            except OSError as exc:
                print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
                worst = max(worst, 1)
                continue
            result = await take_in_answer.ingest(
                factory,
                body=body,
                content_type="application/fhir+json",
                sender="cli",
                channel="cli",
                secret=settings.patient_key_secret,
                now=utcnow(),
                max_body_bytes=settings.max_body_bytes,
            )
            print(f"{path}: {result.status} {json.dumps(result.body, ensure_ascii=False)}")
            if result.status >= 400:
                worst = 1
    finally:
        await engine.dispose()
    return worst


if __name__ == "__main__":
    sys.exit(main())
