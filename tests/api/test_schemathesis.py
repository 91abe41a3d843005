"""Schemathesis against the running app, from the shipped OpenAPI document (SQLite).

The real app (`create_app(..., local=True, run_worker=False)`) runs on 127.0.0.1 and a free
port in a thread with its own event loop, on a migrated database with the sample directory
and three cases (one decided with tasks, one closed, one awaiting assignment). Every
operation but the Bot Framework endpoint is called with generated requests (valid and
invalid) and the bearer tokens of the document's security schemes; each answer must not be
a 5xx, must match the document (status code, content type, headers, body schema), and an
operation with a security scheme must refuse the request without its token.

Bounded and reproducible: the document's examples, Schemathesis' coverage cases (each
parameter and each property of the intake body at its boundaries and with wrong types),
then generated examples (50 per read operation, 25 for the intake); derandomized, no
example database. About 30–45 s on two cores, most of it the ~2,000 coverage cases of the
intake body.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from bot.api.openapi import DOCUMENT_PATH
from bot.app import create_app
from bot.config import Settings
from bot.db import create_engine, session_factory, transaction
from bot.directory.actor import Actor
from bot.directory.service import load_directory, staff_by_aad
from bot.flows import complete_task, decide
from bot.flows.result import Done
from bot.tasks import queries as task_queries
from tests.helpers import FIXTURES, ingest_sample

INTAKE_TOKEN = "schemathesis-intake-token"
REPORT_TOKEN = "schemathesis-report-token"
ANNA = "00000000-0000-0000-0000-000000000101"
SEEDED_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

CONFIG = SchemathesisConfig.from_dict(
    {
        "auth": {
            "openapi": {
                "intakeToken": {"bearer": INTAKE_TOKEN},
                "reportToken": {"bearer": REPORT_TOKEN},
            }
        },
        "generation": {"database": "none"},
    }
)
schema = schemathesis.openapi.from_path(DOCUMENT_PATH, config=CONFIG)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.ignored_auth,
]


def bounded(max_examples: int) -> Any:
    """Hypothesis settings: `max_examples` per operation, reproducible, nothing stored."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


async def _seed(database_url: str) -> None:
    """The sample directory, and cases in three states (decided, closed, awaiting assignment)."""
    engine = create_engine(database_url)
    factory = session_factory(engine)
    try:
        async with transaction(factory) as session:
            await load_directory(
                session, (FIXTURES / "directory.yaml").read_text(encoding="utf-8"), actor="test"
            )
        decided = await ingest_sample(factory, "01_osteoporosis_named.json", now=SEEDED_AT)
        closed = await ingest_sample(factory, "02_normal_named.json", now=SEEDED_AT)
        await ingest_sample(factory, "03_osteopenia_jour_vc.json", now=SEEDED_AT)
        for case_id, decision in ((decided, "call_in"), (closed, "normal_call")):
            async with transaction(factory) as session:
                anna = await staff_by_aad(session, ANNA)
                outcome = await decide.decide_case(
                    session,
                    case_id=case_id,
                    version=1,
                    decision=decision,
                    note="Schemathesis",
                    visit_physician_aad=None,
                    reassign_to_aad=None,
                    actor=Actor.clicker(anna, ANNA),
                    now=SEEDED_AT,
                )
                assert isinstance(outcome, Done), outcome
        async with transaction(factory) as session:
            anna = await staff_by_aad(session, ANNA)
            [call] = await task_queries.of_case(session, case_id=closed)
            done = await complete_task.complete_task(
                session, task_id=call.id, note=None, actor=Actor.clicker(anna, ANNA), now=SEEDED_AT
            )
            assert isinstance(done, Done), done
    finally:
        await engine.dispose()


class AppThread:
    """The app on 127.0.0.1 and a free port, served by a thread with its own event loop."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._port: Future[int] = Future()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="schemathesis-app", daemon=True)

    def start(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._port.result(timeout=30)}"

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the app thread did not stop"

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(self._app, access_log=None)
        try:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            sockets = [s for s in runner.addresses if isinstance(s, tuple)]
            self._port.set_result(int(sockets[0][1]))
        except BaseException as exc:
            self._port.set_exception(exc)
            await runner.cleanup()
            raise
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()


@pytest.fixture(scope="module")
def base_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("schemathesis") / "app.db"
    shutil.copy(sqlite_template, database)
    database_url = f"sqlite+aiosqlite:///{database}"
    asyncio.run(_seed(database_url))
    settings_ = Settings(
        database_url=database_url,
        intake_tokens_raw=INTAKE_TOKEN,
        report_tokens_raw=REPORT_TOKEN,
        patient_key_secret="test-secret",
    )
    server = AppThread(create_app(settings_, local=True, run_worker=False))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _call(case: Any, base_url: str, http: requests.Session) -> None:
    case.call_and_validate(base_url=base_url, session=http, checks=CHECKS, timeout=30)


def test_the_seeded_app_answers_with_the_documented_case(
    base_url: str, http: requests.Session
) -> None:
    """The fixture is what the generated tests stand on: cases with decision and tasks."""
    answer = http.get(
        f"{base_url}/api/cases", headers={"Authorization": f"Bearer {REPORT_TOKEN}"}, timeout=30
    )
    assert answer.status_code == 200
    listed = answer.json()
    assert [c["state"] for c in listed["cases"]] == ["decided", "closed", "awaiting_assignment"]
    assert listed["cases"][0]["decision"]["kind"] == "call_in"
    assert listed["cases"][0]["tasks"]
    assert http.get(f"{base_url}/api/cases", timeout=30).status_code == 401


# The reads answer in milliseconds: 50 examples each find a case id past the database's
# integer and a report period in year 1 (both once 500s); the intake's cases cost more.
@schema.exclude(path="/api/messages").exclude(path="/api/dxa-answers").parametrize()
@bounded(50)
def test_reads_and_operations(case: Any, base_url: str, http: requests.Session) -> None:
    _call(case, base_url, http)


@schema.include(path="/api/dxa-answers").parametrize()
@bounded(25)
def test_intake(case: Any, base_url: str, http: requests.Session) -> None:
    _call(case, base_url, http)
