"""Prometheus metrics of one service instance, on its own registry (served at /metrics)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DepthProbe = Callable[[], Awaitable[tuple[int, datetime | None]]]


class _OutboxCollector(Collector):
    """Outbox depth and age, read from the last probe (refreshed before each scrape)."""

    def __init__(self) -> None:
        self.depth = 0
        self.oldest: datetime | None = None

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "frakturkedjan_outbox_depth", "Deliveries waiting in the outbox", value=self.depth
        )
        age = 0.0
        if self.oldest is not None:
            age = max(0.0, time.time() - self.oldest.timestamp())
        yield GaugeMetricFamily(
            "frakturkedjan_outbox_oldest_age_seconds",
            "Age of the oldest waiting delivery",
            value=age,
        )


class Metrics:
    """Counters and histograms of the product; one instance per app.

    The outbox worker's own (sends, retries, throttling, send latency) are on a registry of
    their own, `worker_registry`: with the worker in a process of its own
    (`bot.outbox.child`), `/metrics` shows that process's instead (`render(worker_text=…)`).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.worker_registry = CollectorRegistry()
        r = self.registry
        w = self.worker_registry
        self.answers = Counter(
            "frakturkedjan_answers_received",
            "DXA answers received, by outcome (created, duplicate, correction, rejected)",
            ["outcome"],
            registry=r,
        )
        self.decisions = Counter(
            "frakturkedjan_decisions", "Decisions recorded, by kind", ["kind"], registry=r
        )
        self.refused = Counter(
            "frakturkedjan_refused_actions",
            "Card actions refused or answered with an error, by verb",
            ["verb"],
            registry=r,
        )
        self.sends = Counter(
            "frakturkedjan_outbox_sends", "Sends to Teams, by result", ["result"], registry=w
        )
        self.retries = Counter(
            "frakturkedjan_outbox_retries", "Sends scheduled for a retry", registry=w
        )
        self.throttled = Counter(
            "frakturkedjan_outbox_throttled", "Sends answered 429 by Teams", registry=w
        )
        self.gave_way = Counter(
            "frakturkedjan_outbox_gave_way",
            "Times the worker slowed its sends to 5 a second while serve was busy answering",
            registry=w,
        )
        self.send_latency = Histogram(
            "frakturkedjan_outbox_send_seconds",
            "Latency of one send to the Bot Connector",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=w,
        )
        self._outbox = _OutboxCollector()
        r.register(self._outbox)

    async def render(
        self, probe: DepthProbe | None = None, *, worker_text: bytes | None = None
    ) -> bytes:
        """The exposition of both registries; `worker_text` stands in for the worker's
        (the last snapshot of a worker process, `bot.outbox.child`)."""
        if probe is not None:
            self._outbox.depth, self._outbox.oldest = await probe()
        worker = self.worker_text() if worker_text is None else worker_text
        return bytes(generate_latest(self.registry)) + worker

    def worker_text(self) -> bytes:
        """The outbox worker's metrics, as Prometheus text."""
        return bytes(generate_latest(self.worker_registry))
