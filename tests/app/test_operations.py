"""Operations endpoints: health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot import preflight
from bot.db import create_engine
from bot.migrate import alembic_config
from tests.harness import ANNA, MARIA, actions_of, personal_conversation, running_bot
from tests.helpers import fixture_bytes, pg_admin


def _value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in metrics"
    return float(match.group(1))


async def test_health_ready_and_metrics(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        async with teams.http.get(teams.bot_url + "/healthz") as response:
            assert response.status == 200
        async with teams.http.get(teams.bot_url + "/readyz") as response:
            assert response.status == 200
            assert (await response.json()) == {"status": "ready"}

        await teams.install_personal(ANNA)
        before_intake = time.time()
        await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        await teams.intake(b"not json")
        # a triage card waits: the channel is not installed
        await teams.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
        [sent] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert sent.card is not None
        data = next(a["data"] for a in actions_of(sent.card) if a["data"]["decision"] == "call_in")
        connector.fail_next(429, headers={"Retry-After": "0"})
        await teams.invoke(ANNA, "case.decide", data)
        await teams.invoke(MARIA, "case.decide", data)  # refused: not a physician

        async with teams.http.get(teams.bot_url + "/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
        scraped = time.time()
        assert _value(text, "frakturkedjan_answers_received_total", '{outcome="created"}') == 2
        assert _value(text, "frakturkedjan_answers_received_total", '{outcome="duplicate"}') == 1
        assert _value(text, "frakturkedjan_answers_received_total", '{outcome="rejected"}') == 1
        assert _value(text, "frakturkedjan_decisions_total", '{kind="call_in"}') == 1
        assert _value(text, "frakturkedjan_refused_actions_total", '{verb="case.decide"}') == 1
        assert _value(text, "frakturkedjan_outbox_depth") >= 1  # the waiting triage card
        # the oldest waiting delivery was made after the first intake and before the scrape
        oldest_age = _value(text, "frakturkedjan_outbox_oldest_age_seconds")
        assert 0 < oldest_age <= scraped - before_intake
        assert _value(text, "frakturkedjan_outbox_sends_total", '{result="ok"}') >= 1
        assert "frakturkedjan_outbox_send_seconds_bucket" in text


async def test_readyz_says_so_when_the_database_is_gone(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL database can be dropped under a running app; a file cannot")
    name = db_url.rsplit("/", 1)[1]
    async with running_bot(db_url, outbox_poll_seconds=60) as (teams, _connector):
        async with teams.http.get(teams.bot_url + "/readyz") as response:
            assert response.status == 200
        await pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        async with teams.http.get(teams.bot_url + "/readyz") as response:
            assert response.status == 503
            assert (await response.json()) == {"status": "database unreachable"}
        async with teams.http.get(teams.bot_url + "/healthz") as response:
            assert response.status == 200
        # the intake answers 503 with Retry-After, so the sender retries; nothing is lost
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 503, body
        assert body["problems"][0]["message"].startswith("the database is unavailable")


async def test_readyz_says_why_when_the_schema_falls_behind(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schema is read again every SCHEMA_CHECK_SECONDS: a database put back to an
    older revision under a running service makes it unready, with the reason; a newer
    revision does not."""
    monkeypatch.setattr(preflight, "SCHEMA_CHECK_SECONDS", 0.1)
    head, _known = preflight.migration_revisions()
    previous = ScriptDirectory.from_config(alembic_config(db_url)).get_revision(head).down_revision
    engine = create_engine(db_url)

    async def set_revision(revision: object) -> None:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
            )

    try:
        async with running_bot(db_url, outbox_poll_seconds=60) as (teams, _connector):
            async with teams.http.get(teams.bot_url + "/readyz") as response:
                assert response.status == 200
            await set_revision(previous)
            await asyncio.sleep(0.2)
            async with teams.http.get(teams.bot_url + "/readyz") as response:
                assert response.status == 503
                assert (await response.json()) == {
                    "status": "database schema not current",
                    "problem": f"the database schema is at revision {previous}, this version "
                    f"needs {head}: run `frakturkedjan db upgrade`",
                }
            await set_revision(head)
            await asyncio.sleep(0.2)
            async with teams.http.get(teams.bot_url + "/readyz") as response:
                assert (response.status, await response.json()) == (200, {"status": "ready"})
            # a newer version's `db upgrade` (a rolling deployment) leaves it in service
            await set_revision("f00d")
            await asyncio.sleep(0.2)
            async with teams.http.get(teams.bot_url + "/readyz") as response:
                assert (response.status, await response.json()) == (200, {"status": "ready"})
    finally:
        await engine.dispose()
