"""Answers to `adaptiveCard/action` invokes, built and written as raw JSON.

botbuilder 4.17.1 cannot be trusted with them: `AdaptiveCardInvokeValue` drops `trigger`
(schema/_models_py3.py:2625); `AdaptiveCardInvokeResponse.value` is typed `{object}`
(ibid. :2600), so msrest cannot serialise a message-type response (a string value:
SerializationError); and `CloudAdapter.process` serialises an invoke body a second time
(cloud_adapter.py:108), which fails on the dict the SDK already made of it. The helpers
here wrap the SDK-free answers of `bot.teams.card_actions` (the raw JSON), and
`CardActionBot` is the bot that answers a click from the raw JSON without the SDK's turn.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from botbuilder.core import InvokeResponse, serializer_helper
from msrest.serialization import Model

from bot.core import jsonfast
from bot.teams.card_actions import ERROR_CONTENT_TYPE, card_answer, error_answer, trigger_of

__all__ = [
    "ERROR_CONTENT_TYPE",
    "CardActionBot",
    "adaptive_card_error_response",
    "adaptive_card_invoke_response",
    "trigger_of",
    "write_invoke_response",
]

_json_dumps = jsonfast.dumps


@runtime_checkable
class CardActionBot(Protocol):
    """A bot that answers `adaptiveCard/action` invokes from the raw JSON.

    `TeamsAdapter.process` gives such a bot a card click after authentication and the
    tenant gate, without the SDK's turn: no msrest `Activity` (deserialising one costs
    more than the bot's role check), no `TurnContext`, connector or middleware, none of
    which an invoke answer uses.
    """

    async def answer_card_action(
        self, value: Any, actor_aad: str | None, activity_id: Any = None
    ) -> InvokeResponse:
        """The answer to a click: `value` is the activity's raw `value`, `actor_aad` the
        clicker's Entra object id (`from.aadObjectId`), `activity_id` the activity's raw
        `id` (the same for a retry of the invoke)."""
        ...


def adaptive_card_invoke_response(card: dict[str, Any]) -> InvokeResponse:
    """HTTP 200 answer to `adaptiveCard/action` that replaces the card with `card`."""
    answer = card_answer(card)
    return InvokeResponse(status=answer.status, body=answer.body)


def adaptive_card_error_response(message: str, *, code: str = "BadRequest") -> InvokeResponse:
    """HTTP 200 answer to `adaptiveCard/action` that shows `message` as an error.

    Built as raw JSON: `AdaptiveCardInvokeResponse.value` is typed `{object}`, and the
    SDK's own error response puts an `Exception` there (activity_handler.py:580), which
    msrest cannot serialise either.
    """
    answer = error_answer(message, code=code)
    return InvokeResponse(status=answer.status, body=answer.body)


def write_invoke_response(invoke_response: InvokeResponse) -> web.Response:
    """The HTTP answer for an `InvokeResponse`: its status and its body as JSON, the body
    serialised once. Raises `TypeError` or `ValueError` for a body JSON cannot hold.

    `CloudAdapter.process` (cloud_adapter.py:108) passes the body to msrest's
    `serializer_helper` although `ActivityHandler._create_invoke_response`
    (activity_handler.py:541) and `_process_turn_results` (ExpectedReplies,
    cloud_adapter_base.py:439) have already made it a dict; msrest raises
    AttributeError on a dict and the request ends in 500. Only an msrest Model body
    (e.g. from `_InvokeResponseException`) still needs serialising.
    """
    status = int(invoke_response.status or HTTPStatus.OK)
    body = invoke_response.body
    if body is None:
        return web.Response(status=status)
    if isinstance(body, Model):
        body = serializer_helper(body)
    return web.json_response(body, status=status, dumps=_json_dumps)
