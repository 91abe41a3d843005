"""The Teams activity handler on the Agents SDK: thin, as on botbuilder
(bot/teams/handler.py). It subclasses the core `ActivityHandler`: not `AgentApplication`
(which loads state from storage on every turn, invokes included, and logs the text of
unrouted messages) and not hosting-msteams (msgraph, 392 MB, for nothing we use).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from microsoft_agents.activity import Activity, InvokeResponse, TurnContextProtocol
from microsoft_agents.hosting.core import ActivityHandler, MessageFactory, Storage, TurnContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.teams import references
from bot.teams.card_actions import CARD_ACTION, CardActions
from bot.teams.texts import HELP_COMMANDS, PERSONAL_CHAT_ONLY

if TYPE_CHECKING:
    from dialogs.agents_commands import AgentsTextCommands

__all__ = ["AgentsBot"]

Turn = TurnContextProtocol[Any]
"""The SDK's turn context, as `ActivityHandler` types it."""


class AgentsBot(ActivityHandler):
    """Stores conversation references on install, runs the text commands of the personal
    chat, and answers card clicks that come through the SDK's turn (the endpoint answers
    most of them from the raw JSON, without a turn)."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        card_actions: CardActions,
        on_change: Callable[[], None],
        clock: Callable[[], datetime],
        storage: Storage | None = None,
    ) -> None:
        """`storage` keeps the conversation state (the text commands' dialog stack); by
        default `AgentsSqlStorage` on `factory` (the `bot_state` table), made with the
        commands on the first text message."""
        super().__init__()
        self._factory = factory
        self._card_actions = card_actions
        self._on_change = on_change
        self._clock = clock
        self._storage = storage
        self._text_commands: AgentsTextCommands | None = None

    @property
    def _commands(self) -> AgentsTextCommands:
        # the SDK's dialogs (with their recognizers) cost ~18 MB: loaded on the first text
        # message, not at start, since most processes only ever answer card clicks
        if self._text_commands is None:
            from bot.teams.agents.storage import AgentsSqlStorage
            from dialogs.agents_commands import AgentsTextCommands

            self._text_commands = AgentsTextCommands(
                self._factory,
                storage=self._storage or AgentsSqlStorage(self._factory),
                clock=self._clock,
                help_commands=HELP_COMMANDS,
            )
        return self._text_commands

    async def _remember(self, activity: Activity) -> None:
        await references.remember_in(self._factory, activity, on_change=self._on_change)

    async def on_installation_update_add(self, turn_context: Turn) -> None:
        await self._remember(turn_context.activity)

    async def on_installation_update_remove(self, turn_context: Turn) -> None:
        await references.forget_in(self._factory, turn_context.activity)

    async def on_conversation_update_activity(self, turn_context: Turn) -> None:
        await self._remember(turn_context.activity)
        await super().on_conversation_update_activity(turn_context)

    async def on_message_activity(self, turn_context: Turn) -> None:
        """Text commands (`dialogs.agents_commands`), in the personal chat only: a list of
        patients asked for in a channel would be shown to the whole channel.

        The commands load and save their dialog state themselves (a state object per
        turn: the SDK's `AgentState` caches on the instance); a command that fails clears
        the state, says so in the chat and re-raises for the endpoint to log.
        """
        await self._remember(turn_context.activity)
        conversation = turn_context.activity.conversation
        if getattr(conversation, "conversation_type", None) != "personal":
            await turn_context.send_activity(MessageFactory.text(PERSONAL_CHAT_ONLY))
            return
        # the adapter's turn context is the SDK's TurnContext
        await self._commands.on_message(cast(TurnContext, turn_context))

    async def on_invoke_activity(self, turn_context: Turn) -> InvokeResponse | None:
        activity = turn_context.activity
        if activity.name != CARD_ACTION:
            return await super().on_invoke_activity(turn_context)
        # `activity.value` is the raw JSON (its `trigger` intact); the SDK's
        # AdaptiveCardInvokeValue would drop `trigger`
        sender = activity.from_property
        actor_aad: Any = getattr(sender, "aad_object_id", None) if sender else None
        answer = await self._card_actions.answer(activity.value, actor_aad, activity.id)
        return InvokeResponse(status=answer.status, body=answer.body)
