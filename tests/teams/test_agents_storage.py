"""AgentsSqlStorage on SQLite and PostgreSQL: the Agents SDK's `Storage` contract on the
`bot_state` table, the e_tag carried inside the item's JSON, and the class allow-list.
The table's own semantics (transactions, concurrent writers, crazy keys) are
`StateTable`'s, tested through `SqlStorage` in test_storage.py."""

from __future__ import annotations

from typing import Any

import pytest
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import ConversationState, TurnContext
from microsoft_agents.hosting.core.state.agent_state import CachedAgentState
from microsoft_agents.hosting.dialogs import DialogInstance, DialogState, PromptOptions
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.botstate.models import BotStateItem
from bot.botstate.store import UnsafeStateError
from bot.teams.agents.storage import AgentsSqlStorage
from bot.teams.storage import SqlStorage
from tests.dialogs.chats import STATE_KEY, agents_message, recording_adapter


@pytest.fixture
def storage(factory: async_sessionmaker[AsyncSession]) -> AgentsSqlStorage:
    return AgentsSqlStorage(factory)


class Profile:
    """A plain object of the application's own."""


def item(**state: Any) -> CachedAgentState:
    return CachedAgentState(dict(state))


async def read_one(storage: AgentsSqlStorage, key: str) -> Any:
    """The item under `key` (a CachedAgentState: `.state` is its dict)."""
    found = await storage.read([key], target_cls=CachedAgentState)
    return found[key]


async def test_an_item_comes_back_as_the_target_class_with_its_etag(
    storage: AgentsSqlStorage,
) -> None:
    await storage.write({"conv": item(count=1, text="Benskörhet åäö")})

    read = await read_one(storage, "conv")

    assert type(read) is CachedAgentState
    state: dict[str, Any] = read.state
    assert (state["count"], state["text"]) == (1, "Benskörhet åäö")
    assert len(state["e_tag"]) == 32
    assert await storage.read(["unknown"], target_cls=CachedAgentState) == {}


async def test_the_etag_read_is_checked_on_write(storage: AgentsSqlStorage) -> None:
    await storage.write({"conv": item(count=1)})
    first = await read_one(storage, "conv")
    second = await read_one(storage, "conv")

    first.state["count"] = 2
    await storage.write({"conv": first})
    second.state["count"] = 3
    with pytest.raises(KeyError, match="Etag conflict"):
        await storage.write({"conv": second})

    kept = await read_one(storage, "conv")
    assert kept.state["count"] == 2
    assert kept.state["e_tag"] not in (first.state["e_tag"], second.state["e_tag"])


async def test_no_etag_or_a_wildcard_always_wins(storage: AgentsSqlStorage) -> None:
    await storage.write({"conv": item(count=1)})
    await storage.write({"conv": item(count=2)})
    assert (await read_one(storage, "conv")).state["count"] == 2
    await storage.write({"conv": item(count=3, e_tag="*")})
    assert (await read_one(storage, "conv")).state["count"] == 3


async def test_one_write_is_one_transaction(storage: AgentsSqlStorage) -> None:
    await storage.write({"a": item(n=1), "b": item(n=1)})
    stale = await read_one(storage, "b")
    await storage.write({"b": item(n=2)})

    with pytest.raises(KeyError):
        await storage.write({"a": item(n=99), "b": stale})

    assert (await read_one(storage, "a")).state["n"] == 1


async def test_delete_takes_a_set_and_ignores_unknown_keys(storage: AgentsSqlStorage) -> None:
    await storage.write({"a": item(n=1), "b": item(n=1)})
    await storage.delete({"a", "unknown"})  # type: ignore[arg-type]  # AgentState passes a set
    assert list(await storage.read(["a", "b"], target_cls=CachedAgentState)) == ["b"]


async def test_no_keys_or_changes_are_refused_as_memory_storage_does(
    storage: AgentsSqlStorage,
) -> None:
    for call in (
        storage.read([], target_cls=CachedAgentState),
        storage.write({}),
        storage.delete([]),
    ):
        with pytest.raises(ValueError):
            await call


async def test_the_dialog_state_round_trips_through_the_conversation_state(
    storage: AgentsSqlStorage, factory: async_sessionmaker[AsyncSession]
) -> None:
    """The SDK's dialog state is not JSON (dataclasses, PromptOptions, pydantic
    Activities); jsonpickle stores it, from the allow-list."""
    context = TurnContext(recording_adapter(), agents_message("ärende"))
    state = ConversationState(storage)
    accessor = state.create_property("DialogState")
    dialog_state: Any = await accessor.get(context, DialogState)
    options = PromptOptions(prompt=Activity(type="message", text="Vilket ärende?"))
    dialog_state.dialog_stack.append(DialogInstance(id="x", state={"options": options}))
    await state.save(context)

    later = TurnContext(recording_adapter(), agents_message("12"))
    again: Any = await ConversationState(storage).create_property("DialogState").get(later)
    [instance] = again.dialog_stack
    assert instance.state["options"].prompt.text == "Vilket ärende?"
    assert isinstance(instance.state["options"].prompt, Activity)

    fresh = ConversationState(storage)
    await fresh.load(later)
    await fresh.delete(later)
    async with factory() as session:
        assert (await session.scalars(select(BotStateItem.key))).all() == []


async def test_botbuilder_classes_and_planted_documents_are_refused(
    storage: AgentsSqlStorage, factory: async_sessionmaker[AsyncSession]
) -> None:
    from botbuilder.dialogs import DialogState as BotbuilderDialogState

    await SqlStorage(factory).write({STATE_KEY: {"DialogState": BotbuilderDialogState()}})
    with pytest.raises(UnsafeStateError, match="botbuilder"):
        await storage.read([STATE_KEY], target_cls=CachedAgentState)

    with pytest.raises(UnsafeStateError, match="Profile"):
        await storage.write({"profile": item(user=Profile())})
    allowing = AgentsSqlStorage(factory, extra_modules=[__name__])
    await allowing.write({"profile": item(user=Profile())})
    assert isinstance((await read_one(allowing, "profile")).state["user"], Profile)
