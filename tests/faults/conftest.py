"""Fixtures of the fault tests: `serve` subprocesses, and a private PostgreSQL cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.postgres import PrivateCluster, find_postgres_bin
from tests.faults.processes import ServeProcesses


@pytest.fixture
def serve_processes(tmp_path: Path) -> Iterator[ServeProcesses]:
    """Starts `frakturkedjan serve --local` processes and stops all of them afterwards."""
    processes = ServeProcesses(tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of this test alone (initdb into a temporary folder, a free port on
    127.0.0.1), which the test may stop and start; removed afterwards. Never the shared
    server. Skipped, with the reason, where the PostgreSQL server binaries are missing."""
    binaries = find_postgres_bin()
    if binaries is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql, "
            "or runuser missing as root"
        )
    cluster = PrivateCluster(binaries)
    try:
        cluster.create()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
