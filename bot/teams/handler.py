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

from bot.db import transaction, utcnow
from bot.metrics import Metrics
from bot.teams import actions, references
from bot.teams.adapter import traceback_without_messages
from bot.teams.invoke import (
    adaptive_card_error_response,
    adaptive_card_invoke_response,
    trigger_of,
)
from bot.teams.storage import SqlStorage

if TYPE_CHECKING:
    from dialogs.main import TextCommands

log = logging.getLogger("frakturkedjan.teams")

HELP_COMMANDS = [
    {"command": "hjälp", "description": "Visar den här hjälpen."},
    {
        "command": "mina ärenden",
        "description": (
            "Dina DXA-svar som väntar på beslut, och dina besök vars checklista du ännu inte "
            "har fyllt i."
        ),
    },
    {
        "command": "uppgifter",
        "description": (
            "Öppna uppgifter du kan bocka av (enhetens MVA-uppgifter och dina egna), "
            "tidigast förfallna först; för MVA först enhetens svar som väntar på fördelning."
        ),
    },
    {
        "command": "uppföljning",
        "description": (
            "Dina uppföljningar efter läkarbesök som är planerade till i dag eller försenade, "
            "tidigast planerade först."
        ),
    },
    {"command": "ärende <id>", "description": "Ett ärende med dess historik."},
]
PERSONAL_CHAT_ONLY = "Skriv kommandona i den personliga chatten med Frakturkedjan."
COMMAND_FAILED = "Något gick fel. Försök igen om en stund."


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
        actions.check_verbs()
        self._factory = factory
        self._metrics = metrics or Metrics()
        self._on_change = on_change
        self._clock = clock
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
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        sender = activity.from_property
        actor_aad = getattr(sender, "aad_object_id", None) if sender else None
        return await self.answer_card_action(activity.value, actor_aad, activity.id)

    async def answer_card_action(
        self, value: Any, actor_aad: str | None, activity_id: Any = None
    ) -> InvokeResponse:
        """A card click (`adaptiveCard/action`): the verb's service, and its card or error.

        `TeamsAdapter` calls this straight from the request's JSON (`CardActionBot`);
        `on_invoke_activity` for a click that comes through the SDK's turn. `value` and
        `activity_id` (the activity's raw `id`: a retried invoke has the same) may be any
        JSON. The answer is always an invoke answer: the card, a Swedish error for
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
                return adaptive_card_error_response(
                    actions.DATABASE_UNAVAILABLE, code="ServiceUnavailable"
                )
            log.error(
                "card action failed: verb=%s %s\n%s",
                label,
                _ids(action.get("data")),
                traceback_without_messages(exc),
            )
            return adaptive_card_error_response(
                "Något gick fel; inget sparades. Försök igen.", code="InternalError"
            )
        if answer.changed:
            self._on_change()
        if answer.decision:
            self._metrics.decisions.labels(answer.decision).inc()
        if answer.card is None:
            self._metrics.refused.labels(label).inc()
            return adaptive_card_error_response(answer.error or "Åtgärden kunde inte utföras.")
        return adaptive_card_invoke_response(answer.card)


def _ids(data: Any) -> dict[str, int]:
    """The case and task ids of a click's data, for the log (nothing else of it)."""
    if not isinstance(data, dict):
        return {}
    return {
        key: number
        for key in ("case_id", "task_id")
        if isinstance(number := data.get(key), int) and not isinstance(number, bool)
    }
