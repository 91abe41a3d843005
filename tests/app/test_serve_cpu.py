"""`serve` on one CPU core by default on SQLite (issue 15): which core `serve_cpu` picks,
the `--cpu`/`SERVE_CPU` values it takes, and the process it starts on each database."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.cli import serve_cpu
from bot.config import parse_cpu
from tests.app.test_cli import _threads_cpus, _wait_healthy, free_port, run, serving

SQLITE = "sqlite+aiosqlite:///./frakturkedjan.db"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1/frakturkedjan"
HAS_AFFINITY = hasattr(os, "sched_getaffinity")
SEVERAL_CORES = HAS_AFFINITY and len(os.sched_getaffinity(0)) > 1


# -- the choice ----------------------------------------------------------------------------


def test_sqlite_gets_the_last_allowed_core_by_default() -> None:
    assert serve_cpu(None, SQLITE, {0, 1}) == 1
    assert serve_cpu(None, SQLITE, {2, 5, 3}) == 5  # not the first, nor by position


def test_postgresql_is_never_pinned_unless_asked() -> None:
    assert serve_cpu(None, POSTGRES, {0, 1, 2, 3}) is None
    assert serve_cpu(2, POSTGRES, {0, 1, 2, 3}) == 2


def test_a_setting_wins_and_any_opts_out() -> None:
    assert serve_cpu(0, SQLITE, {0, 1}) == 0
    assert serve_cpu("any", SQLITE, {0, 1}) is None
    assert serve_cpu("any", POSTGRES, {0, 1}) is None


def test_nothing_to_choose_with_one_core_or_without_affinity() -> None:
    assert serve_cpu(None, SQLITE, {3}) is None
    assert serve_cpu(None, SQLITE, None) is None


@pytest.mark.parametrize(
    ("value", "parsed"),
    [(None, None), ("", None), ("  ", None), ("any", "any"), (" ANY ", "any"), ("0", 0),
     ("7", 7), (3, 3)],
)
def test_cpu_values_taken(value: object, parsed: object) -> None:
    assert parse_cpu(value) == parsed


@pytest.mark.parametrize("value", ["first", "-1", "1.5", "1,2", "٣", -1, True])
def test_cpu_values_refused(value: object) -> None:
    with pytest.raises(ValueError, match="is not a CPU core number"):
        parse_cpu(value)


# -- the process ---------------------------------------------------------------------------


@pytest.mark.skipif(not SEVERAL_CORES, reason="needs CPU affinity and two allowed cores")
def test_serve_keeps_to_one_core_on_sqlite_only_and_says_so(
    tmp_path: Path, db_url: str
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONUTF8": "1",
        "DATABASE_URL": db_url,
    }
    port = free_port()
    with serving(tmp_path, env, "--local", "--no-migrate", "--port", str(port)) as process:
        _wait_healthy(process, f"http://127.0.0.1:{port}", tmp_path / "serve.err")
        threads = _threads_cpus(process.pid)
    allowed = os.sched_getaffinity(0)
    log = [
        json.loads(line)
        for line in (tmp_path / "serve.err").read_text().splitlines()
        if line.startswith("{")
    ]
    pinned = [entry for entry in log if entry["message"] == "running on one CPU core"]
    if db_url.startswith("sqlite"):
        assert len(threads) >= 2  # the database's own thread as well
        assert all(cpus == {max(allowed)} for cpus in threads.values()), threads
        assert [(e["cpu"], e["because"]) for e in pinned] == [(max(allowed), "sqlite")]
    else:
        assert all(cpus == allowed for cpus in threads.values()), threads
        assert pinned == []


@pytest.mark.skipif(not HAS_AFFINITY, reason="needs CPU affinity")
@pytest.mark.parametrize("any_from", ["--cpu", "SERVE_CPU"])
def test_any_keeps_every_core_on_sqlite(tmp_path: Path, any_from: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONUTF8": "1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    port = free_port()
    args = ["--local", "--port", str(port)]
    if any_from == "--cpu":
        args += ["--cpu", "any"]
    else:
        env["SERVE_CPU"] = "Any"
    with serving(tmp_path, env, *args) as process:
        _wait_healthy(process, f"http://127.0.0.1:{port}", tmp_path / "serve.err")
        threads = _threads_cpus(process.pid)
    allowed = os.sched_getaffinity(0)
    assert all(cpus == allowed for cpus in threads.values()), threads
    assert "running on one CPU core" not in (tmp_path / "serve.err").read_text()


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("--cpu", "frakturkedjan: --cpu: 'first' is not a CPU core number (0, 1, ...) or 'any'"),
        (
            "SERVE_CPU",
            "frakturkedjan: setting SERVE_CPU: 'first' is not a CPU core number (0, 1, ...)"
            " or 'any'",
        ),
    ],
)
def test_a_cpu_that_does_not_parse_is_one_line_and_exit_2(
    tmp_path: Path, how: str, expected: str
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONUTF8": "1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    args = ["serve", "--local", "--port", str(free_port())]
    if how == "--cpu":
        args += ["--cpu", "first"]
    else:
        env["SERVE_CPU"] = "first"
    done = run(tmp_path, env, *args)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [expected], done.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before anything else
