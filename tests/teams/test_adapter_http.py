"""The adapter behind a real aiohttp app: invokes, bodies, bot failures, SDK clients."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue
from msrest.universal_http.requests import ClientRetryPolicy

from bot.teams.adapter import create_adapter
from bot.teams.invoke import (
    adaptive_card_error_response,
    adaptive_card_invoke_response,
    trigger_of,
)
from tests.teams.conftest import (
    CARD,
    SECRET_TEXT,
    USER_NAME,
    FakeConnector,
    Keys,
    OpenIdServer,
    RecordingBot,
    auth_config,
    bearer,
    card_action,
    local_config,
    serve,
    sign,
    teams_activity,
)

CARD_BODY = {
    "statusCode": 200,
    "type": "application/vnd.microsoft.card.adaptive",
    "value": CARD,
}


class _LocalSettings:
    APP_ID = None
    APP_PASSWORD = None
    APP_TYPE = "MultiTenant"
    APP_TENANTID = None


def stock_adapter() -> CloudAdapter:
    """The SDK's CloudAdapter as a sample bot would build it (local, no app id)."""
    return CloudAdapter(ConfigurationBotFrameworkAuthentication(_LocalSettings()))


async def answer_with_card(turn_context: TurnContext) -> Any:
    return adaptive_card_invoke_response(CARD)


# ---------------------------------------------------------------- invokes


async def test_card_action_invoke_is_200_with_the_exact_body() -> None:
    bot = RecordingBot(invoke_answer=answer_with_card)
    async with serve(create_adapter(local_config()), bot) as client:
        response = await client.post("/api/messages", json=card_action())
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == CARD_BODY
    assert bot.turns == [("invoke", "adaptiveCard/action")]


async def test_card_action_invoke_with_a_token_is_200(auth_adapter: Any, keys: Keys) -> None:
    bot = RecordingBot(invoke_answer=answer_with_card)
    async with serve(auth_adapter, bot) as client:
        response = await client.post(
            "/api/messages", json=card_action(), headers=bearer(sign(keys.signing))
        )
        assert response.status == 200
        assert await response.json() == CARD_BODY


async def test_stock_cloud_adapter_answers_the_same_invoke_with_500() -> None:
    """Why the adapter writes invoke bodies itself: cloud_adapter.py:108 serialises the
    already-serialised dict with msrest, which raises AttributeError."""
    bot = RecordingBot(invoke_answer=answer_with_card)
    async with serve(stock_adapter(), bot) as client:
        response = await client.post("/api/messages", json=card_action())
        assert response.status == 500
    assert bot.turns == [("invoke", "adaptiveCard/action")]  # the bot ran, the answer was lost


async def test_error_response_is_200_with_the_teams_error_shape() -> None:
    async def refuse(turn_context: TurnContext) -> Any:
        return adaptive_card_error_response("Du får inte fatta beslut för den här enheten.")

    async with serve(create_adapter(local_config()), RecordingBot(invoke_answer=refuse)) as client:
        response = await client.post("/api/messages", json=card_action())
        assert response.status == 200
        assert await response.json() == {
            "statusCode": 400,
            "type": "application/vnd.microsoft.error",
            "value": {
                "code": "BadRequest",
                "message": "Du får inte fatta beslut för den här enheten.",
            },
        }


def test_invoke_helpers_build_literal_bodies() -> None:
    ok = adaptive_card_invoke_response({"type": "AdaptiveCard", "version": "1.5", "body": []})
    assert (ok.status, ok.body) == (
        200,
        {
            "statusCode": 200,
            "type": "application/vnd.microsoft.card.adaptive",
            "value": {"type": "AdaptiveCard", "version": "1.5", "body": []},
        },
    )
    error = adaptive_card_error_response("Ärendet finns inte.", code="NotFound")
    assert (error.status, error.body) == (
        200,
        {
            "statusCode": 400,
            "type": "application/vnd.microsoft.error",
            "value": {"code": "NotFound", "message": "Ärendet finns inte."},
        },
    )


async def test_message_type_invoke_response_passes_through() -> None:
    # AdaptiveCardInvokeResponse cannot carry this (its value is typed as a dict)
    body = {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "Sparat",
    }

    async def answer(turn_context: TurnContext) -> Any:
        return InvokeResponse(status=200, body=body)

    async with serve(create_adapter(local_config()), RecordingBot(invoke_answer=answer)) as client:
        response = await client.post("/api/messages", json=card_action())
        assert response.status == 200
        assert await response.json() == body


async def test_sdk_adaptive_card_invoke_path_works_through_the_adapter() -> None:
    """`on_adaptive_card_invoke` returning the SDK model (serialised once by
    ActivityHandler) also comes back as 200 instead of 500."""

    class SdkBot(ActivityHandler):  # type: ignore[misc]
        async def on_adaptive_card_invoke(
            self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
        ) -> AdaptiveCardInvokeResponse:
            return AdaptiveCardInvokeResponse(
                status_code=200, type="application/vnd.microsoft.card.adaptive", value=CARD
            )

    async with serve(create_adapter(local_config()), SdkBot()) as client:
        response = await client.post("/api/messages", json=card_action())
        assert response.status == 200
        assert await response.json() == CARD_BODY


async def test_unanswered_invoke_keeps_the_sdk_status() -> None:
    # plain ActivityHandler: on_adaptive_card_invoke is not implemented → 501, no body
    async with serve(create_adapter(local_config()), RecordingBot()) as client:
        response = await client.post("/api/messages", json=card_action())
        assert response.status == 501
        assert await response.read() == b""


async def test_sdk_error_body_msrest_cannot_serialise_becomes_a_swedish_error() -> None:
    # ActivityHandler answers a card action without `value` with an
    # AdaptiveCardInvokeResponse whose value is an Exception (activity_handler.py:580)
    activity = card_action()
    del activity["value"]
    async with serve(create_adapter(local_config()), RecordingBot()) as client:
        response = await client.post("/api/messages", json=activity)
        assert response.status == 200
        body = await response.json()
    assert body["type"] == "application/vnd.microsoft.error"
    assert body["value"]["message"] == "Något gick fel. Försök igen om en stund."


def test_trigger_of_reads_what_adaptive_card_invoke_value_drops() -> None:
    automatic = Activity().deserialize(card_action(trigger="automatic"))
    manual = Activity().deserialize(card_action(trigger="manual"))
    assert trigger_of(automatic.value) == "automatic"
    assert trigger_of(manual.value) == "manual"
    assert not hasattr(AdaptiveCardInvokeValue(**manual.value), "trigger")
    assert trigger_of(None) is None
    assert trigger_of({"action": {}}) is None
    assert trigger_of("automatic") is None
    assert trigger_of({"trigger": "x" * 100_000}) is None  # only the two triggers Teams sends
    assert trigger_of({"trigger": ["automatic"]}) is None


async def test_trigger_is_visible_to_the_bot_on_the_wire() -> None:
    seen: list[str | None] = []

    async def record(turn_context: TurnContext) -> Any:
        seen.append(trigger_of(turn_context.activity.value))
        return adaptive_card_invoke_response(CARD)

    async with serve(create_adapter(local_config()), RecordingBot(invoke_answer=record)) as client:
        await client.post("/api/messages", json=card_action(trigger="automatic"))
        await client.post("/api/messages", json=card_action(trigger="manual"))
    assert seen == ["automatic", "manual"]


async def test_expect_replies_comes_back_as_200() -> None:
    """ExpectedReplies is serialised in cloud_adapter_base.py:439 and again by the stock
    adapter at cloud_adapter.py:108; ours writes it once."""
    activity = teams_activity(deliveryMode="expectReplies")
    async with serve(create_adapter(local_config()), RecordingBot(reply=True)) as client:
        response = await client.post("/api/messages", json=activity)
        assert response.status == 200
        body = await response.json()
    assert [a["text"] for a in body["activities"]] == ["Tack"]


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not json at all", "body_not_json"),
        (b"\xff\xfe\x00", "body_not_json"),
        (b"[1, 2]", "body_not_activity"),
        (b"{}", "body_not_activity"),
        (b'{"type": ""}', "body_not_activity"),
        (b'{"type": 5}', "body_not_activity"),
        (b'{"type": "message", "timestamp": "not a date"}', "body_not_activity"),
        (b'{"type": "message", "from": "not an account"}', "body_not_activity"),
    ],
)
async def test_a_body_that_is_not_an_activity_is_400(data: bytes, error: str) -> None:
    bot = RecordingBot()
    async with serve(create_adapter(local_config()), bot) as client:
        response = await client.post(
            "/api/messages", data=data, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400
        assert await response.json() == {"error": error}
    assert bot.turns == []


async def test_missing_content_type_is_accepted() -> None:
    # the stock adapter reads request.headers["Content-Type"] → KeyError → 500
    import json

    bot = RecordingBot()
    async with serve(create_adapter(local_config()), bot) as client:
        response = await client.post(
            "/api/messages",
            data=json.dumps(teams_activity()).encode(),
            skip_auto_headers=["Content-Type"],
        )
        assert response.status == 201
    assert len(bot.turns) == 1


async def test_get_is_405() -> None:
    async with serve(create_adapter(local_config()), RecordingBot()) as client:
        response = await client.get("/api/messages")
        assert response.status == 405


# ---------------------------------------------------------------- bot failures


async def test_failing_message_turn_is_500_and_logs_no_text_or_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with serve(create_adapter(local_config()), RecordingBot(fail=True)) as client:
            response = await client.post("/api/messages", json=teams_activity())
            assert response.status == 500
            assert await response.json() == {"error": "internal_error"}
    assert "Turn failed: type=message name=None id=1700000000001" in caplog.text
    assert "conversation=a:1personalConversationId" in caplog.text
    assert "ValueError" in caplog.text
    assert SECRET_TEXT not in caplog.text  # the exception message carries it
    assert USER_NAME not in caplog.text


async def test_failing_invoke_turn_is_200_with_a_swedish_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with serve(create_adapter(local_config()), RecordingBot(fail=True)) as client:
            response = await client.post("/api/messages", json=card_action())
            assert response.status == 200
            assert await response.json() == {
                "statusCode": 400,
                "type": "application/vnd.microsoft.error",
                "value": {
                    "code": "InternalError",
                    "message": "Något gick fel. Försök igen om en stund.",
                },
            }
    assert "type=invoke name=adaptiveCard/action" in caplog.text
    assert "case_id" not in caplog.text  # the exception message carries the value
    assert USER_NAME not in caplog.text


# ---------------------------------------------------------------- SDK clients per turn


def _count_retry_policies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = ClientRetryPolicy.__init__

    def spy(self: ClientRetryPolicy) -> None:
        calls.append(1)
        original(self)

    monkeypatch.setattr(ClientRetryPolicy, "__init__", spy)
    return calls


async def test_client_retry_policy_is_not_built_per_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_retry_policies(monkeypatch)
    async with serve(create_adapter(local_config()), RecordingBot()) as client:
        await client.post("/api/messages", json=teams_activity())
        after_first_turn = len(calls)
        for _ in range(5):
            assert (await client.post("/api/messages", json=teams_activity())).status == 201
    assert after_first_turn == 2  # one ConnectorClient, one TokenApiClient
    assert len(calls) == after_first_turn


async def test_client_retry_policy_is_not_built_per_turn_with_authentication(
    monkeypatch: pytest.MonkeyPatch, openid: OpenIdServer, keys: Keys
) -> None:
    calls = _count_retry_policies(monkeypatch)
    adapter = create_adapter(auth_config())
    async with serve(adapter, RecordingBot()) as client:
        for _ in range(4):
            response = await client.post(
                "/api/messages", json=teams_activity(), headers=bearer(sign(keys.signing))
            )
            assert response.status == 201
    assert len(calls) == 2


async def test_stock_adapter_builds_two_retry_policies_per_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _count_retry_policies(monkeypatch)
    async with serve(stock_adapter(), RecordingBot()) as client:
        for _ in range(3):
            await client.post("/api/messages", json=teams_activity())
    assert len(calls) == 6


async def test_replies_through_the_cached_sdk_connector_reuse_one_connection(
    fake_connector: FakeConnector,
) -> None:
    activity = teams_activity(serviceUrl=fake_connector.url)
    async with serve(create_adapter(local_config()), RecordingBot(reply=True)) as client:
        for _ in range(3):
            assert (await client.post("/api/messages", json=activity)).status == 201
    assert [r.path for r in fake_connector.received] == [
        "/v3/conversations/a:1personalConversationId/activities/1700000000001"
    ] * 3
    assert [r.body["text"] for r in fake_connector.received] == ["Tack"] * 3
    assert fake_connector.connections == 1


async def test_stock_adapter_opens_a_connection_per_turn(fake_connector: FakeConnector) -> None:
    activity = teams_activity(serviceUrl=fake_connector.url)
    async with serve(stock_adapter(), RecordingBot(reply=True)) as client:
        for _ in range(3):
            await client.post("/api/messages", json=activity)
    assert fake_connector.connections == 3


async def test_close_releases_the_cached_sdk_clients(fake_connector: FakeConnector) -> None:
    adapter = create_adapter(local_config())
    activity = teams_activity(serviceUrl=fake_connector.url)
    async with serve(adapter, RecordingBot(reply=True)) as client:
        await client.post("/api/messages", json=activity)
        await adapter.close()
        await adapter.close()  # idempotent
        # a later turn builds a new client and still replies
        assert (await client.post("/api/messages", json=activity)).status == 201
    assert len(fake_connector.received) == 2
    await adapter.close()
