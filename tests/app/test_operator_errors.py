"""Operator errors end a command with one line on stderr and exit status 2, never a
traceback (issue 10, point 5): a wrong or missing setting, an unusable `DATABASE_URL`, a
database that does not answer, and one without the current schema.

The command runs as operators run it: a subprocess with a clean environment, in an empty
directory (it reads `.env` from there). The commands of one case run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from alembic.script import ScriptDirectory

from bot import preflight
from bot.app import create_app
from bot.migrate import alembic_config, upgrade
from tests.harness import settings_for
from tests.helpers import FIXTURES, PG_ADMIN, pg_admin, sqlalchemy_url

CLI = Path(sys.executable).parent / "frakturkedjan"
RUN_TIMEOUT = 90
APP_ID = "11111111-0000-0000-0000-000000000001"
TENANT = "22222222-0000-0000-0000-000000000002"
REGISTRATION = {
    "MicrosoftAppId": APP_ID,
    "MicrosoftAppPassword": "app-secret",
    "MicrosoftAppTenantId": TENANT,
    "ALLOWED_TENANTS": TENANT,
}
UPGRADE = "run `frakturkedjan db upgrade`"


def free_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command(name: str) -> list[str]:
    """The arguments of one subcommand, complete enough to reach the database."""
    port = str(free_port())  # should a refusal fail, the server listens where nothing else does
    return {
        "serve": ["serve", "--port", port],
        "serve --local": ["serve", "--local", "--port", port],
        "serve --local --no-migrate": ["serve", "--local", "--no-migrate", "--port", port],
        "db upgrade": ["db", "upgrade"],
        "directory load": ["directory", "load", str(FIXTURES / "directory.yaml")],
        "ingest": ["ingest", str(FIXTURES / "01_osteoporosis_named.json")],
        "remind": ["remind", "--now"],
        "report": ["report", "--unit", "SE2321000156-7TNG", "--from", "2026-01-01",
                   "--to", "2026-01-31"],
        "purge": ["purge"],
        "audit export": ["audit", "export", "191212121212"],
    }[name]  # fmt: skip


# every subcommand that uses a database whose schema it expects
USING_THE_SCHEMA = [
    "serve",
    "serve --local --no-migrate",
    "directory load",
    "ingest",
    "remind",
    "report",
    "purge",
    "audit export",
]


def refusals(cwd: Path, env: dict[str, str], names: list[str]) -> dict[str, str]:
    """Run each named subcommand (side by side); the one stderr line of each.

    Fails, naming every command that did otherwise, unless each exited 2 with exactly one
    line on stderr, starting `frakturkedjan: `, nothing on stdout, and no traceback.
    """
    assert CLI.exists(), f"the command is not installed at {CLI}"
    clean = {
        "PATH": f"{CLI.parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(cwd),
        "PYTHONUTF8": "1",
        **env,
    }

    def run(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *command(name)], cwd=cwd, env=clean, capture_output=True, text=True,
            timeout=RUN_TIMEOUT, check=False,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(names, pool.map(run, names), strict=True))
    wrong = {
        name: f"exit {result.returncode}; stdout {result.stdout[-300:]!r}; "
        f"stderr {result.stderr[-1500:]!r}"
        for name, result in done.items()
        if result.returncode != 2
        or "Traceback" in result.stdout + result.stderr
        or result.stdout
        or len(result.stderr.splitlines()) != 1
        or not result.stderr.startswith("frakturkedjan: ")
    }
    assert not wrong, wrong
    return {name: result.stderr.rstrip("\n") for name, result in done.items()}


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    name = f"fk_oe_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    try:
        yield sqlalchemy_url(PG_ADMIN, name)
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that answers and holds nothing: an empty SQLite file, or a new
    PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        sqlite3.connect(path).close()
        yield sqlite_url(path)
        return
    with pg_database() as url:
        yield url


def head_and_previous() -> tuple[str, str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    return head, previous


# -- settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "changes", "setting"),
    [
        ("serve", {"MicrosoftAppPassword": ""}, "MicrosoftAppPassword"),
        ("serve --local", {"MicrosoftAppPassword": ""}, "MicrosoftAppPassword"),
        ("serve", {"MicrosoftAppTenantId": ""}, "MicrosoftAppTenantId"),
        ("serve", {"MicrosoftAppType": "UserAssignedMSI", "MicrosoftAppTenantId": ""},
         "MicrosoftAppTenantId"),
        ("serve", {"MicrosoftAppType": "SingleTenantt"}, "MicrosoftAppType"),
    ],
)  # fmt: skip
def test_a_wrong_or_missing_registration_setting_names_it(
    tmp_path: Path, name: str, changes: dict[str, str], setting: str
) -> None:
    env = {**REGISTRATION, **changes, "DATABASE_URL": sqlite_url(tmp_path / "fk.db")}
    [line] = refusals(tmp_path, env, [name]).values()
    assert line.startswith(f"frakturkedjan: setting {setting}: "), line
    assert "; set it to " in line, line


def test_an_unknown_teams_sdk_ends_every_command_saying_what_to_write(tmp_path: Path) -> None:
    env = {**REGISTRATION, "DATABASE_URL": sqlite_url(tmp_path / "fk.db"), "TEAMS_SDK": "agent"}
    lines = refusals(tmp_path, env, ["serve", "serve --local", "db upgrade", "ingest"])
    for line in lines.values():
        assert line == (
            "frakturkedjan: setting TEAMS_SDK: 'agent' is not a Teams runtime; set it to "
            "botbuilder (the default) or agents"
        ), line


# -- DATABASE_URL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "names"),
    [
        # refused while the settings are read, before any subcommand runs
        ("mysql://fk:db-secret@127.0.0.1/fk", ["db upgrade", "serve", "ingest", "audit export"]),
        ("garbage", ["db upgrade", "serve"]),
        ("", ["db upgrade", "serve"]),
        ("postgresql+psycopg2://fk:db-secret@127.0.0.1/fk", ["db upgrade", "ingest"]),
    ],
)
def test_an_unusable_database_url_says_what_to_write(
    tmp_path: Path, url: str, names: list[str]
) -> None:
    lines = refusals(tmp_path, {**REGISTRATION, "DATABASE_URL": url}, names)
    for line in lines.values():
        assert line.startswith("frakturkedjan: setting DATABASE_URL: "), line
        assert "postgresql+asyncpg://" in line, line
        assert "db-secret" not in line


def test_a_database_url_without_a_driver_gets_ours(tmp_path: Path) -> None:
    env = {
        "PATH": f"{CLI.parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fk.db'}",
    }
    with pg_database() as pg:
        pg_env = {**env, "DATABASE_URL": pg.replace("postgresql+asyncpg://", "postgresql://")}
        for run_env in (env, pg_env):
            done = subprocess.run(
                [str(CLI), "db", "upgrade"], cwd=tmp_path, env=run_env, capture_output=True,
                text=True, timeout=RUN_TIMEOUT, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
            assert done.stdout == "database schema is up to date\n"
    with sqlite3.connect(tmp_path / "fk.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_and_previous()[0],)
        ]


# -- a database that does not answer ---------------------------------------------------


def test_postgresql_refusing_connections_ends_every_command(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/fk"
    names = ["db upgrade", "serve --local", *USING_THE_SCHEMA]
    lines = refusals(tmp_path, {**REGISTRATION, "DATABASE_URL": url}, names)
    for line in lines.values():
        assert line.startswith("frakturkedjan: cannot connect to the database "), line
        assert "check DATABASE_URL and that the database server is running" in line, line


def test_sqlite_in_a_directory_that_does_not_exist_ends_every_command(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory"
    env = {**REGISTRATION, "DATABASE_URL": sqlite_url(missing / "fk.db")}
    lines = refusals(tmp_path, env, ["db upgrade", "serve --local", "serve", "ingest"])
    for line in lines.values():
        assert line == (
            f"frakturkedjan: the directory {missing} of the SQLite database does not exist; "
            "create it or correct DATABASE_URL"
        )
    assert not missing.exists()


# -- a database without the current schema ---------------------------------------------


def test_an_empty_database_ends_every_command_saying_db_upgrade(
    tmp_path: Path, empty_db: str
) -> None:
    # every subcommand once; the check they share once more on the other database
    names = USING_THE_SCHEMA if empty_db.startswith("sqlite") else ["serve", "ingest"]
    lines = refusals(tmp_path, {**REGISTRATION, "DATABASE_URL": empty_db}, names)
    assert set(lines.values()) == {f"frakturkedjan: the database has no schema: {UPGRADE}"}


def test_a_sqlite_file_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "fk.db"
    lines = refusals(tmp_path, {**REGISTRATION, "DATABASE_URL": sqlite_url(path)},
                     ["serve", "ingest"])  # fmt: skip
    assert set(lines.values()) == {f"frakturkedjan: there is no database at {path}: {UPGRADE}"}
    assert not path.exists()


def test_an_older_schema_ends_the_command_saying_db_upgrade(tmp_path: Path, empty_db: str) -> None:
    head, previous = head_and_previous()
    upgrade(empty_db, previous)
    lines = refusals(tmp_path, {**REGISTRATION, "DATABASE_URL": empty_db}, ["serve", "ingest"])
    assert set(lines.values()) == {
        f"frakturkedjan: the database schema is at revision {previous}, this version needs "
        f"{head}: {UPGRADE}"
    }


def test_a_schema_of_a_newer_version_is_refused_even_by_db_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "fk.db"
    upgrade(sqlite_url(path))
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = 'f00d'")
    lines = refusals(tmp_path, {**REGISTRATION, "DATABASE_URL": sqlite_url(path)},
                     ["db upgrade", "serve"])  # fmt: skip
    for line in lines.values():
        assert line.startswith(
            "frakturkedjan: the database schema is at revision f00d, which this version of "
            "frakturkedjan does not know"
        ), line


def test_the_head_revision_is_read_as_alembic_reads_it() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    known = frozenset(revision.revision for revision in script.walk_revisions())
    assert preflight.migration_revisions() == (script.get_current_head(), known)


# -- a running service on a database without the schema --------------------------------


async def test_an_app_on_an_empty_database_is_not_ready_and_its_loops_wait(
    empty_db: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Started without `frakturkedjan serve` (which refuses): /readyz is 503 and says
    why; the outbox worker (polling every 50 ms here) and the jobs do not start, so one
    log line says so instead of a traceback a pass; after `db upgrade` it is ready."""
    monkeypatch.setattr(preflight, "SCHEMA_CHECK_SECONDS", 0.2)
    caplog.set_level(logging.INFO)
    app = create_app(
        settings_for(empty_db, outbox_poll_seconds=0.05, jobs_poll_seconds=0.05),
        local=True,
        run_daily_jobs=True,
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            readyz = str(server.make_url("/readyz"))
            async with http.get(readyz) as response:
                assert response.status == 503
                assert await response.json() == {
                    "status": "database schema not current",
                    "problem": f"the database has no schema: {UPGRADE}",
                }
            await asyncio.sleep(1.0)  # 20 outbox polls, 5 schema checks
            failures = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
            assert failures == [], [r.getMessage() for r in failures]
            waiting = [r.getMessage() for r in caplog.records if r.name == preflight.log.name]
            assert waiting == [
                f"the database has no schema: {UPGRADE}; outbox and scheduled jobs wait until "
                "the schema is current"
            ]

            await asyncio.to_thread(upgrade, empty_db)
            await asyncio.sleep(0.5)
            async with http.get(readyz) as response:
                assert (response.status, await response.json()) == (200, {"status": "ready"})
            resumed = [r.getMessage() for r in caplog.records if r.name == preflight.log.name]
            assert resumed[-1] == "database schema is current; outbox and scheduled jobs resumed"
    finally:
        await server.close()
