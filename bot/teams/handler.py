"""The Teams activity handler: thin. It parses, calls one service, and answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, Attachment
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction, utcnow
from bot.metrics import Metrics
from bot.teams import actions, references
from bot.teams.adapter import (
    adaptive_card_error_response,
    adaptive_card_invoke_response,
    invoke_trigger,
)
from cards.render import card_attachment, render

log = logging.getLogger("frakturkedjan.teams")

HELP_COMMANDS = [
    {"command": "hjälp", "description": "Visar den här hjälpen."},
    {"command": "mina ärenden", "description": "Dina DXA-svar som väntar på beslut."},
    {"command": "uppgifter", "description": "Enhetens öppna uppgifter, tidigast förfallna först."},
    {"command": "ärende <id>", "description": "Ett ärende med dess historik."},
]


class FrakturkedjanBot(TeamsActivityHandler):  # type: ignore[misc]
    """Stores conversation references on install and answers card actions."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__()
        actions.check_verbs()
        self._factory = factory
        self._metrics = metrics or Metrics()
        self._on_change = on_change
        self._clock = clock

    async def _remember(self, activity: Activity) -> None:
        async with transaction(self._factory) as session:
            info = await references.remember(session, activity)
        if info is not None:
            log.info("conversation reference stored", extra={"kind": info.kind})
            self._on_change()

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context.activity)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        async with transaction(self._factory) as session:
            await references.forget(session, turn_context.activity)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context.activity)
        await super().on_conversation_update_activity(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context.activity)
        card = render("help_card", commands=HELP_COMMANDS)
        attachment = Attachment(**_attachment_kwargs(card))
        await turn_context.send_activity(MessageFactory.attachment(attachment))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        value = activity.value if isinstance(activity.value, dict) else {}
        raw_action = value.get("action")
        action: dict[str, Any] = raw_action if isinstance(raw_action, dict) else {}
        sender = activity.from_property
        invoke = actions.Invoke(
            actor_aad=getattr(sender, "aad_object_id", None) if sender else None,
            now=self._clock(),
            trigger=invoke_trigger(activity),
        )
        verb = action.get("verb")
        try:
            answer = await actions.dispatch(self._factory, verb, action.get("data"), invoke)
        except Exception:
            log.exception("card action failed", extra={"verb": verb})
            self._metrics.refused.labels(verb if verb in actions.VERBS else "unknown").inc()
            return adaptive_card_error_response(
                "Något gick fel; inget sparades. Försök igen.", code="InternalError"
            )
        if answer.changed:
            self._on_change()
        if answer.decision:
            self._metrics.decisions.labels(answer.decision).inc()
        if answer.card is None:
            self._metrics.refused.labels(verb if verb in actions.VERBS else "unknown").inc()
            return adaptive_card_error_response(answer.error or "Åtgärden kunde inte utföras.")
        return adaptive_card_invoke_response(answer.card)


def _attachment_kwargs(card: dict[str, object]) -> dict[str, object]:
    attachment = card_attachment(card)
    return {"content_type": attachment["contentType"], "content": attachment["content"]}
