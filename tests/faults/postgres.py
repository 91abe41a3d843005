"""A private PostgreSQL cluster for one test, which it may stop and start at will.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user and
every command runs through `runuser`. The data folder is a fresh temporary folder; the
server listens on a free port of 127.0.0.1 (and a socket in that folder) only.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.faults.processes import free_port


def _version(initdb: str) -> tuple[int, ...]:
    name = Path(initdb).parent.parent.name  # /usr/lib/postgresql/<version>/bin/initdb
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def find_postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin with initdb and pg_ctl that this user can run
    (as root: through `runuser`), if any."""
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return None
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)[::-1]:
        folder = Path(initdb).parent
        if (folder / "pg_ctl").exists():
            return folder
    return None


class PrivateCluster:
    """initdb, start, stop (immediate: a crash, as far as clients see), destroy."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="fk-pg-"))
        self.data = self.folder / "data"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *argv: str) -> None:
        command = [str(self.binaries / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(
            command, check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
        )

    def create(self) -> None:
        if self._as_postgres:
            shutil.chown(self.folder, user="postgres")
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=50"
        )
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop at once, as a crash would (the next start recovers from the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop()
            except subprocess.CalledProcessError:
                pass  # not running
        shutil.rmtree(self.folder, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"
