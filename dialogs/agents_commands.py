"""The text-command dialog of the personal chat, on the Agents SDK's dialogs
(`microsoft_agents.hosting.dialogs`, `TEAMS_SDK=agents`): the steps of `dialogs.commands`,
as `dialogs.main` runs them on botbuilder.

`AgentsTextCommands.on_message` runs one whole turn of the dialog, state included:

- a new `ConversationState` each turn. The SDK caches the loaded state on the
  `AgentState` instance and saves from there, so one instance shared by concurrent turns
  writes one conversation's dialog stack under another's key;
- the dialog stack is read from and saved to `storage` (in production `AgentsSqlStorage`,
  the `bot_state` table) at the end of the turn, so the question survives a restart and
  works across processes. A conflicting save (two messages of one chat at once) keeps the
  other turn's state;
- a turn that fails deletes the state, so that nobody is stuck in a broken question, says
  `COMMAND_FAILED`, and re-raises;
- a state the storage will not restore (one that botbuilder left, naming its classes, after
  a switch of runtime) is dropped, and the message is answered as a new one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from microsoft_agents.activity import Attachment
from microsoft_agents.hosting.core import ConversationState, MessageFactory, TurnContext
from microsoft_agents.hosting.core.storage import Storage
from microsoft_agents.hosting.dialogs import (
    ComponentDialog,
    DialogSet,
    DialogTurnStatus,
    PromptOptions,
    TextPrompt,
    WaterfallDialog,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.botstate.store import UnsafeStateError
from dialogs.commands import (
    COMMAND_DIALOG,
    COMMAND_FAILED,
    DIALOG_STATE,
    Answers,
    CommandSteps,
    DialogKit,
    reply_sender,
)

__all__ = ["AGENTS", "AgentsCommandDialog", "AgentsTextCommands", "send"]

log = logging.getLogger("frakturkedjan.teams")


AGENTS = DialogKit(
    message_factory=MessageFactory,
    attachment=Attachment,
    waterfall_dialog=WaterfallDialog,
    text_prompt=TextPrompt,
    prompt_options=PromptOptions,
)
send = reply_sender(AGENTS)


class AgentsCommandDialog(CommandSteps, ComponentDialog):
    """Route a message to its command; for "ärende" without a number, ask which one."""

    kit = AGENTS


class AgentsTextCommands:
    """Answers the personal chat's messages with the command dialog, its state in
    `storage`."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        storage: Storage,
        clock: Callable[[], datetime],
        help_commands: Sequence[Mapping[str, str]],
    ) -> None:
        self._storage = storage
        self._dialog = AgentsCommandDialog(
            Answers(factory, clock=clock, help_commands=help_commands, send=send)
        )

    async def on_message(self, turn_context: TurnContext) -> None:
        """Continue an open question, or start the command dialog for this message; save
        the dialog stack. A failure clears it, says so and re-raises."""
        state = ConversationState(self._storage)  # per turn: the SDK caches on the instance
        dialogs = DialogSet(state.create_property(DIALOG_STATE))
        dialogs.add(self._dialog)
        try:
            await self._load(state, turn_context)
            dialog_context = await dialogs.create_context(turn_context)
            result = await dialog_context.continue_dialog()  # type: ignore[no-untyped-call]
            if result.status == DialogTurnStatus.Empty:
                await dialog_context.begin_dialog(COMMAND_DIALOG)
        except Exception:
            with contextlib.suppress(Exception):  # the database may be what failed
                await self._storage.delete([state.get_storage_key(turn_context)])
            with contextlib.suppress(Exception):
                await turn_context.send_activity(MessageFactory.text(COMMAND_FAILED))
            raise
        try:
            await state.save(turn_context)
        except KeyError:
            log.warning("dialog state saved by a concurrent turn; this turn's state dropped")

    async def _load(self, state: ConversationState, turn_context: TurnContext) -> None:
        try:
            await state.load(turn_context)
        except UnsafeStateError:
            log.warning("dialog state this runtime does not restore dropped")
            await self._storage.delete([state.get_storage_key(turn_context)])
            await state.load(turn_context, force=True)
