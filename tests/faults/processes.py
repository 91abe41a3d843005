"""`frakturkedjan serve --local` as a subprocess of a fault test, on the code under test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import bot

# The subprocess imports `bot` from where this test run imports it.
SOURCE_ROOT = Path(bot.__file__).resolve().parent.parent
_SCRIPT = Path(sys.executable).with_name("frakturkedjan")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "bot.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Serve:
    """One `serve` process; `log` holds its output."""

    popen: subprocess.Popen[bytes]
    log: Path

    def running(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """kill -9, and reap it."""
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end within 10 s."""
        if self.running():
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        with suppress(ProcessLookupError):  # anything left in its process group
            os.killpg(self.popen.pid, signal.SIGKILL)


class ServeProcesses:
    """Starts `serve --local` processes; `stop_all` ends every one (a fixture's finaliser)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Serve] = []

    def start(self, database_url: str, **settings: str) -> Serve:
        env = {
            key: value
            for key, value in os.environ.items()
            if key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        }
        env.update(
            {
                "DATABASE_URL": database_url,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(SOURCE_ROOT), env.get("PYTHONPATH", "")])
                ),
                "NO_PROXY": "127.0.0.1,localhost",
                "OUTBOX_POLL_SECONDS": "0.2",
                "JOBS_POLL_SECONDS": "3600",
                **settings,
            }
        )
        log = self.workdir / f"serve-{len(self.started) + 1}.log"
        with log.open("wb") as output:
            popen = subprocess.Popen(
                [*COMMAND, "serve", "--local", "--no-migrate", "--port", str(free_port())],
                cwd=self.workdir,  # no stray .env
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        serve = Serve(popen, log)
        self.started.append(serve)
        return serve

    def stop_all(self) -> None:
        for serve in self.started:
            serve.stop()
