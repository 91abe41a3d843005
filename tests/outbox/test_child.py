"""The outbox worker's process, parent side (`WorkerChild`) and child side (`ParentLink`),
with small stand-in children: wake-ups coalesced, end of file ends the child, metrics
frames reach the parent, a dead child is started again, a stuck one is stopped anyway, and
the child keeps to the cores it is given."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.cli import worker_cores
from bot.outbox import child as child_module
from bot.outbox.child import WorkerChild
from tests.helpers import process_alive as alive

SEVERAL_CORES = hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 1

# Counts the bytes on stdin until end of file, then writes the count.
BYTE_COUNTER = """
import sys
from pathlib import Path
from typing import Any
data = sys.stdin.buffer.read()
Path(sys.argv[1]).write_text(str(len(data)))
"""

# The real child side: counts wake-ups, publishes a snapshot (twice: sent once), and
# writes "<wakes> eof" at end of file.
LINKED = """
import asyncio, sys
from pathlib import Path
from typing import Any
from bot.outbox.child import ParentLink

out = Path(sys.argv[1])

async def main() -> None:
    wakes = 0
    ended = asyncio.Event()

    def woken() -> None:
        nonlocal wakes
        wakes += 1
        out.write_text(str(wakes))

    link = ParentLink(woken, ended.set)
    print("stray output goes to stderr")
    link.publish(b"fake_sends_total 3.0\\n")
    link.publish(b"fake_sends_total 3.0\\n")
    link.publish(b"fake_sends_total 4.0\\n")
    listening = asyncio.create_task(link.listen())
    await ended.wait()
    await listening
    out.write_text(f"{wakes} eof")

asyncio.run(main())
"""

# Exits 3 on its first start, then waits for end of file.
CRASHES_ONCE = """
import sys
from pathlib import Path
from typing import Any
marker = Path(sys.argv[1])
starts = int(marker.read_text()) if marker.exists() else 0
marker.write_text(str(starts + 1))
if starts == 0:
    sys.exit(3)
sys.stdin.buffer.read()
"""

# Neither reads stdin nor ends on its own; with "stubborn", SIGTERM is ignored too.
STUCK = """
import signal, sys, time
if sys.argv[1:] == ["stubborn"]:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True, file=sys.stderr)
time.sleep(120)
"""


def script(tmp_path: Path, name: str, text: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return [sys.executable, str(path)]


async def until(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_wake_ups_in_one_turn_are_one_byte_and_end_of_file_ends_the_child(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bytes.txt"
    child = WorkerChild([*script(tmp_path, "counter", BYTE_COUNTER), str(out)])
    await child.start()
    for _ in range(50):
        child.wake()
    await asyncio.sleep(0.2)
    child.wake()
    child.wake()
    await asyncio.sleep(0.2)
    pid = child.pid
    assert pid is not None
    await child.stop()
    assert out.read_text() == "2"  # two turns that asked, two bytes
    assert not alive(pid)
    child.wake()  # after stop: nothing, no error


async def test_the_link_wakes_the_child_ends_it_and_carries_its_metrics(tmp_path: Path) -> None:
    out = tmp_path / "wakes.txt"
    child = WorkerChild([*script(tmp_path, "linked", LINKED), str(out)])
    await child.start()
    await until(lambda: child.metrics_text == b"fake_sends_total 4.0\n", "the last snapshot")
    child.wake()
    await until(lambda: out.exists() and out.read_text() == "1", "one wake-up")
    child.wake()
    await until(lambda: out.read_text() == "2", "a second wake-up")
    await child.stop()
    assert out.read_text() == "2 eof"


async def test_a_child_that_dies_is_started_again_and_the_death_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(child_module, "RESTART_FIRST_SECONDS", 0.05)
    marker = tmp_path / "starts.txt"
    child = WorkerChild([*script(tmp_path, "crashes", CRASHES_ONCE), str(marker)])
    with caplog.at_level(logging.INFO, logger="frakturkedjan.worker"):
        await child.start()
        await until(lambda: child.starts == 2, "a second start")
        await until(lambda: marker.read_text() == "2", "the second child running")
        second = child.pid
        await child.stop()
    ended = [r for r in caplog.records if r.getMessage().startswith("outbox worker process ended")]
    assert len(ended) == 1
    assert ended[0].levelno == logging.ERROR
    assert getattr(ended[0], "exit_status", None) == 3
    assert second is not None and not alive(second)
    assert child.starts == 2  # stopping is not a death: no third start


@pytest.mark.parametrize(
    ("argv", "ended_by"), [([], signal.SIGTERM), (["stubborn"], signal.SIGKILL)]
)
async def test_a_child_that_ignores_end_of_file_is_stopped_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], ended_by: signal.Signals
) -> None:
    monkeypatch.setattr(child_module, "STOP_SECONDS", 0.3)
    monkeypatch.setattr(child_module, "TERM_SECONDS", 0.3)
    child = WorkerChild([*script(tmp_path, "stuck", STUCK), *argv])
    await child.start()
    await asyncio.sleep(0.5)  # past start-up, its signal disposition set
    started = time.monotonic()
    await child.stop()
    assert time.monotonic() - started < 5
    assert child._proc is not None and child._proc.returncode == -ended_by


def test_the_worker_gets_the_cores_serve_does_not_keep_to() -> None:
    assert worker_cores({0, 1}, 1) == {0}
    assert worker_cores({0, 1, 2, 3}, 3) == {0, 1, 2}
    assert worker_cores({0, 1}, None) is None  # serve on any core: so is the worker
    assert worker_cores({3}, 3) is None  # one core: shared
    assert worker_cores(None, None) is None  # no CPU affinity on this system


@pytest.mark.skipif(not SEVERAL_CORES, reason="needs two CPU cores")
async def test_the_child_runs_on_the_cores_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(child_module, "STOP_SECONDS", 0.2)  # it ignores end of file
    cores = {min(os.sched_getaffinity(0))}
    child = WorkerChild(script(tmp_path, "stuck", STUCK), cores=cores)
    await child.start()
    try:
        assert child.pid is not None
        assert os.sched_getaffinity(child.pid) == cores
    finally:
        await child.stop()


async def test_a_failed_start_is_tried_again_without_another_death_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(child_module, "RESTART_FIRST_SECONDS", 0.05)
    marker = tmp_path / "starts.txt"
    child = WorkerChild([*script(tmp_path, "crashes", CRASHES_ONCE), str(marker)])
    real = asyncio.create_subprocess_exec
    refusals = []

    async def refuse_once(*args: Any, **kwargs: Any) -> Any:
        if not refusals:
            refusals.append(args)
            raise OSError("no processes left")
        return await real(*args, **kwargs)

    with caplog.at_level(logging.INFO, logger="frakturkedjan.worker"):
        await child.start()  # the real one: it exits 3 at once
        monkeypatch.setattr(asyncio, "create_subprocess_exec", refuse_once)
        await until(lambda: child.starts == 2, "a start after the refused one")
        await until(lambda: marker.read_text() == "2", "the second child running")
        await child.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("outbox worker process could not start") == 1
    assert sum(m.startswith("outbox worker process ended") for m in messages) == 1
    assert len(refusals) == 1
