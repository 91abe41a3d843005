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
    """Counters and histograms of the product; one instance per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
            "frakturkedjan_outbox_sends", "Sends to Teams, by result", ["result"], registry=r
        )
        self.retries = Counter(
            "frakturkedjan_outbox_retries", "Sends scheduled for a retry", registry=r
        )
        self.throttled = Counter(
            "frakturkedjan_outbox_throttled", "Sends answered 429 by Teams", registry=r
        )
        self.send_latency = Histogram(
            "frakturkedjan_outbox_send_seconds",
            "Latency of one send to the Bot Connector",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self._outbox = _OutboxCollector()
        r.register(self._outbox)

    async def render(self, probe: DepthProbe | None = None) -> bytes:
        if probe is not None:
            self._outbox.depth, self._outbox.oldest = await probe()
        return bytes(generate_latest(self.registry))
