"""Child processes started here, and what they use: CPU, memory, a free port, a log.

Linux only: CPU and memory are read from /proc (psutil is used for the RSS when it is
installed). The processes those children start in turn (`serve`'s outbox worker process,
restarted when it ends) are found again at each sample and counted beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS, kept by the kernel) of a process, in kB."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


def cpus_allowed(pid: int) -> str:
    """The CPU cores a process may run on, as the kernel lists them (`0-1`, `1`)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key == "Cpus_allowed_list":
                    return rest.strip()
    except OSError:
        pass
    return "?"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times(pid: int) -> tuple[float, float]:
    """(own, reaped children's) user + system CPU seconds of a process so far: the second
    is the CPU of the children that ended and were waited for (cutime + cstime)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def named_cpu_seconds(name: str) -> float:
    """The CPU seconds every live process called `name` (its `comm`) has used: the
    database server's (`postgres`) when it runs on this machine."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != name:
                continue
        except OSError:
            continue
        total += cpu_seconds(int(entry.name))
    return total


def children(pid: int) -> list[int]:
    """The live child processes of a process (of all its threads), from
    /proc/PID/task/TID/children; empty when there are none or the process is gone."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as listing:
                found.extend(int(child) for child in listing.read().split())
        except (OSError, ValueError):
            continue
    return sorted(set(found))


def descendants(pid: int) -> list[int]:
    """Children, their children and so on (`serve`'s: its outbox worker process)."""
    found: list[int] = []
    todo = children(pid)
    while todo:
        child = todo.pop(0)
        if child not in found:
            found.append(child)
            todo.extend(children(child))
    return found


class ChildrenCpu:
    """The CPU seconds the descendants of `pid` use from now on: the live ones' own CPU
    since they were first seen (or started), plus what the ones that ended used, read
    from the parent's reaped-children CPU less what they had used before."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = {child: cpu_seconds(child) for child in descendants(pid)}
        self.reaped = cpu_times(pid)[1]
        self.seen = bool(self.start)

    def used(self) -> float:
        now = {child: cpu_seconds(child) for child in descendants(self.pid)}
        self.seen = self.seen or bool(now)
        live = sum(cpu - self.start.get(child, 0.0) for child, cpu in now.items())
        ended = sum(cpu for child, cpu in self.start.items() if child not in now)
        reaped = cpu_times(self.pid)[1] - self.reaped
        return max(0.0, live + reaped - ended)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_meter(
    figures: dict[str, Any], prefix: str, pid: int, *, worker: bool = False
) -> Iterator[None]:
    """Adds the CPU used during the block, in cores: `{prefix}cpu` of `pid`, `..._loadgen_cpu`
    of this process, and `..._machine_busy` of the whole machine (the rest of which is
    other work: PostgreSQL, or anything else running on the machine).

    With `worker`, also `{prefix}worker_cpu`: what the processes `pid` started (`serve`'s
    outbox worker process, restarts included) used, when there were any; absent when
    `pid` had no child (`OUTBOX_WORKER=inline`)."""
    kids = ChildrenCpu(pid) if worker else None
    started, own, wall = cpu_seconds(pid), own_cpu_seconds(), time.monotonic()
    busy, total = machine_ticks()
    yield
    wall = max(1e-9, time.monotonic() - wall)
    busy2, total2 = machine_ticks()
    cores = os.cpu_count() or 1
    figures[f"{prefix}cpu"] = round((cpu_seconds(pid) - started) / wall, 2)
    if kids is not None:
        used = kids.used()
        if kids.seen or used > 0:
            figures[f"{prefix}worker_cpu"] = round(used / wall, 2)
    figures[f"{prefix}loadgen_cpu"] = round((own_cpu_seconds() - own) / wall, 2)
    if total2 > total:
        figures[f"{prefix}machine_busy"] = round((busy2 - busy) / (total2 - total) * cores, 2)


def rss_now_kb(pid: int) -> int:
    try:
        import psutil  # optional; /proc is enough on Linux

        return int(psutil.Process(pid).memory_info().rss // 1024)
    except Exception:  # not installed, or the process is gone
        return proc_status_kb(pid).get("VmRSS", 0)


def open_log(path: Path) -> Any:
    return path.open("ab")


class Process:
    """A child process started here; `stop` ends exactly this pid, politely first.

    It runs in `cwd` and writes its output to `{log_dir}/{name}.log` (`log_dir` defaults
    to `cwd`).
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = (log_dir or cwd) / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_rss_kb = 0
        self.hwm_kb = 0
        # the processes it started (serve's outbox worker), by pid: restarts are new pids
        self.child_peak_rss_kb: dict[int, int] = {}
        self.child_hwm_kb: dict[int, int] = {}
        self.child_cpus: dict[int, str] = {}
        self._sampler: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        log = open_log(self.log_path)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log.close()
        self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while self.proc is not None and self.proc.returncode is None:
            self.peak_rss_kb = max(self.peak_rss_kb, rss_now_kb(self.pid))
            self.hwm_kb = max(self.hwm_kb, proc_status_kb(self.pid).get("VmHWM", 0))
            self.sample_children()
            await asyncio.sleep(0.2)

    def sample_children(self) -> list[int]:
        """Look for the processes it started now (a restarted worker is a new pid) and note
        their RSS, peak RSS and cores. Their pids."""
        if self.proc is None or self.proc.returncode is not None:
            return []
        found = descendants(self.pid)
        for child in found:
            rss = rss_now_kb(child)
            hwm = proc_status_kb(child).get("VmHWM", 0)
            if not rss and not hwm:
                continue  # gone since it was listed
            self.child_peak_rss_kb[child] = max(self.child_peak_rss_kb.get(child, 0), rss)
            self.child_hwm_kb[child] = max(self.child_hwm_kb.get(child, 0), hwm)
            cpus = cpus_allowed(child)  # again each time: serve sets them after the start
            if cpus != "?":
                self.child_cpus[child] = cpus
        return found

    @property
    def worker_cpus(self) -> str:
        """The cores of the processes it started (`0,2-3`), `/`-separated when they
        differed; empty when it started none."""
        return "/".join(dict.fromkeys(self.child_cpus.values()))

    def memory(self) -> dict[str, float]:
        """Its peak RSS (`peak_rss_mb`, what the memory target is judged on); with the
        processes it started: the largest peak of any one of them (`worker_peak_rss_mb`,
        0 when none) and the two added (`total_peak_rss_mb`)."""
        if self.proc is not None and self.proc.returncode is None:
            self.hwm_kb = max(self.hwm_kb, proc_status_kb(self.pid).get("VmHWM", 0))
            self.sample_children()
        own = max(self.hwm_kb, self.peak_rss_kb)
        worker = max(
            (
                max(hwm, self.child_peak_rss_kb.get(child, 0))
                for child, hwm in self.child_hwm_kb.items()
            ),
            default=0,
        )
        return {
            "peak_rss_mb": round(own / 1024, 1),
            "sampled_max_rss_mb": round(self.peak_rss_kb / 1024, 1),
            "worker_peak_rss_mb": round(worker / 1024, 1),
            "total_peak_rss_mb": round((own + worker) / 1024, 1),
            "worker_processes": len(self.child_hwm_kb),
        }

    async def wait_http(self, url: str, within_s: float = 60.0) -> None:
        deadline = time.monotonic() + within_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status < 500:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {url} within {within_s} s")

    async def stop(self) -> None:
        if self.proc is None:
            return
        self.memory()
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self.proc.returncode is None:
            for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(sig)
                try:
                    await asyncio.wait_for(self.proc.wait(), wait)
                    break
                except TimeoutError:
                    continue


async def run_command(argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> None:
    """Run a command to its end (at most 120 s), its output appended to `log`; raises
    unless it exits 0."""
    handle = open_log(log)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        handle.close()
    try:
        code = await asyncio.wait_for(proc.wait(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{argv[1:3]} took over 120 s; see {log}") from None
    if code != 0:
        raise RuntimeError(f"{' '.join(argv[1:3])} exited {code}; see {log}")
