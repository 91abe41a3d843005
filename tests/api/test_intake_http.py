"""`POST /api/dxa-answers` over HTTP: every answer code of the intake contract."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import func, select

from bot.api.intake import read_body
from bot.cases.models import Case
from bot.intake.models import RejectedMessage
from bot.outbox.models import OutboxMessage
from tests.harness import (
    ANNA,
    CHANNEL,
    INTAKE_TOKEN,
    MARIA,
    card_text,
    personal_conversation,
    running_bot,
)
from tests.helpers import fixture_bytes


async def _count(factory: Any, model: Any) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_rejections_store_nothing_but_the_rejected_log(db_url: str, factory: Any) -> None:
    sample = fixture_bytes("01_osteoporosis_named.json")
    async with running_bot(db_url) as (teams, _connector):
        status, body = await teams.intake(sample, token=None)
        assert status == 401
        status, body = await teams.intake(sample, token="wrong")
        assert status == 401
        status, body = await teams.intake(sample, content_type="text/plain")
        assert status == 415
        assert body["problems"][0]["path"] == "$"
        status, body = await teams.intake(b"{not json")
        assert status == 400
        assert body["problems"][0]["message"].startswith("not valid JSON")
        status, body = await teams.intake(b"\xff\xfe\x00garbage")
        assert status == 400
        status, body = await teams.intake(b"x" * (5 * 1024 * 1024 + 10))
        assert status == 413
        status, body = await teams.intake(json.dumps({"resourceType": "Patient"}))
        assert status == 422
        assert body["problems"]
        status, body = await teams.intake(fixture_bytes("08_invalid_check_digit.json"))
        assert status == 422
        assert body["problems"] == [
            {
                "path": "$.entry[0].resource.identifier[0].value",
                "message": body["problems"][0]["message"],
            }
        ]
        assert "check digit" in body["problems"][0]["message"]
        unknown = json.loads(sample)
        for entry in unknown["entry"]:
            if entry["resource"]["resourceType"] == "Organization":
                entry["resource"]["identifier"][0]["value"] = "SE2321000156-XXXX"
        status, body = await teams.intake(json.dumps(unknown))
        assert status == 422
        assert "SE2321000156-XXXX" in body["problems"][0]["message"]
        # plain application/json is accepted too
        status, body = await teams.intake(
            sample, content_type="application/json", token="second-sender-token"
        )
        assert status == 201
    assert await _count(factory, Case) == 1
    async with factory() as session:
        rejected = (
            await session.scalars(select(RejectedMessage).order_by(RejectedMessage.id))
        ).all()
    assert [r.status for r in rejected] == [415, 400, 400, 413, 422, 422, 422]
    assert rejected[1].body == "{not json"
    assert all(r.problems for r in rejected)


async def test_duplicate_returns_200_and_changes_nothing(db_url: str, factory: Any) -> None:
    sample = json.loads(fixture_bytes("01_osteoporosis_named.json"))
    async with running_bot(db_url) as (teams, _connector):
        status, first = await teams.intake(json.dumps(sample))
        assert status == 201
        outbox_rows = await _count(factory, OutboxMessage)
        sample["id"] = "another-bundle-id"
        sample["timestamp"] = "2026-11-13T10:00:00+01:00"
        status, second = await teams.intake(json.dumps(sample))
        assert status == 200
        assert second["case_id"] == first["case_id"]
    assert await _count(factory, Case) == 1
    assert await _count(factory, OutboxMessage) == outbox_rows


async def test_correction_supersedes_and_tells_the_physician(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, connector):
        await teams.install_personal(ANNA)
        await teams.install_channel(MARIA)
        status, first = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 201
        [card1] = await connector.wait_count(personal_conversation(ANNA), 1)
        assert card1.card is not None
        decide = next(a for a in _actions(card1.card) if a["data"].get("decision") == "call_in")
        await teams.invoke(ANNA, "case.decide", decide["data"])
        await connector.wait_count(CHANNEL, 1)

        status, second = await teams.intake(fixture_bytes("07_amended_01.json"))
        assert status == 202, second
        assert second["supersedes"] == first["case_id"]
        sent = await connector.wait_count(personal_conversation(ANNA), 2)
        assert sent[1].card is not None
        told = card_text(sent[1].card)
        assert f"ersätter Ärende {first['case_id']}" in told
        assert "Tidigare beslut: Kalla till läkarbesök" in told
        channel = await connector.wait_count(CHANNEL, 2)
        assert "Korrigerat svar" in channel[1].text

        status, old = await teams.case(first["case_id"])
        assert old["state"] == "superseded"
        assert old["superseded_by"] == second["case_id"]
        assert {t["status"] for t in old["tasks"]} == {"cancelled"}
        status, new = await teams.case(second["case_id"])
        assert new["state"] == "awaiting_decision"
        assert new["supersedes"] == first["case_id"]
        assert new["physician"]["aad_object_id"] == ANNA["aad"]
        # the old card can no longer decide anything (another of its buttons: the same
        # click again within seconds would be answered as the repeat it is)
        other = next(a for a in _actions(card1.card) if a["data"].get("decision") == "other")
        status, answer = await teams.invoke(
            ANNA, "case.decide", {**other["data"], "other_note": "Remiss till reumatolog."}
        )
        assert "Redan beslutat" in card_text(answer["value"]) or "Ersatt" in card_text(
            answer["value"]
        )
        # the same correction again is a duplicate
        status, again = await teams.intake(fixture_bytes("07_amended_01.json"))
        assert status == 200 and again["case_id"] == second["case_id"]


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    from tests.harness import actions_of

    return actions_of(card)


async def test_every_sample_is_routed(db_url: str, factory: Any) -> None:
    expected = {
        "01_osteoporosis_named.json": "awaiting_decision",
        "02_normal_named.json": "awaiting_decision",
        "03_osteopenia_jour_vc.json": "awaiting_assignment",
        "04_hip_fracture_osteopenia.json": "awaiting_decision",
        "05_protected_identity.json": "awaiting_decision",
        "06_samordningsnummer.json": "awaiting_decision",
        "09_young_zscore.json": "awaiting_decision",
    }
    async with running_bot(db_url) as (teams, _connector):
        for name, state in expected.items():
            status, body = await teams.intake(fixture_bytes(name))
            assert status == 201, (name, body)
            status, case = await teams.case(body["case_id"])
            assert case["state"] == state, name


# --- issue 10: the whole body however it is framed, and bad input always a 4xx ----------

SAMPLE_01 = "01_osteoporosis_named.json"
T_SCORE = "$.entry[5].resource.valueQuantity.value"
HUNDRED_KB = "x" * 100_000


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    """The body in pieces, with a pause after each so the server sees them arrive apart."""
    for start in range(0, len(body), size):
        yield body[start : start + size]
        await asyncio.sleep(0.002)


async def _post_chunked(teams: Any, body: bytes, *, chunk: int = 512) -> tuple[int, Any]:
    """POST with chunked transfer encoding (no Content-Length), `chunk` bytes a piece."""
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {INTAKE_TOKEN}"}
    async with teams.http.post(
        f"{teams.bot_url}/api/dxa-answers", data=_chunks(body, chunk), headers=headers
    ) as response:
        assert "Content-Length" not in response.request_info.headers
        return response.status, await response.json()


def _sample_with(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(fixture_bytes(SAMPLE_01))
    change(bundle)
    return bundle


def _set(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], object]:
    def change(bundle: dict[str, Any]) -> object:
        target: Any = bundle
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return None

    return change


def _raw_t_score(literal: str) -> bytes:
    """Sample 01 with its first T-score written as `literal` in the JSON text."""
    text = json.dumps(_sample_with(_set(("entry", 5, "resource", "valueQuantity", "value"), 7.25)))
    assert text.count('"value": 7.25') == 1
    return text.replace('"value": 7.25', f'"value": {literal}').encode()


def _nested(depth: int) -> bytes:
    text = json.dumps(_sample_with(_set(("entry", 0, "resource", "extension"), "@@")))
    return text.replace('"@@"', "[" * depth + "]" * depth).encode()


REPORT_ID = ("entry", 13, "resource", "identifier", 0)
FRACTURE_CODE = ("entry", 3, "resource", "reasonCode", 0, "coding", 0, "code")

# name -> (body, status, path of the first problem)
HOSTILE: dict[str, tuple[bytes, int, str]] = {
    "huge integer T-score": (_raw_t_score("-1" + "0" * 400), 422, T_SCORE),
    "integer over 4300 digits": (_raw_t_score("1" * 5000), 422, T_SCORE),
    "-1e400": (_raw_t_score("-1e400"), 422, T_SCORE),
    "NaN": (_raw_t_score("NaN"), 422, T_SCORE),
    "Infinity": (_raw_t_score("Infinity"), 422, T_SCORE),
    # Bundle, entry, entry[0] and resource are levels 1-4: the 29th array is level 33
    "nesting 40 deep": (_nested(40), 422, "$.entry[0].resource.extension" + "[0]" * 28),
    "nesting 100 000 deep": (_nested(100_000), 422, "$"),
    "lone surrogate in a name": (
        json.dumps(
            _sample_with(_set(("entry", 0, "resource", "name", 0, "family"), "L\ud800"))
        ).encode(),
        422,
        "$.entry[0].resource.name[0].family",
    ),
    "lone surrogate in the identifier": (
        json.dumps(_sample_with(_set((*REPORT_ID, "value"), "DXA-\udc00"))).encode(),
        422,
        "$.entry[13].resource.identifier[0].value",
    ),
    "NUL in an ignored element": (
        json.dumps(_sample_with(_set(("entry", 3, "resource", "intent"), "or\x00der"))).encode(),
        422,
        "$.entry[3].resource.intent",
    ),
    "UTF-16 body": (fixture_bytes(SAMPLE_01).decode().encode("utf-16"), 400, "$"),
    "100 KB identifier value": (
        json.dumps(_sample_with(_set((*REPORT_ID, "value"), HUNDRED_KB))).encode(),
        422,
        "$.entry[13].resource.identifier[0].value",
    ),
    "100 KB identifier system": (
        json.dumps(_sample_with(_set((*REPORT_ID, "system"), HUNDRED_KB))).encode(),
        422,
        "$.entry[13].resource.identifier[0].system",
    ),
    "100 KB fracture code": (
        json.dumps(_sample_with(_set(FRACTURE_CODE, "S" + HUNDRED_KB))).encode(),
        422,
        "$.entry[3].resource.reasonCode[0].coding[0].code",
    ),
    "100 KB referral identifier": (
        json.dumps(
            _sample_with(_set(("entry", 3, "resource", "identifier", 0, "value"), HUNDRED_KB))
        ).encode(),
        422,
        "$.entry[3].resource.identifier[0].value",
    ),
}


async def test_hostile_bodies_get_a_4xx_naming_the_problem(db_url: str, factory: Any) -> None:
    answers: dict[str, tuple[int, str]] = {}
    async with running_bot(db_url) as (teams, _connector):
        for name, (body, _status, _path) in HOSTILE.items():
            status, answer = await teams.intake(body)
            problems = answer.get("problems") if isinstance(answer, dict) else None
            answers[name] = (status, problems[0]["path"] if problems else repr(answer)[:60])
    assert answers == {name: (status, path) for name, (_, status, path) in HOSTILE.items()}
    assert await _count(factory, Case) == 0
    assert await _count(factory, RejectedMessage) == len(HOSTILE)


async def test_a_chunked_bundle_is_read_whole(db_url: str, factory: Any) -> None:
    async with running_bot(db_url) as (teams, _connector):
        status, answer = await _post_chunked(teams, fixture_bytes(SAMPLE_01), chunk=512)
    assert (status, answer["outcome"]) == (201, "created")
    assert await _count(factory, Case) == 1


async def test_a_chunked_body_over_the_limit_is_413(db_url: str, factory: Any) -> None:
    body = b" " * (6 * 1024 * 1024)
    async with running_bot(db_url) as (teams, _connector):
        status, answer = await _post_chunked(teams, body, chunk=64 * 1024)
    assert status == 413
    assert answer["problems"] == [{"path": "$", "message": "body is over 5242880 bytes"}]
    async with factory() as session:
        rejected = (await session.scalars(select(RejectedMessage))).one()
    assert (rejected.status, rejected.size, rejected.body) == (413, 5 * 1024 * 1024 + 1, None)


async def test_reading_stops_one_byte_past_the_setting(db_url: str, factory: Any) -> None:
    """`max_body_bytes` is the limit the intake reads by; it takes limit + 1 bytes, no more."""
    async with running_bot(db_url, max_body_bytes=20_000) as (teams, _connector):
        status, _ = await _post_chunked(teams, b" " * 50_000, chunk=1000)
        assert status == 413
        status, _ = await teams.intake(b" " * 20_001)
        assert status == 413
        status, _ = await _post_chunked(teams, fixture_bytes(SAMPLE_01), chunk=100)
        assert status == 201
    async with factory() as session:
        sizes = (await session.scalars(select(RejectedMessage.size))).all()
    assert sorted(sizes) == [20_001, 20_001]


class _EndlessStream:
    """A body that never ends, handed out a few bytes at a time; counts what was taken."""

    def __init__(self, piece: int) -> None:
        self.piece = piece
        self.taken = 0

    async def read(self, n: int = -1) -> bytes:
        size = self.piece if n < 0 else min(n, self.piece)
        self.taken += size
        return b"x" * size


class _ShortStream:
    def __init__(self, body: bytes, piece: int) -> None:
        self.rest = body
        self.piece = piece

    async def read(self, n: int = -1) -> bytes:
        size = self.piece if n < 0 else min(n, self.piece)
        part, self.rest = self.rest[:size], self.rest[size:]
        return part


async def test_read_body_takes_limit_plus_one_bytes_and_no_more() -> None:
    stream = _EndlessStream(piece=300)
    body = await read_body(stream, limit=1000)
    assert (len(body), stream.taken) == (1001, 1001)


async def test_read_body_takes_a_body_in_many_pieces_whole() -> None:
    assert await read_body(_ShortStream(b"0123456789" * 100, piece=7), limit=1000) == (
        b"0123456789" * 100
    )
    assert await read_body(_ShortStream(b"", piece=7), limit=1000) == b""
