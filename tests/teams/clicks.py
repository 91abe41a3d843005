"""Card clicks of any shape through the real `POST /api/messages` of the product.

`product(db_url)` runs the app in local mode on a free port without the outbox worker and
the daily jobs, so that the rows a click records are the only rows that change.
`world(factory)` makes the cases a click can act on, through the services; `recorded`
reads every row a click could add or change.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.cases.models import Case, CaseEvent, Decision
from bot.core.calendar import STOCKHOLM, local_date
from bot.db import transaction, utcnow
from bot.directory.actor import Actor
from bot.directory.service import staff_by_aad
from bot.flows import complete_task, decide
from bot.flows.result import Done
from bot.outbox.models import OutboxMessage
from bot.state import STATE, AppState
from bot.tasks.models import Task
from bot.visits.models import Visit
from tests.harness import ANNA, BOT_ID, ERIK, MARIA, TENANT, settings_for
from tests.helpers import ingest_sample

Person = dict[str, str]


@dataclass
class Product:
    """The running app: `click` posts one `adaptiveCard/action` invoke as Teams would."""

    http: aiohttp.ClientSession
    url: str
    state: AppState

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        # json.dumps escapes lone surrogates (\\ud800), so any str can be sent
        body = json.dumps(activity)
        headers = {"Content-Type": "application/json"}
        async with self.http.post(f"{self.url}/api/messages", data=body, headers=headers) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text) if text else None
            except ValueError:
                return r.status, text

    async def click(
        self, value: Any, *, person: Person = ANNA, aad: Any = None, **extra: Any
    ) -> tuple[int, Any]:
        """Post an invoke whose `value` is exactly `value`; `aad` replaces the clicker's
        `aadObjectId` when given."""
        return await self.post(invoke(value, person=person, aad=aad, **extra))

    async def act(self, verb: Any, data: Any, *, person: Person = ANNA) -> tuple[int, Any]:
        """A click on an `Action.Execute` with `verb` and `data`."""
        action = {"type": "Action.Execute", "verb": verb, "data": data}
        return await self.click({"action": action, "trigger": "manual"}, person=person)


def invoke(value: Any, *, person: Person = ANNA, aad: Any = None, **extra: Any) -> dict[str, Any]:
    """An `adaptiveCard/action` invoke in the personal chat of `person`."""
    activity: dict[str, Any] = {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": "f:1",
        "channelId": "msteams",
        "serviceUrl": "http://127.0.0.1:9/",
        "timestamp": "2026-11-21T10:00:00Z",
        "from": {
            "id": person["id"],
            "name": person["name"],
            "aadObjectId": person["aad"] if aad is None else aad,
        },
        "conversation": {
            "id": f"a:personal-{person['aad'][-3:]}",
            "conversationType": "personal",
            "tenantId": TENANT,
        },
        "recipient": {"id": BOT_ID, "name": "Frakturkedjan"},
        "channelData": {"tenant": {"id": TENANT}},
        "value": value,
    }
    activity.update(extra)
    return activity


@asynccontextmanager
async def product(db_url: str) -> AsyncIterator[Product]:
    app = create_app(settings_for(db_url), local=True, run_worker=False, run_daily_jobs=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Product(http, str(server.make_url("")).rstrip("/"), app[STATE])
    finally:
        await server.close()


@dataclass(frozen=True)
class World:
    """`undecided`: a case awaiting Anna's decision (version 1). `booked`: a call-in
    decided by Anna, its visit with Erik booked a week ahead (`booking`: that task, done
    by Maria); `task`: one of its open tasks, for Maria (MVA). `unassigned`: a case
    awaiting assignment (version 1)."""

    undecided: int
    booked: int
    task: int
    booking: int
    unassigned: int


async def world(factory: async_sessionmaker[AsyncSession]) -> World:
    now = utcnow()
    undecided = await ingest_sample(factory, "01_osteoporosis_named.json", now=now)
    booked = await ingest_sample(factory, "02_normal_named.json", now=now)
    unassigned = await ingest_sample(factory, "03_osteopenia_jour_vc.json", now=now)
    async with transaction(factory) as session:
        anna = await staff_by_aad(session, ANNA["aad"])
        decided = await decide.decide_case(
            session,
            case_id=booked,
            version=1,
            decision="call_in",
            note=None,
            visit_physician_aad=ERIK["aad"],
            reassign_to_aad=None,
            actor=Actor.clicker(anna, ANNA["aad"]),
            now=now,
        )
        assert isinstance(decided, Done) and decided.tasks, decided
        booking = next(t for t in decided.tasks if t.kind == "book_visit")
        other = next(t for t in decided.tasks if t.kind != "book_visit" and t.status == "open")
    at = datetime.combine(local_date(now) + timedelta(days=7), time(10, 0), tzinfo=STOCKHOLM)
    async with transaction(factory) as session:
        maria = await staff_by_aad(session, MARIA["aad"])
        done = await complete_task.complete_task(
            session,
            task_id=booking.id,
            note=None,
            booked_at=at,
            actor=Actor.clicker(maria, MARIA["aad"]),
            now=now,
        )
        assert isinstance(done, Done), done
    return World(
        undecided=undecided,
        booked=booked,
        task=other.id,
        booking=booking.id,
        unassigned=unassigned,
    )


TABLES = (Case, Decision, Task, Visit, CaseEvent, OutboxMessage)


async def recorded(factory: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a click records into (the audit log aside)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with factory() as session:
        for model in TABLES:
            table = model.__table__
            rows = await session.execute(select(table).order_by(*table.primary_key.columns))
            found[table.name] = [tuple(row) for row in rows]
    return found
