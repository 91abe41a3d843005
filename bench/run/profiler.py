"""py-spy profiles of the bot process, and of its outbox worker process, during a timed
phase (``--profile DIR``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from bench.run.processes import descendants


class Profiler:
    """`py-spy record` against one pid for the length of a phase (raw collapsed stacks).

    `--gil` keeps only samples of the thread holding the GIL: Python CPU time, without
    the waits (epoll, SQLite's C calls, idle threads); `--nonblocking` does not pause the
    bot to sample it (blocking sampling slowed the clicks by about 40 %).
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        exe = Path(sys.executable).parent / "py-spy"
        self.exe = str(exe) if exe.exists() else shutil.which("py-spy")

    @contextlib.asynccontextmanager
    async def record(self, pid: int, name: str) -> AsyncIterator[None]:
        """Profile `pid` into `{name}.txt` and each process it started (`serve`'s outbox
        worker) into `{name}-worker-{pid}.txt`, for the length of the block."""
        if self.directory is None or self.exe is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        targets = [(pid, name)] + [(c, f"{name}-worker-{c}") for c in descendants(pid)]
        procs = [await self._start(target, label) for target, label in targets]
        await asyncio.sleep(0.5)  # let them attach
        try:
            yield
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
            for proc in procs:
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()

    async def _start(self, pid: int, name: str) -> asyncio.subprocess.Process:
        assert self.directory is not None and self.exe is not None
        return await asyncio.create_subprocess_exec(
            self.exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(self.directory / f"{name}.txt"),
            "--duration",
            "600",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
