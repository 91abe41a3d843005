"""`FrakturkedjanBot.on_message_activity` around the dialog: saving, conflicts, failures.
Run on the SDK's TestAdapter with an in-memory storage, so that storage can misbehave."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botbuilder.core import MemoryStorage
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import dialogs.main
from bot.teams.handler import COMMAND_FAILED, FrakturkedjanBot
from dialogs.main import ASK_CASE
from tests.harness import BOT_ID, MARIA, TENANT

Factory = async_sessionmaker[AsyncSession]


class ConflictingStorage(MemoryStorage):  # type: ignore[misc]
    """Every write loses to a concurrent one, as `SqlStorage` reports it."""

    async def write(self, changes: dict[str, Any]) -> None:
        raise KeyError("Etag conflict.")


def adapter_for(bot: FrakturkedjanBot) -> TestAdapter:
    template = Activity(
        channel_id="msteams",
        service_url="https://smba.trafficmanager.net/emea/",
        from_property=ChannelAccount(
            id=MARIA["id"], name=MARIA["name"], aad_object_id=MARIA["aad"]
        ),
        recipient=ChannelAccount(id=BOT_ID, name="Frakturkedjan"),
        conversation=ConversationAccount(
            id="a:personal-maria", conversation_type="personal", tenant_id=TENANT
        ),
        channel_data={"tenant": {"id": TENANT}},
    )
    return TestAdapter(bot.on_turn, template_or_conversation=template)


def replies(adapter: TestAdapter) -> list[str]:
    said = [a.text or a.attachments[0].content["body"][0]["text"] for a in adapter.activity_buffer]
    adapter.activity_buffer.clear()
    return said


async def test_the_question_is_kept_in_the_storage_between_turns(factory: Factory) -> None:
    storage = MemoryStorage()
    adapter = adapter_for(FrakturkedjanBot(factory, storage=storage))
    await adapter.send("ärende")
    assert replies(adapter) == [ASK_CASE]
    [key] = storage.memory
    assert key == "msteams/conversations/a:personal-maria"
    await adapter.send("999999")
    assert replies(adapter) == ["Ärende 999999 finns inte. Kontrollera numret."]


async def test_a_conflicting_save_keeps_the_answer_and_warns(
    factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = adapter_for(FrakturkedjanBot(factory, storage=ConflictingStorage()))
    with caplog.at_level(logging.WARNING, logger="frakturkedjan.teams"):
        await adapter.send("ärende")
    assert replies(adapter) == [ASK_CASE]
    assert "dialog state saved by a concurrent turn" in caplog.text


async def test_a_failed_command_clears_the_question_and_says_so(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = MemoryStorage()
    adapter = adapter_for(FrakturkedjanBot(factory, storage=storage))
    await adapter.send("ärende")
    assert replies(adapter) == [ASK_CASE]

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database gone")

    monkeypatch.setattr(dialogs.main, "one_case", broken)
    with pytest.raises(RuntimeError):  # the adapter logs it and answers 500
        await adapter.send("12")
    assert replies(adapter) == [COMMAND_FAILED]
    assert storage.memory == {}  # nobody stays stuck in the question

    monkeypatch.undo()
    await adapter.send("12")
    assert replies(adapter) == ["Frakturkedjan – kommandon"]  # a number alone: the help card
