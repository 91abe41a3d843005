"""The text commands' turn around the dialog, on both runtimes: saving, conflicts, failures.
Run in process (`tests/dialogs/chats.py`) with the SDK's in-memory storage, so that storage
can misbehave."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import dialogs.commands
from dialogs.commands import ASK_CASE, COMMAND_FAILED
from tests.dialogs.chats import STATE_KEY, chat_on, conflicting_storage

Factory = async_sessionmaker[AsyncSession]


async def test_the_question_is_kept_in_the_storage_between_turns(
    factory: Factory, runtime: str
) -> None:
    chat = chat_on(runtime, factory)
    await chat.send("ärende")
    assert chat.replies() == [ASK_CASE]
    assert list(chat.stored()) == [STATE_KEY]
    await chat.send("999999")
    assert chat.replies() == ["Ärende 999999 finns inte. Kontrollera numret."]


async def test_a_conflicting_save_keeps_the_answer_and_warns(
    factory: Factory, runtime: str, caplog: pytest.LogCaptureFixture
) -> None:
    chat = chat_on(runtime, factory, conflicting_storage(runtime))
    with caplog.at_level(logging.WARNING, logger="frakturkedjan.teams"):
        await chat.send("ärende")
    assert chat.replies() == [ASK_CASE]
    assert "dialog state saved by a concurrent turn" in caplog.text


async def test_a_failed_command_clears_the_question_and_says_so(
    factory: Factory, runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = chat_on(runtime, factory)
    await chat.send("ärende")
    assert chat.replies() == [ASK_CASE]

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database gone")

    monkeypatch.setattr(dialogs.commands, "one_case", broken)
    with pytest.raises(RuntimeError):  # the adapter logs it and answers 500
        await chat.send("12")
    assert chat.replies() == [COMMAND_FAILED]
    assert chat.stored() == {}  # nobody stays stuck in the question

    monkeypatch.undo()
    await chat.send("12")
    assert chat.replies() == ["Frakturkedjan – kommandon"]  # a number alone: the help card
