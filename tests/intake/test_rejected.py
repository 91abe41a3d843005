"""The rejected-message log keeps every refused message, cut to what its columns hold, and
says so when it cannot (issue 10)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import create_engine, session_factory
from bot.flows.take_in_answer import ingest, reject
from bot.intake.fhir import Problem
from bot.intake.models import RejectedMessage

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def _rejected(factory: Any) -> list[RejectedMessage]:
    async with factory() as session:
        return list((await session.scalars(select(RejectedMessage))).all())


async def test_a_refusal_with_many_problems_keeps_the_first_hundred(factory: Any) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": list(range(150))}
    result = await ingest(
        factory,
        body=json.dumps(bundle).encode(),
        content_type="application/fhir+json",
        sender="test",
        channel="cli",
        secret="s",
        now=NOW,
    )
    assert result.status == 422
    assert len(result.body["problems"]) == 150 + 3  # and no DiagnosticReport, Patient, unit
    [row] = await _rejected(factory)
    assert len(row.problems) == 101
    assert row.problems[0] == {"path": "$.entry[0]", "message": "expected an object, got number"}
    assert row.problems[-1] == {"path": "$", "message": "53 more problems"}


async def test_every_column_is_cut_to_what_it_holds(factory: Any) -> None:
    """Header, sender and problems come from outside: each is cut and made storable."""
    result = await reject(
        factory,
        status=415,
        error="unsupported media type",
        problems=[Problem("$['\ud800']" + "x" * 5000, "bad \x00 text " + "y" * 5000)],
        channel="http",
        sender="s" * 500,
        content_type="application/" + "x" * 8000,
        body="\x00é".encode("utf-16"),
        size=2**40,
    )
    assert result.status == 415
    [row] = await _rejected(factory)
    assert (row.content_type, row.sender) == ("application/" + "x" * 188, "s" * 100)
    assert row.size == 2**31 - 1
    assert row.body is not None and "\x00" not in row.body
    [problem] = row.problems
    assert problem["path"] == "$['\ufffd']" + "x" * 994
    assert problem["message"] == "bad \ufffd text " + "y" * 989


async def test_a_log_that_cannot_be_kept_is_an_error_and_the_sender_still_gets_its_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-schema.db'}")
    try:
        with caplog.at_level(logging.ERROR, logger="frakturkedjan.intake"):
            result = await ingest(
                session_factory(engine),
                body=b"{not json",
                content_type="application/fhir+json",
                sender="test",
                channel="cli",
                secret="s",
                now=NOW,
            )
    finally:
        await engine.dispose()
    assert result.status == 400
    [record] = [r for r in caplog.records if r.name == "frakturkedjan.intake"]
    assert (record.levelname, record.getMessage()) == ("ERROR", "could not keep a rejected message")
    assert (record.status, record.error) == (400, "OperationalError")  # type: ignore[attr-defined]
    assert record.exc_info is None  # a database error would quote the row: its type only
