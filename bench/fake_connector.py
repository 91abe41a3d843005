"""A fake Bot Connector that enforces Teams' published limits (SPEC section 4).

One aiohttp app serves several independent "services": the bot sends to
``{base}/{service}/v3/conversations/{id}/activities``, and each service has its own limits,
fault injection and counters, so that each leg of the benchmark has its own figures.

Limits, as Microsoft publishes them for a bot: per conversation 7 requests a second, 60 in
30 seconds and 1,800 an hour; per app and tenant 50 requests a second. Windows are sliding
and half-open: a request at time t counts against (t - window, t]. Every request that
passes the gate counts, including the ones then answered with an injected 500/503; a
request refused with 429 does not count (it never reached the service). A 429 carries
``Retry-After`` in whole seconds (at least 1), the time until the window admits again.

Faults: with ``fault_rate`` > 0, each admitted request is answered 500 or 503 (half each)
with that probability, from a seeded ``random.Random``, before anything is delivered.

Each activity the benchmark writes carries ``channelData.benchId``; the connector counts
deliveries per id, so that a lost or a duplicated card shows.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CONVERSATION_WINDOWS: tuple[tuple[int, float], ...] = ((7, 1.0), (60, 30.0), (1800, 3600.0))
APP_WINDOWS: tuple[tuple[int, float], ...] = ((50, 1.0),)


@dataclass
class SlidingLog:
    """Times of admitted requests of one key, checked against (count, seconds) windows."""

    windows: tuple[tuple[int, float], ...]
    times: deque[float] = field(default_factory=deque)

    def wait(self, now: float) -> float:
        """Seconds until one more request is allowed (0 when it is allowed now)."""
        longest = max(seconds for _, seconds in self.windows)
        while self.times and self.times[0] <= now - longest:
            self.times.popleft()
        wait = 0.0
        for count, seconds in self.windows:
            if len(self.times) >= count and self.times[-count] > now - seconds:
                wait = max(wait, self.times[-count] + seconds - now)
        return wait


@dataclass
class Service:
    """One simulated Bot Connector endpoint, with its limits, faults and counters."""

    name: str
    enforce_limits: bool = True
    fault_rate: float = 0.0
    seed: int = 0
    requests: int = 0
    admitted: int = 0
    throttled: int = 0
    throttled_app: int = 0  # 429s where the app-wide 50/s window was full
    faults: int = 0
    delivered: int = 0
    first_request: float | None = None
    last_request: float | None = None
    first_delivery: float | None = None
    last_delivery: float | None = None
    by_bench_id: Counter[str] = field(default_factory=Counter)
    per_conversation: Counter[str] = field(default_factory=Counter)
    sample: dict[str, Any] | None = None
    arrivals: list[float] = field(default_factory=list)
    app: SlidingLog = field(default_factory=lambda: SlidingLog(APP_WINDOWS))
    conversations: dict[str, SlidingLog] = field(default_factory=dict)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - seeded fault injection, not security

    def gate(self, conversation: str, now: float) -> float:
        """0 when the request is admitted (and counted), else the wait before a retry."""
        if not self.enforce_limits:
            return 0.0
        log = self.conversations.get(conversation)
        if log is None:
            log = self.conversations[conversation] = SlidingLog(CONVERSATION_WINDOWS)
        app_wait = self.app.wait(now)
        wait = max(log.wait(now), app_wait)
        if wait > 0:
            if app_wait > 0:
                self.throttled_app += 1
            return wait
        log.times.append(now)
        self.app.times.append(now)
        return 0.0

    def max_in_window(self, seconds: float) -> int:
        """The most requests (admitted or not) that arrived within any `seconds` window."""
        times = self.arrivals
        best, start = 0, 0
        for end in range(len(times)):
            while times[end] - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    def per_tenth(self) -> list[int]:
        """Requests per 100 ms from the first request on (how bursty the sender is)."""
        if not self.arrivals:
            return []
        first = self.arrivals[0]
        counts = [0] * (int((self.arrivals[-1] - first) * 10) + 1)
        for t in self.arrivals:
            counts[int((t - first) * 10)] += 1
        return counts

    def summary(self, expected_ids: set[str] | None = None) -> dict[str, Any]:
        """Counters; with `expected_ids`, how many of them were lost or sent twice."""
        out: dict[str, Any] = {
            "requests": self.requests,
            "admitted": self.admitted,
            "throttled_429": self.throttled,
            "throttled_429_app_window": self.throttled_app,
            "max_requests_in_1s": self.max_in_window(1.0),
            "requests_per_100ms": self.per_tenth(),
            "faults_5xx": self.faults,
            "delivered": self.delivered,
            "conversations": len(self.per_conversation),
        }
        if expected_ids is not None:
            out["lost"] = sum(1 for i in expected_ids if self.by_bench_id[i] == 0)
            out["duplicates"] = sum(c - 1 for c in self.by_bench_id.values() if c > 1)
            out["unexpected"] = sum(1 for i in self.by_bench_id if i not in expected_ids)
        return out


class FakeConnector:
    """The aiohttp app of all services; `add_service` before the bot sends to it."""

    def __init__(self) -> None:
        self.services: dict[str, Service] = {}
        self.base_url = ""
        self._ids = itertools.count(1)

    def add_service(
        self, name: str, *, enforce_limits: bool = True, fault_rate: float = 0.0, seed: int = 0
    ) -> Service:
        service = Service(name, enforce_limits=enforce_limits, fault_rate=fault_rate, seed=seed)
        self.services[name] = service
        return service

    def url(self, name: str) -> str:
        """The serviceUrl under which the bot reaches service `name`."""
        return f"{self.base_url}/{name}"

    async def _handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        service = self.services.get(request.match_info["service"])
        if service is None:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        raw = await request.read()
        conversation = request.match_info["conversation"]
        service.requests += 1
        service.arrivals.append(now)
        if service.first_request is None:
            service.first_request = now
        service.last_request = now
        wait = service.gate(conversation, now)
        if wait > 0:
            service.throttled += 1
            return web.json_response(
                {"error": {"code": "TooManyRequests", "message": "throttled"}},
                status=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        service.admitted += 1
        if service.fault_rate and service.rng.random() < service.fault_rate:
            service.faults += 1
            status = service.rng.choice((500, 503))
            return web.json_response(
                {"error": {"code": "ServiceError", "message": "injected"}}, status=status
            )
        try:
            activity = json.loads(raw)
        except ValueError:
            return web.json_response({"error": {"code": "BadArgument"}}, status=400)
        channel_data = activity.get("channelData") if isinstance(activity, dict) else None
        bench_id = channel_data.get("benchId") if isinstance(channel_data, dict) else None
        if isinstance(bench_id, str):
            service.by_bench_id[bench_id] += 1
        if service.sample is None and isinstance(activity, dict) and not bench_id:
            service.sample = activity
        service.delivered += 1
        service.per_conversation[conversation] += 1
        if service.first_delivery is None:
            service.first_delivery = now
        service.last_delivery = now
        updated = request.match_info.get("activity") if request.method == "PUT" else None
        activity_id = updated or f"act-{next(self._ids)}"
        return web.json_response({"id": activity_id})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        base = "/{service}/v3/conversations/{conversation}/activities"
        app.router.add_post(base, self._handle)
        app.router.add_post(base + "/{activity}", self._handle)  # a reply within a turn
        app.router.add_put(base + "/{activity}", self._handle)
        return app
