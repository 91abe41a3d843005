"""A closed-loop HTTP load generator: a fixed list of requests, a fixed concurrency.

Each of `concurrency` workers takes the next request from the list, sends it, reads the
whole answer, records the latency, and takes the next, until the list is done. The
figures: requests, failures, elapsed time (first start to last end), throughput (good
answers per second), p50, p99 and max latency.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]
    tag: Any = None  # what the caller wants back with the answer (e.g. the case id)


@dataclass
class LoadResult:
    requests: int
    failures: int
    elapsed: float
    latencies: list[float]
    failure_samples: list[str] = field(default_factory=list)
    answers: list[tuple[Any, int, bytes]] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        good = self.requests - self.failures
        return good / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.4999)))
        return ordered[rank - 1]

    def figures(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "elapsed_s": round(self.elapsed, 3),
            "throughput_per_s": round(self.throughput, 1),
            "p50_ms": round(self.percentile(50) * 1000, 1),
            "p99_ms": round(self.percentile(99) * 1000, 1),
            "max_ms": round(max(self.latencies) * 1000, 1) if self.latencies else float("nan"),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 1)
            if self.latencies
            else float("nan"),
        }


Check = Callable[[int, bytes], bool]


async def run_load(
    requests: Sequence[Request],
    *,
    concurrency: int,
    check: Check,
    keep_answers: bool = False,
    request_timeout_s: float = 30.0,
    max_seconds: float | None = None,
) -> LoadResult:
    """Send every request once, `concurrency` at a time, over keep-alive connections.

    With `max_seconds`, no request is started after that many seconds (the figures are
    over the requests done), so that a slow server cannot stretch a run without bound.
    """
    latencies: list[float] = []
    answers: list[tuple[Any, int, bytes]] = []
    failures = 0
    samples: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    position = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=request_timeout_s)
    stop_at = time.perf_counter() + max_seconds if max_seconds else float("inf")

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal position, failures
        while position < len(requests) and time.perf_counter() < stop_at:
            request = requests[position]
            position += 1
            started = time.perf_counter()
            status = 0
            body = b""
            try:
                async with session.post(
                    request.url, data=request.body, headers=request.headers
                ) as response:
                    status = response.status
                    body = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                body = repr(exc).encode()
            ended = time.perf_counter()
            starts.append(started)
            ends.append(ended)
            latencies.append(ended - started)
            if not check(status, body):
                failures += 1
                if len(samples) < 5:
                    samples.append(f"{status} {body[:300]!r}")
            if keep_answers:
                answers.append((request.tag, status, body))

    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    elapsed = (max(ends) - min(starts)) if starts else 0.0
    return LoadResult(
        requests=len(latencies),
        failures=failures,
        elapsed=elapsed,
        latencies=latencies,
        failure_samples=samples,
        answers=answers,
    )
