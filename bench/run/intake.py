"""Measurement 2, intake: FHIR bundles with unique identifiers, 16 concurrent senders."""

from __future__ import annotations

from typing import Any

from bench.loadgen import Request, run_load
from bench.run.directory import PHYSICIANS
from bench.run.legs import Leg, park_outbox
from bench.run.payloads import Bundles, created_cases, intake_request, is_created
from bench.run.processes import cpu_meter


async def intake_run(leg: Leg, run: int) -> dict[str, Any]:
    """One timed intake phase; the cases it creates are the fresh cases of the clicks."""
    plan = leg.plan
    bundles = Bundles()
    tag = leg.tag("intake")

    def batch(label: str, count: int) -> list[Request]:
        return [
            intake_request(leg.bot_url, bundles, f"{tag}-{label}-{i:06d}", PHYSICIANS[i % 16])
            for i in range(count)
        ]

    warm, timed = batch("w", plan.warmup), batch("t", plan.intake)
    await park_outbox(leg)
    await run_load(warm, concurrency=plan.concurrency, check=is_created, keep_answers=True)
    assert leg.bot is not None
    cpu: dict[str, Any] = {}
    async with leg.profiler.record(leg.bot.pid, f"{leg.name}-intake-run{run}"):
        with cpu_meter(cpu, "bot_", leg.bot.pid, worker=True):
            result = await run_load(
                timed,
                concurrency=plan.concurrency,
                check=is_created,
                keep_answers=True,
                max_seconds=plan.phase_max_s,
            )
    leg.pool.extend(created_cases(result.answers))
    figures: dict[str, Any] = {"run": run, **result.figures(), **cpu}
    if result.failure_samples:
        figures["failure_samples"] = result.failure_samples
    return figures
