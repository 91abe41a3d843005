"""`AgentsTextCommands` with its state in `AgentsSqlStorage`, on both databases: the Agents
SDK's state traps (state cached on the `AgentState` instance, dialog state that is not
JSON, no e_tags) and what the text commands do across turns and processes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from microsoft_agents.hosting.core import MemoryStorage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import transaction, utcnow
from bot.outbox.models import OutboxMessage
from bot.teams.agents.storage import AgentsSqlStorage
from bot.teams.storage import SqlStorage
from bot.teams.texts import HELP_COMMANDS
from dialogs.agents_commands import AgentsTextCommands
from dialogs.commands import ASK_CASE, GAVE_UP, RETRY_CASE
from tests.dialogs.chats import CONVERSATION, STATE_KEY, AgentsChat, agents_message
from tests.harness import ANNA, MARIA
from tests.helpers import ingest_sample

Factory = async_sessionmaker[AsyncSession]


def chat(factory: Factory, storage: Any) -> AgentsChat:
    """A new `AgentsTextCommands` on `storage`, as a fresh bot process would have."""
    return AgentsChat(
        storage,
        AgentsTextCommands(factory, storage=storage, clock=utcnow, help_commands=HELP_COMMANDS),
    )


class GatedStorage(AgentsSqlStorage):
    """Holds every read until `parties` turns have read: their turns then run side by side."""

    def __init__(self, factory: Factory, parties: int) -> None:
        super().__init__(factory)
        self.barrier = asyncio.Barrier(parties)

    async def read(self, keys: list[str], **kwargs: Any) -> Any:
        found = await super().read(keys, **kwargs)
        await asyncio.wait_for(self.barrier.wait(), 5)
        return found


async def test_the_question_is_answered_by_another_process(factory: Factory) -> None:
    storage = AgentsSqlStorage(factory)
    first = chat(factory, storage)
    await first.send("ärende")
    assert first.replies() == [ASK_CASE]

    [document] = (await storage._table.read([STATE_KEY])).values()  # not JSON: jsonpickle
    [instance] = document["DialogState"].dialog_stack
    assert type(instance).__module__.startswith("microsoft_agents.")

    second = chat(factory, AgentsSqlStorage(factory))
    await second.send("tolv")
    assert second.replies() == [RETRY_CASE]
    await second.send("999999")
    assert second.replies() == ["Ärende 999999 finns inte. Kontrollera numret."]
    await second.send("999999")  # the question is closed: a number alone gets the help card
    assert second.replies() == ["Frakturkedjan – kommandon"]


async def test_the_question_is_given_up_after_three_answers_that_are_no_number(
    factory: Factory,
) -> None:
    talk = chat(factory, AgentsSqlStorage(factory))
    await talk.send("ärende")
    for _ in range(2):
        await talk.send("vet inte")
    await talk.send("vet inte")
    assert talk.replies() == [ASK_CASE, RETRY_CASE, RETRY_CASE, GAVE_UP]


async def test_avbryt_drops_the_question_and_another_command_replaces_it(
    factory: Factory,
) -> None:
    talk = chat(factory, AgentsSqlStorage(factory))
    await talk.send("ärende")
    await talk.send("avbryt")
    await talk.send("avbryt")
    await talk.send("ärende")
    await talk.send("hjälp")
    assert talk.replies() == [
        ASK_CASE,
        "Avbrutet.",
        "Det finns inget att avbryta. Skriv hjälp för att se kommandona.",
        ASK_CASE,
        "Frakturkedjan – kommandon",
    ]


async def test_interleaved_turns_of_two_chats_keep_their_own_state(factory: Factory) -> None:
    """One `ConversationState` shared by the turns would save Anna's question under Maria's
    key (the SDK caches the state on the instance): a new one per turn keeps each apart."""
    storage = GatedStorage(factory, parties=2)
    talk = chat(factory, storage)
    anna_chat = "a:personal-anna"
    await asyncio.gather(
        talk.turn(agents_message("ärende")),
        talk.turn(agents_message("hjälp", person=ANNA, conversation=anna_chat)),
    )

    anna_key = f"msteams/conversations/{anna_chat}"
    stored = await storage._table.read([STATE_KEY, anna_key])
    maria, anna = (stored[key]["DialogState"].dialog_stack for key in (STATE_KEY, anna_key))
    assert (len(maria), len(anna)) == (1, 0)  # Maria's question open, Anna's turn done


async def test_a_save_that_lost_the_race_keeps_the_other_turns_state(
    factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    await chat(factory, AgentsSqlStorage(factory)).send("hjälp")  # a stored state: an e_tag
    storage = GatedStorage(factory, parties=2)
    talk = chat(factory, storage)
    with caplog.at_level(logging.WARNING, logger="frakturkedjan.teams"):
        await asyncio.gather(talk.send("ärende"), talk.send("ärende"))

    assert talk.replies() == [ASK_CASE, ASK_CASE]
    assert caplog.text.count("dialog state saved by a concurrent turn") == 1
    [document] = (await storage._table.read([STATE_KEY])).values()
    assert len(document["DialogState"].dialog_stack) == 1


async def test_a_state_botbuilder_left_is_dropped(
    factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    from botbuilder.dialogs import DialogInstance, DialogState

    left = DialogState([DialogInstance(id="CommandDialog", state={})])
    await SqlStorage(factory).write({STATE_KEY: {"DialogState": left}})

    talk = chat(factory, AgentsSqlStorage(factory))
    with caplog.at_level(logging.WARNING, logger="frakturkedjan.teams"):
        await talk.send("ärende")

    assert talk.replies() == [ASK_CASE]
    assert "dialog state this runtime does not restore dropped" in caplog.text
    [document] = (await AgentsSqlStorage(factory)._table.read([STATE_KEY])).values()
    assert type(document["DialogState"]).__module__.startswith("microsoft_agents.")


async def test_a_failure_to_read_the_state_says_so_and_raises(factory: Factory) -> None:
    class Broken(MemoryStorage):
        async def read(self, keys: list[str], **kwargs: Any) -> Any:
            raise ConnectionError("database gone")

    talk = chat(factory, Broken())
    with pytest.raises(ConnectionError):
        await talk.send("uppgifter")
    assert talk.replies() == ["Något gick fel. Försök igen om en stund."]


async def test_the_case_card_of_arende_n_is_recorded_as_posted(factory: Factory) -> None:
    case_id = await ingest_sample(factory, "01_osteoporosis_named.json", now=utcnow())
    talk = chat(factory, AgentsSqlStorage(factory))
    await talk.send(f"ärende {case_id}")
    [card] = talk.adapter.sent
    assert card.attachments[0].content["type"] == "AdaptiveCard"
    assert card.summary

    async with transaction(factory) as session:
        posted = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.purpose == "command_card")
            )
        ).all()
    assert [(p.case_id, p.conversation_id, p.activity_id) for p in posted] == [
        (case_id, CONVERSATION, "act-1")
    ]
    assert MARIA["aad"]  # Maria, MVA of the case's unit, may see it
