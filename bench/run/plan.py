"""How much work a run does (full or quick mode), and the targets (issue 15)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """How much work each run does."""

    runs: int
    clicks: int  # timed case.decide invokes per run
    intake: int  # timed bundles per run
    warmup: int  # untimed requests before each timed phase
    cards: int  # cards per delivery run
    conversations: int = 40
    concurrency: int = 16
    fault_rate: float = 0.05
    phase_max_s: float = 15.0  # no request of a timed phase starts after this
    budget_s: float = 840.0  # the whole bench stops (and cleans up) after this


FULL = Plan(runs=3, clicks=960, intake=2400, warmup=64, cards=2000)
QUICK = Plan(runs=1, clicks=320, intake=640, warmup=32, cards=500, phase_max_s=8.0, budget_s=175.0)


@dataclass(frozen=True)
class Targets:
    """The targets of issue 15 (bench/README.md gives each its measurement): the click's
    throughput against the same run's stock echo bot, per database."""

    click_ratio_postgresql: float = 1.5
    click_ratio_sqlite: float = 1.3
    click_p99_ms: float = 100.0
    intake_rate: float = 250.0
    intake_p99_ms: float = 150.0
    delivery_factor: float = 1.1
    delivery_429_share: float = 0.01
    rss_mb: float = 150.0

    def click_ratio(self, leg: str) -> float:
        """The click's throughput target for a leg or database (``sqlite-agents``,
        ``postgresql``…), as a multiple of the stock echo bot's."""
        if leg.startswith("sqlite"):
            return self.click_ratio_sqlite
        return self.click_ratio_postgresql


TARGETS = Targets()
