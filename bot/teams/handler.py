"""The Teams activity handler: thin. It parses, calls one service, and answers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botbuilder.core import (
    ConversationState,
    InvokeResponse,
    MessageFactory,
    Storage,
    TurnContext,
)
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import utcnow
from bot.metrics import Metrics
from bot.teams import references
from bot.teams.card_actions import CARD_ACTION, CardActions
from bot.teams.storage import SqlStorage
from bot.teams.texts import HELP_COMMANDS, PERSONAL_CHAT_ONLY
from dialogs.commands import COMMAND_FAILED

if TYPE_CHECKING:
    from dialogs.main import TextCommands

__all__ = ["COMMAND_FAILED", "HELP_COMMANDS", "PERSONAL_CHAT_ONLY", "FrakturkedjanBot"]

log = logging.getLogger("frakturkedjan.teams")


class FrakturkedjanBot(TeamsActivityHandler):  # type: ignore[misc]
    """Stores conversation references on install and answers card actions."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
        storage: Storage | None = None,
    ) -> None:
        """`storage` keeps the conversation state (the text commands' dialog stack); by
        default `SqlStorage` on `factory`, so that it survives restarts and is shared by
        every bot process."""
        super().__init__()
        self._factory = factory
        self._on_change = on_change
        self._clock = clock
        self._card_actions = CardActions(
            factory, on_change=on_change, clock=clock, metrics=metrics or Metrics()
        )
        self._conversation_state = ConversationState(storage or SqlStorage(factory))
        self._text_commands: TextCommands | None = None

    @property
    def _commands(self) -> TextCommands:
        # botbuilder-dialogs (with its recognizers) costs ~18 MB: loaded on the first
        # text message, not at start, since most processes only ever answer card clicks.
        if self._text_commands is None:
            from dialogs.main import TextCommands

            self._text_commands = TextCommands(
                self._factory,
                accessor=self._conversation_state.create_property("DialogState"),
                clock=self._clock,
                help_commands=HELP_COMMANDS,
            )
        return self._text_commands

    async def _remember(self, activity: Activity) -> None:
        await references.remember_in(self._factory, activity, on_change=self._on_change)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context.activity)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        await references.forget_in(self._factory, turn_context.activity)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        await self._remember(turn_context.activity)
        await super().on_conversation_update_activity(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        """Text commands (`dialogs`), in the personal chat only: a list of patients asked
        for in a channel would be shown to the whole channel.

        The dialog state is saved at the end of the turn. A turn that fails clears it, so
        that nobody is stuck in a broken question, says so, and re-raises for the adapter
        to log. A conflicting save (two messages of one chat at once) keeps the other
        turn's state.
        """
        await self._remember(turn_context.activity)
        conversation = turn_context.activity.conversation
        if getattr(conversation, "conversation_type", None) != "personal":
            await turn_context.send_activity(MessageFactory.text(PERSONAL_CHAT_ONLY))
            return
        try:
            await self._commands.on_message(turn_context)
        except Exception:
            with contextlib.suppress(Exception):  # the database may be what failed
                await self._conversation_state.delete(turn_context)
            with contextlib.suppress(Exception):
                await turn_context.send_activity(MessageFactory.text(COMMAND_FAILED))
            raise
        try:
            await self._conversation_state.save_changes(turn_context)
        except KeyError:
            log.warning("dialog state saved by a concurrent turn; this turn's state dropped")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        if activity.name != CARD_ACTION:
            return await super().on_invoke_activity(turn_context)
        sender = activity.from_property
        actor_aad = getattr(sender, "aad_object_id", None) if sender else None
        return await self.answer_card_action(activity.value, actor_aad, activity.id)

    async def answer_card_action(
        self, value: Any, actor_aad: str | None, activity_id: Any = None
    ) -> InvokeResponse:
        """A card click (`adaptiveCard/action`): the verb's service, and its card or error
        (`bot.teams.card_actions`, which both runtimes share), as botbuilder's
        `InvokeResponse`.

        `TeamsAdapter` calls this straight from the request's JSON (`CardActionBot`);
        `on_invoke_activity` for a click that comes through the SDK's turn. `value` and
        `activity_id` (the activity's raw `id`: a retried invoke has the same) may be any
        JSON. The answer is always an invoke answer.
        """
        answer = await self._card_actions.answer(value, actor_aad, activity_id)
        return InvokeResponse(status=answer.status, body=answer.body)
