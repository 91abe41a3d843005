"""The text-command dialog of the personal chat, on botbuilder-dialogs.

`TextCommands.on_message` answers one message with the steps of `dialogs.commands`
(shared with the Agents SDK's `dialogs.agents_commands`). The dialog stack lives in the
conversation state behind `accessor` (in production `SqlStorage`, the `bot_state` table),
which the caller saves at the end of the turn, so the question survives a restart and works
across processes. The handler clears it on a failed turn (see
`FrakturkedjanBot.on_message_activity`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from botbuilder.core import MessageFactory, StatePropertyAccessor, TurnContext
from botbuilder.dialogs import (
    ComponentDialog,
    DialogSet,
    DialogTurnStatus,
    PromptOptions,
    TextPrompt,
    WaterfallDialog,
)
from botbuilder.schema import Attachment
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.commands import (
    ASK_CASE,
    CANCELLED,
    COMMAND_DIALOG,
    GAVE_UP,
    LISTS,
    MAX_ATTEMPTS,
    NOTHING_TO_CANCEL,
    RETRY_CASE,
    Answers,
    CommandSteps,
    DialogKit,
    ListCommand,
    reply_sender,
)

__all__ = [
    "ASK_CASE",
    "BOTBUILDER",
    "CANCELLED",
    "GAVE_UP",
    "LISTS",
    "MAX_ATTEMPTS",
    "NOTHING_TO_CANCEL",
    "RETRY_CASE",
    "Answers",
    "CommandDialog",
    "ListCommand",
    "TextCommands",
    "send",
]


BOTBUILDER = DialogKit(
    message_factory=MessageFactory,
    attachment=Attachment,
    waterfall_dialog=WaterfallDialog,
    text_prompt=TextPrompt,
    prompt_options=PromptOptions,
)
send = reply_sender(BOTBUILDER)


class CommandDialog(CommandSteps, ComponentDialog):  # type: ignore[misc]
    """Route a message to its command; for "ärende" without a number, ask which one."""

    kit = BOTBUILDER


class TextCommands:
    """Answers the personal chat's messages with the command dialog."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        accessor: StatePropertyAccessor,
        clock: Callable[[], datetime],
        help_commands: Sequence[Mapping[str, str]],
    ) -> None:
        """`accessor` is a property of the conversation state that holds the dialog stack."""
        self._dialogs = DialogSet(accessor)
        self._dialogs.add(
            CommandDialog(Answers(factory, clock=clock, help_commands=help_commands, send=send))
        )

    async def on_message(self, turn_context: TurnContext) -> None:
        """Continue an open question, or start the command dialog for this message."""
        dialog_context = await self._dialogs.create_context(turn_context)
        result = await dialog_context.continue_dialog()
        if result.status == DialogTurnStatus.Empty:
            await dialog_context.begin_dialog(COMMAND_DIALOG)
