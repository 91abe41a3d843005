"""The local demo a newcomer follows (issue 11, point 8): the banner of
scripts/run-local.sh and the README say the same, and what they say is true; a new
answer makes a new case each time; the readable log shows the domain events."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.demo import SAMPLE, fresh_answer
from bot.intake.fhir import parse_bundle
from bot.logs import Event
from dialogs.text import parse
from tests.harness import (
    ANNA,
    CHANNEL,
    INTAKE_TOKEN,
    MARIA,
    FakeConnector,
    Teams,
    card_text,
    personal_conversation,
    running_bot,
)
from tests.helpers import FIXTURES, fixture_bytes

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "frakturkedjan"
TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def banner(**env: str) -> str:
    """What scripts/run-local.sh prints once everything answers (scripts/demo-banner.sh)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo-banner.sh")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def _default(script: str, name: str) -> str:
    match = re.search(rf'{name}="\$\{{{name}:-([^}}]*)\}}"', script)
    assert match, f"no default for {name}"
    return match.group(1)


# -- the banner and the README --------------------------------------------------------------


def test_the_readme_quotes_the_banner_run_local_prints() -> None:
    run_local = (ROOT / "scripts" / "run-local.sh").read_text(encoding="utf-8")
    assert 'bash "$ROOT/scripts/demo-banner.sh"' in run_local
    defaults = {
        name: _default(run_local, name)
        for name in ("PORT", "PLAYGROUND_PORT", "MVA_PLAYGROUND_PORT", "INTAKE_TOKENS",
                     "REPORT_TOKENS")
    }  # fmt: skip
    shown = banner(**defaults)
    assert shown == banner()  # the banner script's own defaults are run-local.sh's
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```text\n{shown}```\n" in readme
    assert "{" not in shown  # every placeholder filled
    assert "9999" in banner(PORT="9999")


def test_the_banner_says_only_the_secretary_adds_the_bot_to_the_channel() -> None:
    _, anna, maria, both = re.split(r"^   \d\. ", banner().split("\n\n")[1], flags=re.M)
    assert "Anna Berg" in anna and 'Do not click "MVA Tingvalla" here' in anna
    assert "Maria Svensson" in maria and 'Click "MVA Tingvalla" under Teams Channel' in maria
    assert "As Anna, decide" in both and 'As Maria, tick its tasks off in\n      "MVA' in both


def test_the_commands_the_banner_names_for_a_reload_exist() -> None:
    shown = banner()
    assert parse("mina ärenden").name == "my_cases"  # the undecided cases, cards to open
    assert parse("uppgifter").name == "tasks"  # the open tasks with their buttons
    assert "\n      mina ärenden   (Anna)" in shown
    assert "\n      uppgifter      (Maria)" in shown


async def test_the_channel_cards_go_to_the_page_that_added_the_bot_last(
    db_url: str, factory: object
) -> None:
    """What the banner warns about: two Playgrounds are two service URLs, and the bot
    keeps one reference per channel, the latest installer's (bot/teams/references.py)."""
    annas_page = FakeConnector()  # Maria's page is the harness's own connector
    server = TestServer(annas_page.app(), host="127.0.0.1")
    await server.start_server()
    annas_page.url = str(server.make_url("")).rstrip("/")
    try:
        async with running_bot(db_url) as (marias, marias_page), ClientSession() as http:
            anna = Teams(http, marias.bot_url, annas_page.url)
            await anna.install_personal(ANNA)
            await marias.install_personal(MARIA)
            await marias.install_channel(MARIA)
            status, _ = await marias.intake(fixture_bytes("03_osteopenia_jour_vc.json"))
            assert status == 201
            await marias_page.wait_count(CHANNEL, 1)

            await anna.install_channel(ANNA)  # Anna clicks "MVA Tingvalla" after Maria
            another = fresh_answer(fixture_bytes("03_osteopenia_jour_vc.json"), now=NOW)
            status, _ = await marias.intake(another)  # a second answer for triage
            assert status == 201
            await annas_page.wait_for(lambda: annas_page.to(CHANNEL))
            assert len(marias_page.to(CHANNEL)) == 1  # Maria never sees the new one
    finally:
        await server.close()


# -- a new answer -------------------------------------------------------------------------


def test_a_fresh_answer_is_the_sample_under_new_identifiers() -> None:
    sample = parse_bundle(json.loads(SAMPLE.read_bytes()), today=TODAY)
    first = fresh_answer(SAMPLE.read_bytes(), now=NOW)
    second = fresh_answer(SAMPLE.read_bytes(), now=NOW)
    answers = [parse_bundle(json.loads(body), today=TODAY) for body in (first, second)]
    for answer in answers:
        assert answer.report_system == sample.report_system
        assert answer.report_value.startswith(f"{sample.report_value}-")
        assert answer.referral_id != sample.referral_id
        assert answer.patient == sample.patient
        assert answer.measurements == sample.measurements
        assert answer.practitioner_hsa_id == sample.practitioner_hsa_id
        assert answer.content_hash != sample.content_hash
    assert answers[0].report_value != answers[1].report_value
    bundles = [json.loads(body) for body in (first, second)]
    assert bundles[0]["id"] != bundles[1]["id"]
    assert bundles[0]["timestamp"] == "2026-11-21T09:00:00+00:00"
    urls = [{e["fullUrl"] for e in b["entry"]} for b in bundles]
    assert not urls[0] & urls[1]
    assert not urls[0] & {e["fullUrl"] for e in json.loads(SAMPLE.read_bytes())["entry"]}


def test_a_fresh_answer_keeps_references_by_full_url() -> None:
    bundle = json.loads(fixture_bytes("01_osteoporosis_named.json"))
    by_url = {e["resource"]["resourceType"] + "/" + e["resource"]["id"]: e["fullUrl"]
              for e in bundle["entry"]}  # fmt: skip
    text = json.dumps(bundle)
    for reference, url in by_url.items():
        text = text.replace(f'"reference": "{reference}"', f'"reference": "{url}"')
    fresh = json.loads(fresh_answer(text.encode(), now=NOW, suffix="x1"))
    urls = {e["fullUrl"] for e in fresh["entry"]}
    references = re.findall(r'"reference": "([^"]+)"', json.dumps(fresh))
    assert references and set(references) <= urls
    answer = parse_bundle(fresh, today=TODAY)
    assert answer.report_value == "DXA-2026-000101-x1"
    assert answer.practitioner_hsa_id == "SE2321000156-L1AB"


async def _demo_answer(bot_url: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(CLI), "demo-answer", "--url", bot_url, "--token", INTAKE_TOKEN, *args,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
             "PYTHONUTF8": "1"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_demo_answer_run_twice_makes_two_new_cases_and_cards(
    db_url: str, factory: object
) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        cases = []
        for _ in range(2):
            code, out, err = await _demo_answer(teams.bot_url)
            assert code == 0, (out, err)
            name, status, answer = out.rstrip("\n").split(" ", 2)
            assert (name, status) == ("01_osteoporosis_named.json:", "201")
            assert json.loads(answer)["outcome"] == "created"
            cases.append(json.loads(answer)["case_id"])
        assert len(set(cases)) == 2
        sent = await connector.wait_count(personal_conversation(ANNA), 2)
        for card in (s.card for s in sent):
            assert card is not None and "Margareta Lindqvist" in card_text(card)

        # the same file posted as it is: a duplicate, as the banner's old curl got
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert (status, body["outcome"]) == (201, "created")
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert (status, body["outcome"]) == (200, "duplicate")


async def test_demo_answer_says_why_when_no_bot_answers(tmp_path: Path) -> None:
    code, out, err = await _demo_answer("http://127.0.0.1:9")
    assert (code, out) == (2, "")
    assert err.startswith("frakturkedjan: no bot answers at http://127.0.0.1:9")
    assert "scripts/run-local.sh" in err
    code, out, err = await _demo_answer("http://127.0.0.1:9", str(tmp_path / "nothing.json"))
    assert (code, out) == (2, "")
    assert "cannot read" in err


# -- the readable log ----------------------------------------------------------------------

SAMPLES: dict[str, tuple[dict[str, object], str]] = {  # every event of bot.logs.Event, at least
    "answer.received": (
        {"case_id": 3, "unit_id": 1, "outcome": "created", "routed": "physician"},
        "svar mottaget: ärende 3, enhet 1, till läkaren",
    ),
    "answer.rejected": (
        {"status": 422, "problems": 2, "channel": "http"},
        "svar avvisat: 422, 2 fel (via http)",
    ),
    "case.routed": (
        {"case_id": 4, "unit_id": 1, "physician_id": 2, "by": "assign"},
        "ärende 4 fördelat till läkare 2",
    ),
    "decision.recorded": (
        {"case_id": 3, "unit_id": 1, "decision": "call_in", "tasks": 4},
        "beslut registrerat: ärende 3 (call_in), 4 uppgifter",
    ),
    "decision.undone": (
        {"case_id": 3, "unit_id": 1, "decision": "normal_letter", "tasks": 1},
        "beslut ångrat: ärende 3 (normal_letter), 1 uppgift avbruten",
    ),
    "task.done": (
        {"task_id": 7, "case_id": 3, "task_kind": "waitlist"},
        "uppgift klar: uppgift 7 (waitlist), ärende 3",
    ),
    "task.reopened": (
        {"task_id": 7, "case_id": 3, "task_kind": "waitlist"},
        "uppgift ångrad: uppgift 7 (waitlist), ärende 3",
    ),
    "card.sent": (
        {"outbox_id": 12, "purpose": "task_card", "case_id": 3, "to": "channel"},
        "kort skickat: task_card, ärende 3, till MVA-kanalen (utkorg 12)",
    ),
    "card.updated": (
        {"outbox_id": 13, "purpose": "task_card", "case_id": 3, "update_of": 12},
        "kort uppdaterat: task_card, ärende 3 (utkorg 13)",
    ),
    "card.gone": (
        {"outbox_id": 14, "posted_id": 12, "case_id": 3},
        "kortet är borttaget i Teams och uppdateras inte: ärende 3 (utkorg 14)",
    ),
    "card.update_skipped": (
        {"outbox_id": 15, "reason": "unchanged"},
        "kortuppdatering behövdes inte: utkorg 15 (unchanged)",
    ),
    "action.refused": (
        {"action": "case.decide", "reason": "role", "case_id": 3},
        "nekat: case.decide, skäl: role, ärende 3",
    ),
}


def pretty(lines: list[str]) -> list[str]:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pretty-log.sh")],
        input="".join(line + "\n" for line in lines),
        env={"PATH": os.environ["PATH"], "TZ": "Europe/Stockholm"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.splitlines()


def test_the_readable_log_shows_every_event_as_a_swedish_line() -> None:
    assert {event.value for event in Event} <= set(SAMPLES)
    lines = [
        json.dumps({"time": "2026-11-21T09:42:01.000+00:00", "level": "INFO",
                    "logger": "frakturkedjan.events", "message": "…", "event": event,
                    **ids})
        for event, (ids, _) in SAMPLES.items()
    ]  # fmt: skip
    assert pretty(lines) == [f"10:42:01 {text}" for _, text in SAMPLES.values()]


def test_the_readable_log_keeps_other_lines() -> None:
    lines = [
        '{"time": "2026-11-21T09:42:01.000+00:00", "level": "WARNING", "logger": "x", '
        '"message": "outbox message waits for a conversation", "outbox_id": 3}',
        '{"time": "2026-11-21T09:42:01.000+00:00", "level": "INFO", "logger": '
        '"alembic.runtime.plugins", "message": "setup plugin"}',
        "not JSON",
        # an event missing a key it needs is printed as any other line, not dropped
        '{"time": "2026-11-21T09:42:01.000+00:00", "level": "INFO", "logger": '
        '"frakturkedjan.events", "message": "card sent", "event": "card.sent"}',
    ]
    assert pretty(lines) == [
        "10:42:01 WARNING x: outbox message waits for a conversation  outbox_id=3",
        "not JSON",
        "10:42:01 INFO    frakturkedjan.events: card sent  event=card.sent",
    ]


def test_the_fixtures_the_demo_uses_exist() -> None:
    assert SAMPLE == FIXTURES / "01_osteoporosis_named.json"
