"""`create_app(settings)`: the aiohttp application. Wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError

from bot.api import cases as cases_api
from bot.api import intake as intake_api
from bot.api.openapi import openapi_document
from bot.config import Settings
from bot.db import create_engine, session_factory, utcnow
from bot.jobs.checklists import send_due_checklists
from bot.jobs.scheduler import Scheduler
from bot.legal.pages import privacy_page, terms_page
from bot.metrics import CONTENT_TYPE
from bot.outbox import service as outbox_service
from bot.outbox.child import WorkerChild
from bot.outbox.sending import Sender
from bot.outbox.worker import OutboxWorker
from bot.preflight import SchemaWatch, check_registration
from bot.reports.page import report_page
from bot.state import STATE, AppState
from bot.teams.connector import ConnectorClient
from bot.teams.runtime import create_endpoint
from bot.worker_process import outbox_worker, registration

log = logging.getLogger("frakturkedjan.app")
access_log = logging.getLogger("frakturkedjan.http")


@web.middleware
async def request_log(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """One JSON log line per request: method, path (ids only, no query), status, time."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


async def periodic_jobs(state: AppState, interval: float, stopped: asyncio.Event) -> None:
    """Time-driven work, in every process (each job claims its rows or its day itself).
    Returns once `stopped` is set, between two passes: never inside a transaction, so no
    connection is left holding a lock at shutdown."""
    while not stopped.is_set():
        try:
            if await send_due_checklists(state.factory, now=state.clock()):
                state.wake_outbox()
        except Exception:  # a database restart must not end the loop
            log.exception("periodic job failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), timeout=interval)


@web.middleware
async def counted(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The request counted in flight while it is answered (`InFlight`)."""
    in_flight = request.app[STATE].in_flight
    in_flight.enter()
    try:
        return await handler(request)
    finally:
        in_flight.leave()


@web.middleware
async def database_unavailable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A database that does not answer is a 503 the sender can retry, never a bare 500."""
    try:
        return await handler(request)
    except (DBAPIError, OSError, TimeoutError) as exc:
        if isinstance(exc, IntegrityError | ProgrammingError | DataError):
            raise  # a fault of ours, not an outage: a 500 and a logged traceback
        log.error("database unavailable", extra={"path": request.path, "error": type(exc).__name__})
        return web.json_response(
            {
                "error": "service unavailable",
                "problems": [{"path": "$", "message": "the database is unavailable; retry later"}],
            },
            status=503,
            headers={"Retry-After": "30"},
        )


def create_app(
    settings: Settings,
    *,
    local: bool = False,
    sender: Sender | None = None,
    run_worker: bool = True,
    worker_child: WorkerChild | None = None,
    run_daily_jobs: bool | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """Build the service. `sender` replaces the Teams connector client (tests, benchmark).

    The outbox worker runs in this process (`run_worker`), or in the process `worker_child`
    starts, wakes and stops with the application (`bot.outbox.child`; `run_worker` is then
    not looked at).

    The daily digest and reminders run by default outside local mode (`run_daily_jobs`);
    locally, `frakturkedjan remind --now` sends them.

    Raises `PreflightError` for incomplete registration settings (`check_registration`:
    outside local mode `MicrosoftAppId` and `ALLOWED_TENANTS` are required) and for a
    Teams runtime (`TEAMS_SDK`, `bot.teams.runtime`) whose SDK is not installed.

    `/readyz` answers 503 and the background loops pause while the database's schema is
    not this version's (`SchemaWatch`); `frakturkedjan serve` refuses to start on such a
    database in the first place.
    """
    check_registration(settings, local=local)
    engine = create_engine(settings.database_url)
    schema = SchemaWatch(engine)
    state = AppState(settings=settings, engine=engine, factory=session_factory(engine), clock=clock)
    endpoint = create_endpoint(
        settings.teams_sdk,
        registration(settings, local=local),
        factory=state.factory,
        on_change=state.wake_outbox,
        clock=clock,
        metrics=state.metrics,
    )

    app = web.Application(
        client_max_size=6 * 1024 * 1024, middlewares=[counted, request_log, database_unavailable]
    )
    app[STATE] = state

    async def messages(request: web.Request) -> web.Response:
        return await endpoint.process(request)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        try:
            async with engine.connect() as connection:
                # one statement a call; every SCHEMA_CHECK_SECONDS the schema's revision
                # is read instead of SELECT 1
                if schema.due():
                    await asyncio.wait_for(schema.check(connection), timeout=5)
                else:
                    await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=5)
        except Exception as exc:  # any failure means not ready
            log.warning("database not reachable", extra={"error": type(exc).__name__})
            return web.json_response({"status": "database unreachable"}, status=503)
        if schema.problem is not None:
            return web.json_response(
                {"status": "database schema not current", "problem": schema.problem}, status=503
            )
        return web.json_response({"status": "ready"})

    app.router.add_post("/api/messages", messages)
    app.router.add_post("/api/dxa-answers", intake_api.post_dxa_answer)
    app.router.add_get("/api/cases", cases_api.list_cases)
    app.router.add_get("/api/cases/{case_id}", cases_api.get_case)

    async def metrics(_request: web.Request) -> web.Response:
        async def probe() -> tuple[int, datetime | None]:
            async with state.factory() as session:
                return await outbox_service.depth(session)

        worker_text = worker_child.metrics_text if worker_child is not None else None
        try:
            body = await state.metrics.render(probe, worker_text=worker_text)
        except Exception:  # the counters still answer when the database does not
            log.warning("outbox depth unavailable for /metrics")
            body = await state.metrics.render(worker_text=worker_text)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/reports/quality", report_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi_document)
    app.router.add_get("/privacy", privacy_page)
    app.router.add_get("/terms", terms_page)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        connector: ConnectorClient | None = None
        worker_task: asyncio.Task[None] | None = None
        worker: OutboxWorker | None = None
        await endpoint.prefetch()  # the channel's keys, not on the first request's time
        if worker_child is not None:
            await worker_child.start()
            state.wakers.append(worker_child.wake)
            state.in_flight.listeners.append(worker_child.give_way)
        elif run_worker:
            used: Sender
            if sender is not None:
                used = sender
            else:
                connector = ConnectorClient(token_provider=endpoint.token_provider())
                used = connector
            worker = outbox_worker(settings, state.factory, used, state.metrics, clock)
            state.wakers.append(worker.wake)
            state.in_flight.listeners.append(worker.give_way)
            worker_task = asyncio.create_task(
                schema.run_while_current(worker.run), name="outbox-worker"
            )
        daily: Scheduler | None = None
        daily_task: asyncio.Task[None] | None = None
        if run_daily_jobs if run_daily_jobs is not None else not local:
            daily = Scheduler(
                state.factory,
                interval_seconds=settings.jobs_poll_seconds,
                clock=clock,
                on_sent=state.wake_outbox,
            )
            daily_task = asyncio.create_task(
                schema.run_while_current(daily.run), name="daily-digest"
            )
        jobs_stopped = asyncio.Event()
        jobs_task = asyncio.create_task(
            schema.run_while_current(
                lambda: periodic_jobs(state, settings.jobs_poll_seconds, jobs_stopped)
            ),
            name="periodic-jobs",
        )
        yield
        schema.close()  # loops paused for the schema end now; the others below
        if daily is not None and daily_task is not None:
            daily.stop()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(daily_task, timeout=10)
        jobs_stopped.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(jobs_task, timeout=10)
        if worker is not None and worker_task is not None:
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(worker_task, timeout=10)
        if worker_child is not None:
            await worker_child.stop()
        if connector is not None:
            await connector.close()
        await endpoint.close()
        await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    return app
