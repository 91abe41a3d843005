"""When the daily jobs run: a loop in every `serve` process, and `frakturkedjan remind`.

Every process may run the loop against the same database: `run_daily` claims each unit's
digest and each physician's reminder once per day (see `bot.jobs.service`), so the first
process to wake after a unit's `digest_time` sends and the others find the claim.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, session_factory, utcnow
from bot.jobs.service import DailyResult, run_daily
from bot.preflight import check_schema

__all__ = ["DEFAULT_INTERVAL_SECONDS", "Scheduler", "describe", "remind_now"]

log = logging.getLogger("frakturkedjan.jobs")

DEFAULT_INTERVAL_SECONDS = 60.0

DailyJob = Callable[..., Awaitable[DailyResult]]


class Scheduler:
    """Calls `run_daily` with the current time every `interval_seconds` until `stop()`.

    A failing pass (database down, a bug) is logged and the loop carries on; `on_sent`
    is called after a pass that put cards in the outbox (to wake the outbox worker).
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = utcnow,
        on_sent: Callable[[], None] | None = None,
        job: DailyJob = run_daily,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self._factory = factory
        self._interval = interval_seconds
        self._clock = clock
        self._on_sent = on_sent
        self._job = job
        self._stop = asyncio.Event()
        self.passes = 0

    def stop(self) -> None:
        """End `run()` after the pass in progress, if any."""
        self._stop.set()

    async def run(self) -> None:
        """Run passes until `stop()`: one at once, then one every `interval_seconds`."""
        while not self._stop.is_set():
            await self.run_once()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self._interval)
            except TimeoutError:
                pass

    async def run_once(self) -> DailyResult | None:
        """One pass; None when it failed (logged)."""
        self.passes += 1
        try:
            result = await self._job(self._factory, now=self._clock())
        except Exception:  # the loop must outlive a database restart or a bad setting
            log.exception("daily jobs pass failed; trying again at the next wake")
            return None
        if result.sent or result.failed:
            log.info(
                "daily jobs",
                extra={
                    "day": result.day.isoformat(),
                    "digests_sent": result.digests_sent,
                    "reminders_sent": result.reminders_sent,
                    "failed": result.failed,
                },
            )
        if result.sent and self._on_sent is not None:
            self._on_sent()
        return result


async def remind_now(database_url: str, *, force_time: bool, now: datetime | None = None) -> int:
    """`frakturkedjan remind [--now]`: one pass of the daily jobs, printing what it sent.

    With `force_time` the units' `digest_time` is not waited for. Idempotent for the day:
    a second call sends nothing. Returns the exit status (1 when a scope failed). Raises
    `PreflightError` when the database does not answer or lacks the current schema.
    """
    engine = create_engine(database_url)
    try:
        await check_schema(engine)
        result = await run_daily(
            session_factory(engine), now=now or utcnow(), force_time=force_time
        )
    finally:
        await engine.dispose()
    print(describe(result))
    return 1 if result.failed else 0


def describe(result: DailyResult) -> str:
    """A few lines for an operator, without patient data."""
    if not result.working_day:
        return f"{result.day.isoformat()} is not a working day: nothing sent"
    if not result.units_due:
        return (
            f"{result.day.isoformat()}: no unit has reached its digest time yet: nothing sent "
            "(--now sends at once)"
        )
    lines = [f"sent: {line}" for line in result.sent]
    lines.append(
        f"{result.day.isoformat()}: {result.digests_sent} digest(s) and "
        f"{result.reminders_sent} reminder(s) sent; {result.digests_skipped} digest(s) and "
        f"{result.reminders_skipped} reminder(s) skipped (already sent today, no MVA "
        "channel, or nothing to remind about)"
        + (f"; {result.failed} failed (see the log)" if result.failed else "")
    )
    return "\n".join(lines)
