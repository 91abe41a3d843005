"""Every line the service writes on stderr is a JSON object (issue 11, point 7): `db
upgrade` (Alembic's own lines included) and `serve --local`, which brings the schema up
to date in a child process first. Stdout carries only what a command is for: the line
`db upgrade` prints for its operator, nothing from `serve`.

Run as in tests/app/test_cli.py: the installed command in a subprocess, with a clean
environment and a temporary SQLite database.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from tests.app.test_cli import CLI, _wait_healthy, free_port, run, serving
from tests.helpers import fixture_bytes

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "json-log-intake-token"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": f"{CLI.parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "PYTHONUTF8": "1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "INTAKE_TOKENS": TOKEN,
    }


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of `text` as a JSON object; fails naming the first line that is not."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        assert isinstance(entry, dict), f"line {number} is not a JSON object: {line!r}"
        entries.append(entry)
    return entries


def test_db_upgrade_writes_json_lines_on_stderr(tmp_path: Path, env: dict[str, str]) -> None:
    done = run(tmp_path, env, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "database schema is up to date\n"
    entries = json_lines(done.stderr)
    assert any(e["logger"] == "alembic.runtime.migration" for e in entries)  # Alembic's too
    assert entries[-1]["message"] == "database schema is up to date"


def test_serve_writes_json_lines_on_stderr_and_nothing_on_stdout(
    tmp_path: Path, env: dict[str, str]
) -> None:
    loaded = run(tmp_path, env, "db", "upgrade")
    assert loaded.returncode == 0, loaded.stderr
    loaded = run(tmp_path, env, "directory", "load", str(ROOT / "demo" / "directory.yaml"))
    assert loaded.returncode == 0, loaded.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(tmp_path, env, "--local", "--port", str(port)) as process:
        _wait_healthy(process, base, tmp_path / "serve.err")
        request = urllib.request.Request(
            f"{base}/api/dxa-answers",
            data=fixture_bytes("01_osteoporosis_named.json"),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
        process.terminate()
        assert process.wait(timeout=15) == 0
    assert (tmp_path / "serve.out").read_text() == ""
    entries = json_lines((tmp_path / "serve.err").read_text(encoding="utf-8"))
    messages = [e["message"] for e in entries]
    assert "database schema is up to date" in messages  # the child's line, as JSON
    assert [e.get("outcome") for e in entries if e.get("event") == "answer.received"] == [
        "created"
    ]
