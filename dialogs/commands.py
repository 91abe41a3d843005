"""The text-command dialog without its SDK: what each step decides and says, for the dialogs
of both Teams runtimes (`dialogs.main` on botbuilder-dialogs, `dialogs.agents_commands` on
the Agents SDK's dialogs, whose API is a near 1:1 port).

Most commands are answered in the turn they arrive; `ärende` without a number asks
"Vilket ärende?" with a text prompt, and the next message answers it. While the question is
open, another command ("uppgifter", "ärende 12", "hjälp") replaces it and "avbryt" drops
it. An answer that is not a number is asked again; after `MAX_ATTEMPTS` such answers the
question is dropped with a short note.

`CommandSteps` holds the dialog, written against what both SDKs' dialog classes and
contexts share; each SDK's `CommandDialog` mixes it into its `ComponentDialog` and names
the SDK's classes in a `DialogKit`. `Answers` runs a command and sends its reply with the
send function given to it (`reply_sender(kit)` makes the SDK's).

Dialog ids are stored in the conversation state: renaming them strands open questions,
which the handlers clear on the failed turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

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
    "CASE_PROMPT",
    "COMMAND_DIALOG",
    "COMMAND_FAILED",
    "DIALOG_STATE",
    "GAVE_UP",
    "LISTS",
    "MAX_ATTEMPTS",
    "NOTHING_TO_CANCEL",
    "RETRY_CASE",
    "STEPS",
    "Answers",
    "CommandSteps",
    "DialogKit",
    "ListCommand",
    "SendReply",
    "Turn",
    "case_number_given",
    "reply_sender",
]

ASK_CASE = "Vilket ärende? Skriv ärendets nummer, till exempel 12."
RETRY_CASE = "Skriv ärendets nummer med siffror, till exempel 12, eller avbryt."
GAVE_UP = "Inget ärende valt. Skriv ärende och numret när du vill, till exempel ärende 12."
CANCELLED = "Avbrutet."
NOTHING_TO_CANCEL = "Det finns inget att avbryta. Skriv hjälp för att se kommandona."
COMMAND_FAILED = "Något gick fel. Försök igen om en stund."
MAX_ATTEMPTS = 3

COMMAND_DIALOG = "CommandDialog"
STEPS = "commands"
CASE_PROMPT = "case_number"
DIALOG_STATE = "DialogState"
"""The conversation state's property that holds the dialog stack."""


class Turn(Protocol):
    """What the commands use of a turn, the same on both SDKs: the activity
    (`from.aadObjectId`, `conversation.id`, `text`) and sending."""

    @property
    def activity(self) -> Any: ...

    async def send_activity(self, activity_or_text: Any) -> Any: ...


@dataclass(frozen=True)
class DialogKit:
    """The classes of one SDK that the commands use; both SDKs call them alike."""

    message_factory: Any  # MessageFactory: .text(str), .attachment(Attachment)
    attachment: Callable[..., Any]  # Attachment(content_type=…, content=…)
    waterfall_dialog: Callable[..., Any]  # WaterfallDialog(id, steps)
    text_prompt: Callable[..., Any]  # TextPrompt(id, validator)
    prompt_options: Callable[..., Any]  # PromptOptions(prompt=…, retry_prompt=…)


TurnT = TypeVar("TurnT", bound=Turn)
SendReply = Callable[[TurnT, Reply], Awaitable[str | None]]
"""Sends a reply in the turn; the id Teams gave the message, if any."""


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


class Answers(Generic[TurnT]):
    """Runs one command in one transaction (its audit rows commit before it is shown) and
    sends the reply with `send`, the SDK's."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
        help_commands: Sequence[Mapping[str, str]],
        send: SendReply[TurnT],
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._help = [dict(c) for c in help_commands]
        self._send = send

    async def say(self, turn: TurnT, text: str) -> None:
        """A plain text message."""
        await self._send(turn, Reply(text=text))

    async def answer(self, turn: TurnT, command: Command) -> None:
        """Answer a command that needs no question ("ärende" with its number included)."""
        if command.name == "case" and command.case_id is not None:
            await self.show_case(turn, command.case_id)
            return
        listing = LISTS.get(command.name)
        reply: Reply
        if listing is not None:
            async with transaction(self._factory) as session:
                reply = await listing(session, actor_aad=_sender_aad(turn), now=self._clock())
        elif command.name == "cancel":
            reply = Reply(text=NOTHING_TO_CANCEL)
        else:  # help, and any text that is not a command
            reply = help_reply(self._help)
        await self._send(turn, reply)

    async def show_case(self, turn: TurnT, case_id: int) -> None:
        """The case's card, recorded once posted so that it is kept current."""
        async with transaction(self._factory) as session:
            reply = await one_case(
                session, case_id=case_id, actor_aad=_sender_aad(turn), now=self._clock()
            )
        posted = await self._send(turn, reply)
        conversation = turn.activity.conversation
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


class CommandSteps:
    """The command dialog: routes a message to its command; for "ärende" without a number
    it asks which one. Mixed in before the SDK's `ComponentDialog`, whose `__init__` and
    `on_continue_dialog` it extends; `kit` (a class attribute of the SDK's dialog) names
    the SDK's classes. Dialog and step contexts are the SDK's: only what the two SDKs share
    is used."""

    kit: DialogKit
    if TYPE_CHECKING:  # the ComponentDialog's
        initial_dialog_id: Any

        def add_dialog(self, dialog: Any) -> Any: ...

    def __init__(self, answers: Answers[Any]) -> None:
        super().__init__(COMMAND_DIALOG)  # type: ignore[call-arg]  # the ComponentDialog's
        self._answers = answers
        self.add_dialog(self.kit.waterfall_dialog(STEPS, [self.route, self.asked_case]))
        self.add_dialog(self.kit.text_prompt(CASE_PROMPT, case_number_given))
        self.initial_dialog_id = STEPS

    async def on_continue_dialog(self, inner_dc: Any) -> Any:
        """A command typed while the question is open replaces it; "avbryt" drops it."""
        command = parse(inner_dc.context.activity.text)
        if command.name == "cancel":
            await self._answers.say(inner_dc.context, CANCELLED)
            return await inner_dc.cancel_all_dialogs()
        if command.name != "unknown":
            await inner_dc.cancel_all_dialogs()
            return await inner_dc.begin_dialog(STEPS)
        return await super().on_continue_dialog(inner_dc)  # type: ignore[misc]

    async def route(self, step: Any) -> Any:
        """Answer the command, or ask which case "ärende" without a number means."""
        command = parse(step.context.activity.text)
        if command.name == "case" and command.case_id is None:
            message = self.kit.message_factory
            question = self.kit.prompt_options(
                prompt=message.text(ASK_CASE), retry_prompt=message.text(RETRY_CASE)
            )
            return await step.prompt(CASE_PROMPT, question)
        await self._answers.answer(step.context, command)
        return await step.end_dialog()

    async def asked_case(self, step: Any) -> Any:
        """The answer to "Vilket ärende?": the case, or a note that the question is dropped."""
        number = case_number(step.result if isinstance(step.result, str) else None)
        if number is None:  # the validator gave up after MAX_ATTEMPTS
            await self._answers.say(step.context, GAVE_UP)
        else:
            await self._answers.show_case(step.context, number)
        return await step.end_dialog()


async def case_number_given(prompt: Any) -> bool:
    """The prompt's validator: a number answers the question; after MAX_ATTEMPTS other
    answers it is given up (the step then says `GAVE_UP`)."""
    if prompt.recognized.succeeded and case_number(prompt.recognized.value) is not None:
        return True
    return bool(prompt.options.number_of_attempts >= MAX_ATTEMPTS - 1)


def reply_sender(kit: DialogKit) -> SendReply[Any]:
    """The send function of `kit`'s SDK: a reply as a card message (with its notification
    summary) or a text message; the id Teams gave the message, if any."""

    async def send(turn: Turn, reply: Reply) -> str | None:
        if reply.card is not None:
            attachment = kit.attachment(content_type=CONTENT_TYPE, content=reply.card)
            activity = kit.message_factory.attachment(attachment)
            if reply.summary:  # the Agents SDK refuses an empty one
                activity.summary = reply.summary
        else:
            activity = kit.message_factory.text(reply.text or "")
        posted = getattr(await turn.send_activity(activity), "id", None)
        return posted if isinstance(posted, str) and posted else None

    return send


def _sender_aad(turn: Turn) -> str | None:
    sender = turn.activity.from_property
    aad = getattr(sender, "aad_object_id", None) if sender else None
    return aad if isinstance(aad, str) and aad else None
