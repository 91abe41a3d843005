"""Where `serve` runs the outbox worker: `--worker` / `OUTBOX_WORKER` take `process` or
`inline`; anything else is one line and exit status 2 before anything happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, parse_outbox_worker
from tests.app import test_cli
from tests.app.test_cli import free_port, run

env = test_cli.env  # the command's clean environment (a fixture)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [(None, None), ("", None), (" ", None), ("process", "process"), (" Inline ", "inline")],
)
def test_worker_values_taken(value: object, parsed: object) -> None:
    assert parse_outbox_worker(value) == parsed


@pytest.mark.parametrize("value", ["thread", "processes", "0", "off"])
def test_worker_values_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not one of process, inline"):
        parse_outbox_worker(value)


def test_the_setting_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_WORKER", "inline")
    assert Settings().outbox_worker == "inline"
    monkeypatch.delenv("OUTBOX_WORKER")
    assert Settings().outbox_worker is None  # serve's default: process


def test_a_bad_worker_option_exits_2_with_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    done = run(tmp_path, env, "serve", "--local", "--port", str(free_port()), "--worker", "both")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "frakturkedjan: --worker: 'both' is not one of process, inline"
    ], done.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before anything else


def test_a_bad_worker_setting_exits_2_naming_it(tmp_path: Path, env: dict[str, str]) -> None:
    done = run(tmp_path, {**env, "OUTBOX_WORKER": "threads"}, "serve", "--local")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "frakturkedjan: setting OUTBOX_WORKER: 'threads' is not one of process, inline"
    ], done.stderr


def test_the_collector_is_settled_for_a_long_run() -> None:
    import gc

    from bot.cli import GC_GEN0_THRESHOLD, settle_garbage_collector

    before = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 1000  # what was made so far: out of the scans
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
