"""Card clicks (`adaptiveCard/action` invokes) answered without any Teams SDK type.

`CardActions.answer` takes the activity's raw JSON `value`, the clicker's Entra object
id and the activity's raw `id`, runs the verb (`bot.teams.actions`) and returns an
`InvokeAnswer`: the HTTP status and JSON body Teams expects. Both runtimes use it: the
botbuilder handler wraps the answer in its `InvokeResponse` (bot/teams/invoke.py), the
agents endpoint writes it straight to the HTTP response (`http_response`).

Working on the raw JSON sidesteps both SDKs' models: their `AdaptiveCardInvokeValue`
drops the `trigger` field, and botbuilder cannot serialise a message-type answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core import jsonfast
from bot.metrics import Metrics
from bot.teams import actions
from bot.teams.inbound import traceback_without_messages
from cards.render import CONTENT_TYPE

__all__ = [
    "CARD_ACTION",
    "ERROR_CONTENT_TYPE",
    "INTERNAL_ERROR_MESSAGE",
    "CardActions",
    "InvokeAnswer",
    "card_answer",
    "clicker_aad",
    "error_answer",
    "http_response",
    "is_plain_card_action",
    "trigger_of",
]

# the logger of the Teams handler, named as before this module was split out of it
log = logging.getLogger("frakturkedjan.teams")

CARD_ACTION = "adaptiveCard/action"
ERROR_CONTENT_TYPE = "application/vnd.microsoft.error"
INTERNAL_ERROR_MESSAGE = "Något gick fel. Försök igen om en stund."

_json_dumps = jsonfast.dumps
_ROUTING_TEXT_FIELDS = ("id", "channelId", "serviceUrl")
_ROUTING_ACCOUNTS = ("conversation", "from", "recipient")


@dataclass(frozen=True)
class InvokeAnswer:
    """The HTTP answer to an invoke: its status and JSON body (None: no body)."""

    status: int
    body: dict[str, Any] | None


def card_answer(card: dict[str, Any]) -> InvokeAnswer:
    """HTTP 200 answer to `adaptiveCard/action` that replaces the card with `card`."""
    return InvokeAnswer(
        status=int(HTTPStatus.OK),
        body={"statusCode": 200, "type": CONTENT_TYPE, "value": card},
    )


def error_answer(message: str, *, code: str = "BadRequest") -> InvokeAnswer:
    """HTTP 200 answer to `adaptiveCard/action` that shows `message` as an error."""
    return InvokeAnswer(
        status=int(HTTPStatus.OK),
        body={
            "statusCode": 400,
            "type": ERROR_CONTENT_TYPE,
            "value": {"code": code, "message": message},
        },
    )


def http_response(answer: InvokeAnswer) -> web.Response:
    """The aiohttp response for `answer`: its status and its body as JSON (UTF-8, not
    ASCII-escaped)."""
    if answer.body is None:
        return web.Response(status=answer.status)
    return web.json_response(answer.body, status=answer.status, dumps=_json_dumps)


def trigger_of(value: Any) -> str | None:
    """`"automatic"` for an Adaptive Card refresh, `"manual"` for a click, else None, from
    an `adaptiveCard/action` invoke's raw `value`.

    Neither SDK's `AdaptiveCardInvokeValue` has a `trigger` attribute (botbuilder
    schema/_models_py3.py:2625; the Agents SDK's pydantic model ignores it), so the
    field is read from the raw JSON.
    """
    trigger = value.get("trigger") if isinstance(value, dict) else None
    return trigger if trigger in ("automatic", "manual") else None


def is_plain_card_action(body: dict[str, Any]) -> bool:
    """Whether a request's JSON is an `adaptiveCard/action` invoke whose routing fields
    (the ids, `serviceUrl`, `channelData`, the accounts) have the types either SDK's
    activity model would accept; such a click can be answered from the raw JSON.
    Anything else goes through the SDK's full deserialisation (and its 400)."""
    if body.get("type") != "invoke" or body.get("name") != CARD_ACTION:
        return False
    if any(not isinstance(body.get(k, ""), str) for k in _ROUTING_TEXT_FIELDS):
        return False
    if not isinstance(body.get("channelData", {}), dict):
        return False
    for key in _ROUTING_ACCOUNTS:
        account = body.get(key, {})
        if not isinstance(account, dict):
            return False
        if any(not isinstance(account.get(k, ""), str) for k in ("id", "role", "aadObjectId")):
            return False
    return True


def clicker_aad(body: dict[str, Any]) -> str | None:
    """The clicker's Entra object id (`from.aadObjectId`) of a plain card action."""
    aad: str | None = body.get("from", {}).get("aadObjectId")
    return aad


class CardActions:
    """Answers card clicks: the verb's service, and its card or a Swedish error."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        on_change: Callable[[], None],
        clock: Callable[[], datetime],
        metrics: Metrics,
    ) -> None:
        actions.check_verbs()
        self._factory = factory
        self._on_change = on_change
        self._clock = clock
        self._metrics = metrics

    async def answer(
        self, value: Any, actor_aad: str | None, activity_id: Any = None
    ) -> InvokeAnswer:
        """The answer to a click. `value` (the activity's raw `value`) and `activity_id`
        (the activity's raw `id`: a retried invoke has the same) may be any JSON;
        `actor_aad` is the clicker's Entra object id (`from.aadObjectId`).

        Always an invoke answer, never an exception: the card, a Swedish error for
        refused data or verbs, "try again" when the database is down, and InternalError
        only for a fault of ours.
        """
        value = value if isinstance(value, dict) else {}
        raw_action = value.get("action")
        action: dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
        invoke = actions.Invoke(
            actor_aad=actions.actor_aad_of(actor_aad),
            now=self._clock(),
            trigger=trigger_of(value),
            activity_id=actions.activity_id_of(activity_id),
        )
        verb = actions.known_verb(action.get("verb"))
        label = verb or "unknown"
        try:
            answer = await actions.dispatch(
                self._factory, action.get("verb"), action.get("data"), invoke
            )
        except Exception as exc:
            self._metrics.refused.labels(label).inc()
            if actions.database_unavailable(exc):
                log.warning(
                    "card action: database unavailable",
                    extra={"verb": label, "error": type(exc).__name__, **_ids(action.get("data"))},
                )
                return error_answer(actions.DATABASE_UNAVAILABLE, code="ServiceUnavailable")
            log.error(
                "card action failed: verb=%s %s\n%s",
                label,
                _ids(action.get("data")),
                traceback_without_messages(exc),
            )
            return error_answer(
                "Något gick fel; inget sparades. Försök igen.", code="InternalError"
            )
        if answer.changed:
            self._on_change()
        if answer.decision:
            self._metrics.decisions.labels(answer.decision).inc()
        if answer.card is None:
            self._metrics.refused.labels(label).inc()
            return error_answer(answer.error or "Åtgärden kunde inte utföras.")
        return card_answer(answer.card)


def _ids(data: Any) -> dict[str, int]:
    """The case and task ids of a click's data, for the log (nothing else of it)."""
    if not isinstance(data, dict):
        return {}
    return {
        key: number
        for key in ("case_id", "task_id")
        if isinstance(number := data.get(key), int) and not isinstance(number, bool)
    }
