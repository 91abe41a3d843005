"""Card clicks answered without the SDK's turn (`CardActionBot`): the same gates as every
other activity (authentication, tenant), the same answers, and the SDK path for anything
that is not a plain `adaptiveCard/action` invoke."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.cloud_adapter_base import CloudAdapterBase
from botbuilder.schema import Activity
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.teams.adapter import create_adapter
from bot.teams.handler import FrakturkedjanBot
from bot.teams.invoke import CardActionBot, adaptive_card_invoke_response
from tests.harness import ANNA, ERIK, card_of, card_text, running_bot
from tests.helpers import fixture_bytes
from tests.teams.conftest import (
    CARD,
    OTHER_TENANT,
    Keys,
    RecordingBot,
    bearer,
    card_action,
    local_config,
    serve,
    sign,
)


class CardBot(RecordingBot):
    """A RecordingBot that also answers card clicks from the raw JSON."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__(invoke_answer=self._sdk_answer)
        self.clicks: list[tuple[Any, str | None]] = []
        self.activity_ids: list[Any] = []
        self._fail_click = fail

    async def _sdk_answer(self, _turn_context: TurnContext) -> InvokeResponse:
        return adaptive_card_invoke_response(CARD)

    async def answer_card_action(
        self, value: Any, actor_aad: str | None, activity_id: Any = None
    ) -> InvokeResponse:
        self.clicks.append((value, actor_aad))
        self.activity_ids.append(activity_id)
        if self._fail_click:
            raise ValueError(f"cannot handle {value!r}")
        return adaptive_card_invoke_response(CARD)


def no_sdk_turn(monkeypatch: pytest.MonkeyPatch, runtime: str = "botbuilder") -> None:
    """Make the runtime's SDK turn and its Activity model (msrest's deserialisation,
    pydantic's validation) fail if they run."""

    async def refuse_turn(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the SDK turn ran for a card click")

    def refuse_deserialize(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("an Activity was deserialised for a card click")

    if runtime == "agents":
        from microsoft_agents.activity import Activity as AgentsActivity
        from microsoft_agents.hosting.core import ChannelServiceAdapter

        monkeypatch.setattr(ChannelServiceAdapter, "process_activity", refuse_turn)
        monkeypatch.setattr(AgentsActivity, "model_validate", refuse_deserialize)
        return
    monkeypatch.setattr(CloudAdapterBase, "process_activity", refuse_turn)
    monkeypatch.setattr(Activity, "deserialize", refuse_deserialize)


def test_the_product_bot_is_a_card_action_bot() -> None:
    assert issubclass(FrakturkedjanBot, CardActionBot)
    assert not issubclass(RecordingBot, CardActionBot)


async def test_a_click_with_a_valid_token_reaches_the_bot_without_a_turn(
    auth_adapter: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_sdk_turn(monkeypatch)
    bot = CardBot()
    click = card_action(trigger="automatic")
    async with serve(auth_adapter, bot) as client:
        response = await client.post(
            "/api/messages", json=click, headers=bearer(sign(keys.signing))
        )
        assert response.status == 200
        assert await response.json() == {
            "statusCode": 200,
            "type": "application/vnd.microsoft.card.adaptive",
            "value": CARD,
        }
    assert bot.clicks == [(click["value"], click["from"]["aadObjectId"])]
    assert bot.activity_ids == [click["id"]]  # a retried invoke has the same
    assert bot.turns == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda keys: bearer(sign(keys.other)), id="bad signature"),
        pytest.param(lambda keys: {}, id="missing header"),
        pytest.param(
            lambda keys: bearer(sign(keys.signing, serviceurl="https://evil.example.com/")),
            id="service url mismatch",
        ),
    ],
)
async def test_a_click_that_fails_authentication_is_401_and_never_reaches_the_bot(
    auth_adapter: Any, keys: Keys, headers: Any
) -> None:
    bot = CardBot()
    async with serve(auth_adapter, bot) as client:
        response = await client.post("/api/messages", json=card_action(), headers=headers(keys))
        assert response.status == 401
    assert bot.clicks == [] and bot.turns == []


async def test_a_click_from_a_tenant_not_allowed_is_403(auth_adapter: Any, keys: Keys) -> None:
    bot = CardBot()
    click = card_action(channelData={"tenant": {"id": OTHER_TENANT}})
    async with serve(auth_adapter, bot) as client:
        response = await client.post(
            "/api/messages", json=click, headers=bearer(sign(keys.signing))
        )
        assert response.status == 403
        assert await response.json() == {"error": "tenant_not_allowed"}
    assert bot.clicks == []


async def test_a_failing_click_is_a_swedish_error_and_logged_without_its_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = CardBot(fail=True)
    with caplog.at_level(logging.ERROR):
        async with serve(create_adapter(local_config()), bot) as client:
            response = await client.post("/api/messages", json=card_action())
            assert response.status == 200
            body = await response.json()
    assert body["value"]["code"] == "InternalError"
    assert body["type"] == "application/vnd.microsoft.error"
    assert "Något gick fel" in body["value"]["message"]
    assert "Turn failed: type=invoke name=adaptiveCard/action" in caplog.text
    assert "call_in" not in caplog.text  # the click's value stays out of the log


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"channelData": None}, id="channelData null"),
        pytest.param({"name": "adaptiveCard/other"}, id="another invoke"),
        pytest.param({"id": 17}, id="a number for an id"),
    ],
)
async def test_anything_but_a_plain_card_click_takes_the_sdk_turn(extra: dict[str, Any]) -> None:
    bot = CardBot()
    async with serve(create_adapter(local_config()), bot) as client:
        response = await client.post("/api/messages", json={**card_action(), **extra})
        assert response.status == 200
    assert bot.clicks == []
    assert len(bot.turns) == 1 and bot.turns[0][0] == "invoke"


async def test_routing_fields_msrest_refuses_are_still_400() -> None:
    bot = CardBot()
    async with serve(create_adapter(local_config()), bot) as client:
        response = await client.post("/api/messages", json=card_action(**{"from": "someone"}))
        assert response.status == 400
        assert await response.json() == {"error": "body_not_activity"}
    assert bot.clicks == [] and bot.turns == []


async def test_the_sdk_turn_of_a_click_gives_the_same_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """`FrakturkedjanBot.on_invoke_activity` (the SDK path) hands a click to
    `answer_card_action` with the same value, actor and activity id the direct path
    reads."""
    seen: list[tuple[Any, str | None, Any]] = []

    async def record(
        _self: Any, value: Any, actor_aad: str | None, activity_id: Any = None
    ) -> InvokeResponse:
        seen.append((value, actor_aad, activity_id))
        return adaptive_card_invoke_response(CARD)

    monkeypatch.setattr(FrakturkedjanBot, "answer_card_action", record)
    monkeypatch.setattr("bot.teams.adapter._is_plain_card_action", lambda _body: False)
    click = card_action()
    bot = FrakturkedjanBot(async_sessionmaker())  # answer_card_action, patched, reads nothing
    async with serve(create_adapter(local_config()), bot) as client:
        response = await client.post("/api/messages", json=click)
        assert response.status == 200
    assert seen == [(click["value"], click["from"]["aadObjectId"], click["id"])]


async def test_the_product_answers_a_click_without_the_sdk_turn(
    db_url: str, factory: Any, monkeypatch: pytest.MonkeyPatch, runtime: str
) -> None:
    """A decision through the running product, on either runtime: the summary card comes
    back, the case is decided, and the SDK turn (with its Activity model) never ran for the
    click."""
    async with running_bot(db_url) as (teams, _connector):
        await teams.install_personal(ANNA)
        status, body = await teams.intake(fixture_bytes("01_osteoporosis_named.json"))
        assert status == 201, body
        no_sdk_turn(monkeypatch, runtime)
        data = {"case_id": body["case_id"], "version": 1, "decision": "normal_call"}
        status, answer = await teams.invoke(ANNA, "case.decide", data)
        assert status == 200
        assert "Bekräfta: Ingen osteoporos – ring patienten" in card_text(card_of(answer))
        confirmed = {**data, "confirmed": True}
        status, answer = await teams.invoke(ANNA, "case.decide", confirmed)
        assert status == 200
        assert "Beslut: Ingen osteoporos – ring patienten" in card_text(card_of(answer))
        status, answer = await teams.invoke(ERIK, "case.decide", confirmed)
        assert status == 200
        assert "Redan beslutat av Anna Berg" in card_text(card_of(answer))
