"""py-spy profiles of the bot process during a timed phase (``--profile DIR``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path


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
        if self.directory is None or self.exe is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        output = self.directory / f"{name}.txt"
        proc = await asyncio.create_subprocess_exec(
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
            str(output),
            "--duration",
            "600",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.sleep(0.5)  # let it attach
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
