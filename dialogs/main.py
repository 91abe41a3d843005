"""The text-command dialog of the personal chat, on botbuilder-dialogs.

`TextCommands.on_message` answers one message. Most commands are answered in the turn
they arrive; `ärende` without a number asks "Vilket ärende?" with a `TextPrompt`, and the
next message answers it. The dialog stack lives in the conversation state behind
`accessor` (in production `SqlStorage`, the `bot_state` table), which the caller saves at
the end of the turn, so the question survives a restart and works across processes.

While the question is open, another command ("uppgifter", "ärende 12", "hjälp") replaces
it and "avbryt" drops it. An answer that is not a number is asked again; after
`MAX_ATTEMPTS` such answers the question is dropped with a short note.

Dialog ids are stored in the state: renaming them strands open questions, which the
handler clears on the failed turn (see `FrakturkedjanBot.on_message_activity`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from botbuilder.core import MessageFactory, StatePropertyAccessor, TurnContext
from botbuilder.dialogs import (
    ComponentDialog,
    DialogContext,
    DialogSet,
    DialogTurnResult,
    DialogTurnStatus,
    PromptOptions,
    PromptValidatorContext,
    TextPrompt,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.schema import Activity, Attachment
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction
from bot.messaging import views
from cards.render import CONTENT_TYPE
from dialogs.help import help_reply
from dialogs.my_cases import my_cases
from dialogs.my_followups import my_followups
from dialogs.one_case import one_case
from dialogs.open_tasks import open_tasks
from dialogs.replies import Reply
from dialogs.text import Command, CommandName, case_number, parse

__all__ = [
    "ASK_CASE",
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

ASK_CASE = "Vilket ärende? Skriv ärendets nummer, till exempel 12."
RETRY_CASE = "Skriv ärendets nummer med siffror, till exempel 12, eller avbryt."
GAVE_UP = "Inget ärende valt. Skriv ärende och numret när du vill, till exempel ärende 12."
CANCELLED = "Avbrutet."
NOTHING_TO_CANCEL = "Det finns inget att avbryta. Skriv hjälp för att se kommandona."
MAX_ATTEMPTS = 3

_STEPS = "commands"
_CASE_PROMPT = "case_number"


class ListCommand(Protocol):
    """A command that lists what the sender may see, auditing each case shown."""

    async def __call__(
        self, session: AsyncSession, *, actor_aad: str | None, now: datetime
    ) -> Reply: ...


LISTS: dict[CommandName, ListCommand] = {
    "my_cases": my_cases,
    "tasks": open_tasks,
    "followups": my_followups,
}


class Answers:
    """Runs one command in one transaction (its audit rows commit before it is shown) and
    sends the reply."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
        help_commands: Sequence[Mapping[str, str]],
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._help = [dict(c) for c in help_commands]

    async def answer(self, turn_context: TurnContext, command: Command) -> None:
        """Answer a command that needs no question ("ärende" with its number included)."""
        if command.name == "case" and command.case_id is not None:
            await self.show_case(turn_context, command.case_id)
            return
        listing = LISTS.get(command.name)
        reply: Reply
        if listing is not None:
            async with transaction(self._factory) as session:
                reply = await listing(
                    session, actor_aad=_sender_aad(turn_context), now=self._clock()
                )
        elif command.name == "cancel":
            reply = Reply(text=NOTHING_TO_CANCEL)
        else:  # help, and any text that is not a command
            reply = help_reply(self._help)
        await send(turn_context, reply)

    async def show_case(self, turn_context: TurnContext, case_id: int) -> None:
        """The case's card, recorded once posted so that it is kept current."""
        async with transaction(self._factory) as session:
            reply = await one_case(
                session, case_id=case_id, actor_aad=_sender_aad(turn_context), now=self._clock()
            )
        posted = await send(turn_context, reply)
        conversation = turn_context.activity.conversation
        if reply.card is not None and reply.shows is not None and posted and conversation:
            shown_case, unit_id, person_aad = reply.shows
            async with transaction(self._factory) as session:
                views.remember_command_card(
                    session,
                    reply.card,
                    person_aad=person_aad,
                    case_id=shown_case,
                    unit_id=unit_id,
                    conversation_id=conversation.id,
                    activity_id=posted,
                )


class CommandDialog(ComponentDialog):  # type: ignore[misc]
    """Route a message to its command; for "ärende" without a number, ask which one."""

    def __init__(self, answers: Answers) -> None:
        super().__init__(CommandDialog.__name__)
        self._answers = answers
        self.add_dialog(WaterfallDialog(_STEPS, [self._route, self._asked_case]))
        self.add_dialog(TextPrompt(_CASE_PROMPT, _case_number_given))
        self.initial_dialog_id = _STEPS

    async def on_continue_dialog(self, inner_dc: DialogContext) -> DialogTurnResult:
        """A command typed while the question is open replaces it; "avbryt" drops it."""
        command = parse(inner_dc.context.activity.text)
        if command.name == "cancel":
            await inner_dc.context.send_activity(MessageFactory.text(CANCELLED))
            return await inner_dc.cancel_all_dialogs()
        if command.name != "unknown":
            await inner_dc.cancel_all_dialogs()
            return await inner_dc.begin_dialog(_STEPS)
        return await super().on_continue_dialog(inner_dc)

    async def _route(self, step: WaterfallStepContext) -> DialogTurnResult:
        command = parse(step.context.activity.text)
        if command.name == "case" and command.case_id is None:
            return await step.prompt(
                _CASE_PROMPT,
                PromptOptions(
                    prompt=MessageFactory.text(ASK_CASE),
                    retry_prompt=MessageFactory.text(RETRY_CASE),
                ),
            )
        await self._answers.answer(step.context, command)
        return await step.end_dialog()

    async def _asked_case(self, step: WaterfallStepContext) -> DialogTurnResult:
        number = case_number(step.result if isinstance(step.result, str) else None)
        if number is None:  # the validator gave up after MAX_ATTEMPTS
            await step.context.send_activity(MessageFactory.text(GAVE_UP))
        else:
            await self._answers.show_case(step.context, number)
        return await step.end_dialog()


async def _case_number_given(prompt: PromptValidatorContext) -> bool:
    """A number answers the question; after MAX_ATTEMPTS other answers it is given up."""
    if prompt.recognized.succeeded and case_number(prompt.recognized.value) is not None:
        return True
    return bool(prompt.options.number_of_attempts >= MAX_ATTEMPTS - 1)


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
        self._dialogs.add(CommandDialog(Answers(factory, clock=clock, help_commands=help_commands)))

    async def on_message(self, turn_context: TurnContext) -> None:
        """Continue an open question, or start the command dialog for this message."""
        dialog_context = await self._dialogs.create_context(turn_context)
        result = await dialog_context.continue_dialog()
        if result.status == DialogTurnStatus.Empty:
            await dialog_context.begin_dialog(CommandDialog.__name__)


async def send(turn_context: TurnContext, reply: Reply) -> str | None:
    """Send a reply as a card message (with its notification summary) or a text message;
    the id Teams gave the message, if any."""
    activity: Activity
    if reply.card is not None:
        activity = MessageFactory.attachment(
            Attachment(content_type=CONTENT_TYPE, content=reply.card)
        )
        activity.summary = reply.summary
    else:
        activity = MessageFactory.text(reply.text or "")
    response = await turn_context.send_activity(activity)
    posted = getattr(response, "id", None)
    return posted if isinstance(posted, str) and posted else None


def _sender_aad(turn_context: TurnContext) -> str | None:
    sender = turn_context.activity.from_property
    aad = getattr(sender, "aad_object_id", None) if sender else None
    return aad if isinstance(aad, str) and aad else None
