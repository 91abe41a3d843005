"""The installed `frakturkedjan` command, run as operators run it: a subprocess with a
clean environment (no MicrosoftAppId) and a temporary SQLite database."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import FIXTURES

CLI = Path(sys.executable).parent / "frakturkedjan"
RUN_TIMEOUT = 120
START_TIMEOUT = 60


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: the database URL and little else (no Microsoft app settings)."""
    return {
        "PATH": f"{CLI.parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "PYTHONUTF8": "1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }


def run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert CLI.exists(), f"the command is not installed at {CLI}"
    return subprocess.run(
        [str(CLI), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=RUN_TIMEOUT, check=False,
    )


def table_rows(tmp_path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(tmp_path / "cli.db")) as db:
        (count,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(count)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def outward_address() -> str | None:
    """This host's non-loopback IPv4 address, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.254.254.254", 9))
        except OSError:
            return None
        address: str = sock.getsockname()[0]
    return None if address.startswith("127.") else address


# -- db upgrade --------------------------------------------------------------------------


def test_db_upgrade_works_and_is_repeatable(tmp_path: Path, env: dict[str, str]) -> None:
    for _ in range(2):
        done = run(tmp_path, env, "db", "upgrade")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "database schema is up to date\n"
    assert table_rows(tmp_path, "alembic_version") == 1
    assert table_rows(tmp_path, "units") == 0
    assert not (tmp_path / "frakturkedjan.db").exists()  # DATABASE_URL was used


# -- directory load ------------------------------------------------------------------------


def test_directory_load_twice_reports_no_changes(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(tmp_path, env, "db", "upgrade").returncode == 0
    first = run(tmp_path, env, "directory", "load", str(FIXTURES / "directory.yaml"))
    assert first.returncode == 0, first.stderr
    assert first.stdout == (
        "units: 1 added, 0 updated; staff: 3 added, 0 updated, 0 deactivated\n"
    )
    second = run(tmp_path, env, "directory", "load", str(FIXTURES / "directory.yaml"))
    assert second.returncode == 0, second.stderr
    assert second.stdout == (
        "units: 0 added, 0 updated; staff: 0 added, 0 updated, 0 deactivated (no changes)\n"
    )
    assert table_rows(tmp_path, "staff") == 3


def test_malformed_directory_exits_1_listing_every_problem(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert run(tmp_path, env, "db", "upgrade").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "units:\n"
        "  - hsa_id: SE2321000156-7TNG\n"
        "    name: Tingvalla vårdcentral\n"
        "    settings: {card_identity: all, colour: blue}\n"
        "staff:\n"
        "  - name: Anna Berg\n"
        "    aad_object_id: 00000000-0000-0000-0000-000000000101\n"
        "    units: {SE2321000156-7TNG: [surgeon], SE0000000000-NONE: [physician]}\n",
        encoding="utf-8",
    )
    done = run(tmp_path, env, "directory", "load", str(bad))
    assert done.returncode == 1
    assert done.stdout == ""
    problems = [line for line in done.stderr.splitlines() if line.startswith(f"{bad}: ")]
    assert problems == [
        f"{bad}: units[0].settings.card_identity: one of full, masked, reference",
        f"{bad}: units[0].settings.colour: unknown setting",
        f"{bad}: staff[0].units.SE2321000156-7TNG: unknown role 'surgeon'",
        f"{bad}: staff[0].units.SE0000000000-NONE: not a unit of this file",
    ]
    assert "Traceback" not in done.stderr
    assert table_rows(tmp_path, "units") == 0


def test_directory_load_of_a_missing_file_exits_1(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(tmp_path, env, "db", "upgrade").returncode == 0
    done = run(tmp_path, env, "directory", "load", str(tmp_path / "nope.yaml"))
    assert done.returncode == 1
    assert f"{tmp_path / 'nope.yaml'}: no such file" in done.stderr
    assert "Traceback" not in done.stderr


# -- ingest ----------------------------------------------------------------------------


def _ready(tmp_path: Path, env: dict[str, str]) -> None:
    assert run(tmp_path, env, "db", "upgrade").returncode == 0
    loaded = run(tmp_path, env, "directory", "load", str(FIXTURES / "directory.yaml"))
    assert loaded.returncode == 0, loaded.stderr


def test_ingest_prints_one_line_per_file_and_fails_on_a_refusal(
    tmp_path: Path, env: dict[str, str]
) -> None:
    _ready(tmp_path, env)
    good = FIXTURES / "01_osteoporosis_named.json"
    bad = FIXTURES / "08_invalid_check_digit.json"
    done = run(tmp_path, env, "ingest", str(good), str(bad))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    assert lines[0] == f'{good}: 201 {{"case_id": 1, "outcome": "created"}}'
    prefix = f"{bad}: 422 "
    assert lines[1].startswith(prefix)
    body = json.loads(lines[1][len(prefix):])
    assert body["error"] == "invalid DXA answer bundle"
    assert any("check digit" in p["message"] for p in body["problems"])
    assert table_rows(tmp_path, "cases") == 1
    assert table_rows(tmp_path, "rejected_messages") == 1

    # the same good file again is an exact duplicate: 200, exit 0
    again = run(tmp_path, env, "ingest", str(good))
    assert again.returncode == 0, again.stderr
    assert again.stdout == f'{good}: 200 {{"case_id": 1, "outcome": "duplicate"}}\n'


def test_ingest_reads_the_body_size_setting(tmp_path: Path, env: dict[str, str]) -> None:
    _ready(tmp_path, env)
    good = FIXTURES / "01_osteoporosis_named.json"
    done = run(tmp_path, {**env, "MAX_BODY_BYTES": "1000"}, "ingest", str(good))
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(f"{good}: 413 "), done.stdout
    assert table_rows(tmp_path, "cases") == 0


def test_ingest_of_a_missing_file_exits_1_with_a_message(
    tmp_path: Path, env: dict[str, str]
) -> None:
    _ready(tmp_path, env)
    missing = tmp_path / "missing.json"
    good = FIXTURES / "02_normal_named.json"
    done = run(tmp_path, env, "ingest", str(missing), str(good))
    assert done.returncode == 1
    assert f"{missing}: cannot read: No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr
    # the readable file after it is still ingested
    assert done.stdout.startswith(f"{good}: 201 ")


# -- serve ----------------------------------------------------------------------------


def test_serve_without_app_id_and_without_local_refuses(
    tmp_path: Path, env: dict[str, str]
) -> None:
    done = run(tmp_path, {**env, "ALLOWED_TENANTS": "11111111-2222-3333-4444-555555555555"},
               "serve", "--port", str(free_port()))
    assert done.returncode == 2
    message = [line for line in done.stderr.splitlines() if line.startswith("frakturkedjan: ")]
    assert len(message) == 1, done.stderr
    assert "MicrosoftAppId" in message[0]
    assert "Traceback" not in done.stderr


def test_serve_with_nothing_configured_refuses(tmp_path: Path, env: dict[str, str]) -> None:
    done = run(tmp_path, env, "serve", "--port", str(free_port()))
    assert done.returncode == 2
    assert any(line.startswith("frakturkedjan: ") for line in done.stderr.splitlines())
    assert "Traceback" not in done.stderr


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextlib.contextmanager
def serving(tmp_path: Path, env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start `frakturkedjan serve …`, always stopping it (terminate, then kill)."""
    stdout = (tmp_path / "serve.out").open("wb")
    stderr = (tmp_path / "serve.err").open("wb")
    process = subprocess.Popen(
        [str(CLI), "serve", *args], cwd=tmp_path, env=env, stdout=stdout, stderr=stderr,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        stdout.close()
        stderr.close()


def _wait_healthy(process: subprocess.Popen[bytes], base: str, err: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {err.read_text()}")
        try:
            status, _ = _get(f"{base}/healthz")
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer on {base} within {START_TIMEOUT} s")
        time.sleep(0.2)


@pytest.mark.parametrize("port_from", ["--port", "PORT"])
def test_serve_local_answers_health_and_readiness(
    tmp_path: Path, env: dict[str, str], port_from: str
) -> None:
    port = free_port()
    if port_from == "--port":
        args, run_env = ["--local", "--port", str(port)], env
    else:
        args, run_env = ["--local"], {**env, "PORT": str(port)}
    base = f"http://127.0.0.1:{port}"
    with serving(tmp_path, run_env, *args) as process:
        _wait_healthy(process, base, tmp_path / "serve.err")
        status, body = _get(f"{base}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, body = _get(f"{base}/readyz")
        assert status == 200, body
        # local mode binds the loopback interface only
        address = outward_address()
        if address is not None:
            with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
                pass
        process.terminate()
        assert process.wait(timeout=15) == 0
    # --local brought the schema up to date before serving
    assert table_rows(tmp_path, "alembic_version") == 1
    log = [json.loads(line) for line in (tmp_path / "serve.err").read_text().splitlines()
           if line.startswith("{")]
    warnings = [entry["message"] for entry in log if entry["level"] == "WARNING"]
    assert any("local mode" in message.lower() for message in warnings), warnings


# -- serve --cpu -------------------------------------------------------------------------


def _threads_cpus(pid: int) -> dict[int, set[int]]:
    """The CPUs each thread of `pid` may run on."""
    return {int(tid): os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


@pytest.mark.parametrize("cpu_from", ["--cpu", "SERVE_CPU"])
def test_serve_cpu_runs_every_thread_on_that_core(
    tmp_path: Path, env: dict[str, str], cpu_from: str
) -> None:
    cpu = max(os.sched_getaffinity(0))
    port = free_port()
    if cpu_from == "--cpu":
        args, run_env = ["--local", "--port", str(port), "--cpu", str(cpu)], env
    else:
        args, run_env = ["--local", "--port", str(port)], {**env, "SERVE_CPU": str(cpu)}
    base = f"http://127.0.0.1:{port}"
    with serving(tmp_path, run_env, *args) as process:
        _wait_healthy(process, base, tmp_path / "serve.err")
        assert _get(f"{base}/readyz")[0] == 200  # the database's own thread is running too
        threads = _threads_cpus(process.pid)
        assert len(threads) >= 2
        assert all(cpus == {cpu} for cpus in threads.values()), threads


def test_serve_cpu_any_keeps_every_core(tmp_path: Path, env: dict[str, str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # without it, SQLite keeps to one core (tests/app/test_serve_cpu.py)
    with serving(tmp_path, env, "--local", "--port", str(port), "--cpu", "any") as process:
        _wait_healthy(process, base, tmp_path / "serve.err")
        allowed = os.sched_getaffinity(0)
        assert all(cpus == allowed for cpus in _threads_cpus(process.pid).values())


def test_serve_cpu_not_allowed_exits_2_with_a_message(tmp_path: Path, env: dict[str, str]) -> None:
    done = run(tmp_path, env, "serve", "--local", "--port", str(free_port()), "--cpu", "4096")
    assert done.returncode == 2
    message = [line for line in done.stderr.splitlines() if line.startswith("frakturkedjan: ")]
    assert message == [
        "frakturkedjan: --cpu/SERVE_CPU: CPU 4096 is not one this process may run on "
        f"({', '.join(map(str, sorted(os.sched_getaffinity(0))))})"
    ], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before anything else


@pytest.mark.parametrize(("name", "value"), [("PORT", "http")])  # SERVE_CPU: test_serve_cpu
def test_a_setting_that_does_not_parse_exits_2_naming_it(
    tmp_path: Path, env: dict[str, str], name: str, value: str
) -> None:
    done = run(tmp_path, {**env, name: value}, "serve", "--local")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"frakturkedjan: setting {name}: Input should be a valid integer, unable to parse "
        "string as an integer"
    ], done.stderr
