"""The outbox worker in a process of its own (`OUTBOX_WORKER=process`, `serve`'s default).

`serve` starts `frakturkedjan worker --managed` as its child (`WorkerChild`). The child runs
the same `OutboxWorker` on its own database connections; the two processes share nothing
but the database and two pipes:

- the child's stdin: one byte after each commit that added outbox rows (the in-process
  `wake()`, ``w``), coalesced to at most one write per turn of the event loop; ``b`` when
  `serve` becomes busy answering requests and ``i`` when it is calm again (`give_way`:
  meanwhile the child sends few cards, `Pacer.give_way`). End of file (the parent
  stopped, or died) ends the child after its current pass: it never outlives `serve`.
  It shares `serve`'s process group: a kill of the group (a container's or systemd's stop)
  reaches both; SIGINT (a terminal's Ctrl-C) it leaves to `serve`, which stops it.
- the child's stdout: its send metrics (Prometheus text), at most once a second when they
  changed, each snapshot one length-prefixed frame; the parent's `/metrics` includes the
  last one (`WorkerChild.metrics_text`).

A child that exits while `serve` runs is logged as an error and started again (1 s, then
doubling up to 30 s; back to 1 s after a minute of running); meanwhile nothing is lost: the
rows wait in the outbox, and a lease the dead child held lapses and is claimed again.

Why a process: under load the worker's sends and card updates cost about as much CPU as the
click itself, on the same event loop as the clicks (bench/README.md, issue 15).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import sys
import time
from collections.abc import Callable

log = logging.getLogger("frakturkedjan.worker")

FRAME = struct.Struct(">I")  # a metrics snapshot's length, then the snapshot
METRICS_EVERY_SECONDS = 1.0
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a child that ran this long restarts after RESTART_FIRST_SECONDS again
STOP_SECONDS = 15.0  # the current pass's sends end well within this (OutboxWorker.stop)
TERM_SECONDS = 5.0  # after SIGTERM, before SIGKILL


class WorkerChild:
    """Parent side: starts, wakes, supervises and stops the worker process.

    `argv` is the child's command line (it inherits the environment); `cores` the CPU
    cores it may use (None: as the parent). `wake` may be called from the event loop at
    any rate.
    """

    def __init__(self, argv: list[str], *, cores: set[int] | None = None) -> None:
        self._argv = argv
        self._cores = cores
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._wake_due = False
        self._busy = False  # told to a child that starts again
        self._supervisor: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.metrics_text = b""
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="outbox-worker-child")

    def wake(self) -> None:
        """Tell the child the outbox has new rows; one write per loop turn, however many
        commits asked."""
        if self._wake_due or self._stopping:
            return
        self._wake_due = True
        asyncio.get_running_loop().call_soon(self._send_wake)

    def give_way(self, busy: bool) -> None:
        """Tell the child that `serve` is busy answering requests (it sends few cards
        meanwhile), or calm again. Every change is written: none may be lost."""
        self._busy = busy
        self._write(b"b" if busy else b"i")

    def _write(self, data: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return
        if not proc.stdin.transport.is_closing():
            with contextlib.suppress(ConnectionError, RuntimeError):
                proc.stdin.write(data)

    def _send_wake(self) -> None:
        self._wake_due = False
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            return  # a restarting child drains the outbox when it starts
        transport = proc.stdin.transport
        if transport.is_closing() or transport.get_write_buffer_size() > 0:
            return  # a wake-up is still on its way: one is enough
        with contextlib.suppress(ConnectionError, RuntimeError):
            proc.stdin.write(b"w")

    async def stop(self) -> None:
        """End the child: end of file on its stdin, then SIGTERM, then SIGKILL."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            steps = ((None, STOP_SECONDS), (signal.SIGTERM, TERM_SECONDS), (signal.SIGKILL, 5.0))
            for sig, wait in steps:
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(sig)
                try:
                    await asyncio.wait_for(proc.wait(), wait)
                    break
                except TimeoutError:
                    log.warning("outbox worker process slow to stop", extra={"pid": proc.pid})
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _spawn(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self.starts += 1
        if self._cores and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(self._proc.pid, self._cores)
            except OSError as exc:  # it still works, on the parent's cores
                log.warning("outbox worker process: cores not set", extra={"error": str(exc)})
        self._reader = asyncio.create_task(self._read_metrics(self._proc))
        if self._busy:
            self._write(b"b")
        log.info(
            "outbox worker process started",
            extra={"pid": self._proc.pid, "cores": sorted(self._cores or ())},
        )

    async def _read_metrics(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (size,) = FRAME.unpack(await proc.stdout.readexactly(FRAME.size))
                self.metrics_text = await proc.stdout.readexactly(size)

    async def _supervise(self) -> None:
        delay = RESTART_FIRST_SECONDS
        while True:
            proc = self._proc
            assert proc is not None
            began = time.monotonic()
            code = await proc.wait()
            if self._stopping:
                return
            if time.monotonic() - began >= STABLE_SECONDS:
                delay = RESTART_FIRST_SECONDS
            # 0: it was asked to stop (SIGTERM); a crash or a kill is worse news
            (log.warning if code == 0 else log.error)(
                "outbox worker process ended; starting it again",
                extra={"pid": proc.pid, "exit_status": code, "in_seconds": delay},
            )
            while True:  # until it starts again (a failed start is not another death)
                await asyncio.sleep(delay)
                delay = min(RESTART_MAX_SECONDS, delay * 2)
                if self._stopping:
                    return
                try:
                    await self._spawn()
                    break
                except OSError as exc:
                    log.error(
                        "outbox worker process could not start",
                        extra={"error": str(exc), "in_seconds": delay},
                    )


class ParentLink:
    """Child side of the pipes: wake-ups, `serve` busy or calm (`on_busy`), and end of
    file from stdin; metrics to stdout."""

    def __init__(
        self,
        on_wake: Callable[[], None],
        on_eof: Callable[[], None],
        on_busy: Callable[[bool], None] = lambda _busy: None,
    ) -> None:
        self._on_wake = on_wake
        self._on_eof = on_eof
        self._on_busy = on_busy
        self._out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
        # nothing else may write to the pipe: stray prints go to stderr from here on
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        self._last = b""

    async def listen(self) -> None:
        """Read stdin until end of file: in each chunk, the last ``b`` or ``i`` says
        whether `serve` is busy; any other byte is a wake-up."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0)
        )
        while True:
            try:
                chunk = await reader.read(4096)
            except ConnectionError:
                chunk = b""
            if not chunk:
                self._on_eof()
                return
            said = max(chunk.rfind(b"b"), chunk.rfind(b"i"))
            if said >= 0:
                self._on_busy(chunk[said : said + 1] == b"b")
            if chunk.translate(None, b"bi"):  # a byte besides them: a wake-up
                self._on_wake()

    def publish(self, text: bytes) -> None:
        """Send a metrics snapshot, when it changed. A parent that is gone ends nothing
        here: end of file on stdin does."""
        if text == self._last:
            return
        self._last = text
        with contextlib.suppress(BrokenPipeError, OSError):
            self._out.write(FRAME.pack(len(text)) + text)
