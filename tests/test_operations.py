"""Operations endpoints: health, readiness and Prometheus metrics."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import _pg_admin, fixture_bytes
from tests.harness import ANNA, MARIA, actions_of, personal_conversation, running_bot


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
        assert _value(text, "frakturkedjan_answers_received_total", '{outcome="created"}') == 2
        assert _value(text, "frakturkedjan_answers_received_total", '{outcome="duplicate"}') == 1
        assert _value(text, "frakturkedjan_answers_received_total", '{outcome="rejected"}') == 1
        assert _value(text, "frakturkedjan_decisions_total", '{kind="call_in"}') == 1
        assert _value(text, "frakturkedjan_refused_actions_total", '{verb="case.decide"}') == 1
        assert _value(text, "frakturkedjan_outbox_depth") >= 1  # the waiting triage card
        assert _value(text, "frakturkedjan_outbox_oldest_age_seconds") >= 0
        assert _value(text, "frakturkedjan_outbox_sends_total", '{result="ok"}') >= 1
        assert "frakturkedjan_outbox_send_seconds_bucket" in text


async def test_readyz_says_so_when_the_database_is_gone(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL database can be dropped under a running app; a file cannot")
    name = db_url.rsplit("/", 1)[1]
    async with running_bot(db_url, outbox_poll_seconds=60) as (teams, _connector):
        async with teams.http.get(teams.bot_url + "/readyz") as response:
            assert response.status == 200
        await _pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        async with teams.http.get(teams.bot_url + "/readyz") as response:
            assert response.status == 503
            assert (await response.json()) == {"status": "database unreachable"}
        async with teams.http.get(teams.bot_url + "/healthz") as response:
            assert response.status == 200
        # the intake answers 503 with Retry-After, so the sender retries; nothing is lost
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 503, body
        assert body["problems"][0]["message"].startswith("the database is unavailable")
