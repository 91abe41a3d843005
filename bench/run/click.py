"""Measurement 1, the decision click: ``case.decide`` invokes on fresh cases, 16 concurrent
clients, against the stock echo bot answering the same invokes in the same run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bench.loadgen import Request, run_load
from bench.run.directory import PHYSICIANS
from bench.run.legs import Leg, park_outbox, wait_worker_idle
from bench.run.payloads import (
    DECISIONS,
    Bundles,
    click_body,
    created_cases,
    intake_request,
    is_card_answer,
    is_created,
)
from bench.run.processes import cpu_meter
from bot.cases.models import Case, Decision


async def fresh_cases(leg: Leg, count: int) -> list[tuple[int, int]]:
    """`count` fresh cases awaiting decision: (case id, physician index).

    Taken from the cases the intake phases created (never clicked before); when those are
    too few, more bundles are posted to the intake first (untimed).
    """
    missing = count - len(leg.pool)
    if missing > 0:
        bundles = Bundles()
        tag = leg.tag("preload")
        requests = [
            intake_request(leg.bot_url, bundles, f"{tag}-{i:06d}", PHYSICIANS[i % 16])
            for i in range(missing)
        ]
        result = await run_load(
            requests, concurrency=leg.plan.concurrency, check=is_created, keep_answers=True
        )
        if result.failures:
            raise RuntimeError(f"preloading cases failed: {result.failure_samples}")
        leg.pool.extend(created_cases(result.answers))
    taken, leg.pool = leg.pool[:count], leg.pool[count:]
    return taken


async def click_run(leg: Leg, run: int, echo_url: str, echo_pid: int) -> dict[str, Any]:
    """One timed click phase: the echo bot first, then the bot, on the same invokes."""
    plan = leg.plan
    assert leg.teams is not None and leg.bot is not None
    service_url = leg.connector.url(leg.teams.name)
    cases = await fresh_cases(leg, plan.warmup + plan.clicks)
    cases.sort(key=lambda item: item[0])
    # interleave the physicians so that the 16 clients click for different people
    by_physician: dict[int, list[int]] = {}
    for case_id, physician in cases:
        by_physician.setdefault(physician, []).append(case_id)
    ordered: list[tuple[int, int]] = []
    while any(by_physician.values()):
        for physician in sorted(by_physician):
            if by_physician[physician]:
                ordered.append((by_physician[physician].pop(0), physician))
    bodies = [
        (case_id, click_body(service_url, PHYSICIANS[p], case_id, DECISIONS[n % 4], n))
        for n, (case_id, p) in enumerate(ordered)
    ]
    headers = {"Content-Type": "application/json"}

    def requests(url: str, part: list[tuple[int, bytes]]) -> list[Request]:
        return [Request(url, body, headers, tag=case_id) for case_id, body in part]

    warm, timed = bodies[: plan.warmup], bodies[plan.warmup :]
    await park_outbox(leg)
    idle_wait = await wait_worker_idle(leg, within_s=45.0)
    # the stock echo bot, same invokes, same concurrency, just before
    echo = f"{echo_url}/api/messages"
    await run_load(requests(echo, warm), concurrency=plan.concurrency, check=is_card_answer)
    cpu: dict[str, Any] = {}
    with cpu_meter(cpu, "baseline_", echo_pid):
        baseline = await run_load(
            requests(echo, timed),
            concurrency=plan.concurrency,
            check=is_card_answer,
            max_seconds=plan.phase_max_s,
        )
    bot = f"{leg.bot_url}/api/messages"
    await run_load(requests(bot, warm), concurrency=plan.concurrency, check=is_card_answer)
    async with leg.profiler.record(leg.bot.pid, f"{leg.name}-click-run{run}"):
        with cpu_meter(cpu, "bot_", leg.bot.pid, worker=True):
            result = await run_load(
                requests(bot, timed),
                concurrency=plan.concurrency,
                check=is_card_answer,
                keep_answers=True,
                max_seconds=plan.phase_max_s,
            )
    clicked = [case_id for case_id, _status, _body in result.answers]
    decided = await count_decided(leg, clicked)
    figures: dict[str, Any] = {
        "run": run,
        **result.figures(),
        "decisions_recorded": decided,
        "idle_wait_s": round(idle_wait, 1),
        **cpu,
        "baseline": baseline.figures(),
        "ratio": round(result.throughput / baseline.throughput, 2) if baseline.throughput else None,
    }
    if decided != len(clicked):
        figures["failures"] = max(int(figures["failures"]), len(clicked) - decided)
    if result.failure_samples:
        figures["failure_samples"] = result.failure_samples
    if baseline.failure_samples:
        figures["baseline_failure_samples"] = baseline.failure_samples
    return figures


async def count_decided(leg: Leg, case_ids: list[int]) -> int:
    """How many of these cases now hold a decision and are in state `decided`."""
    total = 0
    async with leg.db() as session:
        for start in range(0, len(case_ids), 500):
            chunk = case_ids[start : start + 500]
            total += int(
                await session.scalar(
                    select(func.count(Decision.id))
                    .join(Case, Case.id == Decision.case_id)
                    .where(Decision.case_id.in_(chunk), Case.state == "decided")
                )
                or 0
            )
    return total
