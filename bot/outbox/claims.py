"""Claims on outbox rows: leases taken in one statement, renewed while held, given back.

A worker claims due rows in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the
write lock on SQLite), writing `lease_until` = now + the lease. The value written is the
worker's token for the row: a claim by anyone else writes its own value, so while the row
still holds this worker's value no other worker has claimed it. While a worker holds rows
(queued or being sent) it renews all of them every quarter lease, in one UPDATE that
matches the tokens and returns the rows it still holds (no statement per row). A row whose
lease lapsed is claimable by anyone: after kill -9 of a process, another or a restarted one
sends what it had claimed one lease and one poll later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, Update, and_, bindparam, func, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import UTCDateTime, transaction, utcnow
from bot.outbox.models import OutboxMessage, locked_in_id_order
from bot.outbox.routing import CLAIMED_COLUMNS

__all__ = ["Leases", "database_unreachable"]

log = logging.getLogger("frakturkedjan.outbox")


def database_unreachable(error: BaseException) -> bool:
    """The database did not answer (connection lost or refused, timeout), as opposed to
    refusing the statement: worth trying again."""
    if isinstance(error, sa_exc.IntegrityError | sa_exc.ProgrammingError | sa_exc.DataError):
        return False
    return isinstance(error, sa_exc.DBAPIError | sa_exc.TimeoutError | OSError | TimeoutError)


class Leases:
    """The rows one worker holds, each with the lease value it last wrote (its token).

    A row is held from its claim until it is recorded (`drop`), given back (`release`)
    or left to lapse (`forget`), or until a renewal finds that another worker took it.
    `held` is the bookkeeping itself: row id -> the `lease_until` this worker last wrote.
    """

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], *, seconds: float, batch: int
    ) -> None:
        self.seconds = seconds
        self.held: dict[int, datetime] = {}
        self._factory = factory
        self._lease = timedelta(seconds=seconds)
        self._batch = batch
        self._renewing: datetime | None = None  # the value of a renewal under way
        self._claiming = _claiming(batch)  # built once: a claim runs every few clicks
        self._rows: dict[int, Row[Any]] = {}  # claimed rows as claimed, until `taken`

    async def claim(self) -> list[int]:
        """Lease the first due rows, in one statement; their ids in outbox order.

        A row is due when its time has come, no live lease holds it, and no earlier pending
        row of the same target waits for a retry (so a conversation keeps its order).
        """
        now = utcnow()
        until = now + self._lease
        async with transaction(self._factory) as session:
            rows = (await session.execute(self._claiming, {"now": now, "until": until})).all()
        claimed = sorted(row.id for row in rows)
        self._rows.update((row.id, row) for row in rows)
        for message_id in claimed:
            self.held[message_id] = until
        return claimed

    def taken(self, ids: list[int]) -> dict[int, Row[Any]]:
        """The rows `claim` returned for these ids (`routing.CLAIMED_COLUMNS`), handed over
        once: the worker resolves them without reading them again."""
        return {i: row for i in ids if (row := self._rows.pop(i, None)) is not None}

    async def keep_renewed(
        self, ended: asyncio.Event, renew: Callable[[], Awaitable[None]]
    ) -> None:
        """Call `renew` every quarter lease while rows are held, until `ended` is set.

        A failed renewal is logged and tried again at the next turn; meanwhile the leases
        run down, and the senders stop before they lapse.
        """
        while not ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), timeout=self.seconds / 4)
            if ended.is_set() or not self.held:
                continue
            try:
                await renew()
            except Exception as exc:
                if not database_unreachable(exc):
                    log.exception("outbox lease renewal failed; will retry")
                else:
                    log.warning(
                        "outbox lease renewal failed: database unreachable; will retry",
                        extra={"error": type(exc).__name__, "held": len(self.held)},
                    )

    async def renew(self) -> None:
        """Extend the lease of every row held, in one UPDATE; drop the rows no longer ours."""
        held = dict(self.held)
        until = utcnow() + self._lease
        self._renewing = until
        try:
            async with transaction(self._factory) as session:
                rows = await session.scalars(
                    _RENEW,
                    {"ids": list(held), "tokens": list(set(held.values())), "until": until},
                )
                kept = set(rows.all())
            lost = 0
            for message_id, token in held.items():
                if self.held.get(message_id) != token:
                    continue  # recorded, released or forgotten meanwhile
                if message_id in kept:
                    self.held[message_id] = until
                else:  # another worker claimed it after our lease lapsed, or it was recorded
                    del self.held[message_id]
                    lost += 1
        finally:
            self._renewing = None
        if lost:
            log.warning("outbox rows no longer held after their lease", extra={"rows": lost})

    async def release(self, ids: list[int]) -> None:
        """Give rows back unsent: claimable at once (each at its `next_attempt_at`)."""
        mine = [message_id for message_id in ids if message_id in self.held]
        if not mine:
            return
        tokens = self.tokens(mine)
        for message_id in mine:
            del self.held[message_id]
        async with transaction(self._factory) as session:
            await session.execute(_RELEASE, {"ids": mine, "tokens": list(tokens)})

    def forget(self, ids: list[int]) -> None:
        """Stop holding rows without writing to the database: their leases lapse."""
        for message_id in ids:
            self.held.pop(message_id, None)
        log.warning("outbox rows left to their leases", extra={"rows": len(ids)})

    def drop(self, message_id: int) -> None:
        """Stop holding a row whose outcome was written (its lease cleared with it)."""
        self.held.pop(message_id, None)

    def tokens(self, ids: list[int]) -> set[datetime]:
        """The lease values that show these rows are still this worker's."""
        tokens = {self.held[i] for i in ids if i in self.held}
        if self._renewing is not None:
            tokens.add(self._renewing)
        return tokens

    def left(self, message_id: int) -> float | None:
        """Seconds until the row's lease lapses, by this worker's last write; None when the
        worker does not hold the row."""
        until = self.held.get(message_id)
        return None if until is None else (until - utcnow()).total_seconds()


# The statements, built once with their values as parameters (building the claim's took
# longer than running it).


def _claiming(batch: int) -> Update:
    """The claim of `Leases.claim` for batches of `batch` rows; parameters `now`, `until`.
    A Core statement on the table: the ORM has nothing to do in it."""
    now = bindparam("now", type_=UTCDateTime)
    outbox = cast(Table, OutboxMessage.__table__)
    row, retried = outbox.alias(), outbox.alias()
    # the targets with a row waiting for its retry, and their first such row: few rows,
    # read through the index on next_attempt_at and joined once (not once per row)
    waiting = (
        select(retried.c.target_kind, retried.c.target, func.min(retried.c.id).label("first_id"))
        .where(retried.c.next_attempt_at > now, retried.c.status == "pending")
        .group_by(retried.c.target_kind, retried.c.target)
        .subquery("waiting")
    )
    due = (
        select(row.c.id)
        .outerjoin(
            waiting,
            and_(
                waiting.c.target_kind == row.c.target_kind,
                waiting.c.target == row.c.target,
                waiting.c.first_id < row.c.id,
            ),
        )
        .where(
            row.c.status == "pending",
            row.c.next_attempt_at <= now,
            or_(row.c.lease_until.is_(None), row.c.lease_until < now),
            waiting.c.first_id.is_(None),
        )
        .order_by(row.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True, of=row)
    )
    return (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(lease_until=bindparam("until", type_=UTCDateTime))
        .returning(*(outbox.c[column.key] for column in CLAIMED_COLUMNS))
    )


def _held(*, ids: str, tokens: str) -> ColumnElement[bool]:
    """Rows `ids` whose lease is still one of `tokens` (parameter names, lists), locked in
    id order (`locked_in_id_order`)."""
    return locked_in_id_order(
        lambda row: and_(
            row.id.in_(bindparam(ids, expanding=True)),
            row.lease_until.in_(bindparam(tokens, expanding=True, type_=UTCDateTime)),
        )
    )


# parameters `ids`, `tokens`, `until`
_RENEW = (
    update(OutboxMessage)
    .where(_held(ids="ids", tokens="tokens"))
    .values(lease_until=bindparam("until", type_=UTCDateTime))
    .returning(OutboxMessage.id)
    .execution_options(synchronize_session=False)
)
# parameters `ids`, `tokens`
_RELEASE = (
    update(OutboxMessage)
    .where(_held(ids="ids", tokens="tokens"))
    .values(lease_until=None)
    .execution_options(synchronize_session=False)
)
