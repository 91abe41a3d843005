"""SqlStorage on SQLite and PostgreSQL: botbuilder's StorageBaseTests, ported, plus e_tag
conflicts, concurrent writers on separate engines, persistence and the class allow-list."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botbuilder.core import ConversationState, MessageFactory, StoreItem, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs import (
    Dialog,
    DialogSet,
    DialogTurnResult,
    PromptOptions,
    PromptValidatorContext,
    TextPrompt,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.botstate.models import BotStateItem, key_digest
from bot.db import create_engine, session_factory, transaction, utcnow
from bot.teams.storage import SqlStorage, UnsafeStateError


@pytest.fixture
async def state_factory(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(db_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def storage(state_factory: async_sessionmaker[AsyncSession]) -> SqlStorage:
    return SqlStorage(state_factory)


async def _stored_keys(factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with factory() as session:
        return list((await session.scalars(select(BotStateItem.key))).all())


class Profile:
    """A plain object of the application's own, stored with its __dict__."""

    def __init__(self, name: str, visits: int) -> None:
        self.name = name
        self.visits = visits


# ---------------------------------------------------------------- StorageBaseTests, ported


async def test_return_empty_object_when_reading_unknown_key(storage: SqlStorage) -> None:
    assert await storage.read(["unknown"]) == {}


async def test_handle_null_keys_when_reading(storage: SqlStorage) -> None:
    # MemoryStorage's branch of the base test: None (and no keys) read as nothing.
    assert await storage.read(None) == {}
    assert await storage.read([]) == {}


async def test_handle_null_keys_when_writing(storage: SqlStorage) -> None:
    with pytest.raises(Exception) as err:
        await storage.write(None)
    assert err.value.args[0] == "Changes are required when writing"


async def test_does_not_raise_when_writing_no_items(storage: SqlStorage) -> None:
    await storage.write([])  # type: ignore[arg-type]  # the base test passes a list
    await storage.write({})


async def test_create_object(storage: SqlStorage) -> None:
    store_items: dict[str, dict[str, Any]] = {
        "createPoco": {"id": 1},
        "createPocoStoreItem": {"id": 2, "e_tag": "*"},
    }

    await storage.write(store_items)
    read = await storage.read(store_items.keys())

    assert read["createPoco"]["id"] == 1
    assert read["createPocoStoreItem"]["id"] == 2
    assert read["createPoco"]["e_tag"]
    assert read["createPocoStoreItem"]["e_tag"] not in (None, "", "*")
    assert store_items["createPocoStoreItem"]["e_tag"] == "*"  # the caller's item is untouched


@pytest.mark.parametrize(
    "key",
    [
        '!@#$%^&*()_+??><":QASD~`',
        "åäöÅÄÖ/日本語/🦴/über",
        "msteams/conversations/a:1Xyz/users/29:1abc\\back/slash?x=1&y=%20#frag",
        "'; DROP TABLE bot_state; --",
        "k" * 10_000,
    ],
    ids=["punctuation", "unicode", "slashes", "quotes", "very-long"],
)
async def test_handle_crazy_keys(storage: SqlStorage, key: str) -> None:
    await storage.write({key: {"id": 1}})

    read = await storage.read([key])

    assert list(read) == [key]
    assert read[key]["id"] == 1
    await storage.delete([key])
    assert await storage.read([key]) == {}


async def test_update_object(storage: SqlStorage) -> None:
    original = {
        "pocoItem": {"id": 1, "count": 1},
        "pocoStoreItem": {"id": 1, "count": 1, "e_tag": "*"},
    }
    # 1st write should work
    await storage.write(original)

    loaded = await storage.read(["pocoItem", "pocoStoreItem"])
    update_poco_item = loaded["pocoItem"]
    update_poco_item["e_tag"] = None
    update_poco_store_item = loaded["pocoStoreItem"]
    assert update_poco_store_item["e_tag"] is not None

    # 2nd write should work
    update_poco_item["count"] += 1
    update_poco_store_item["count"] += 1
    await storage.write(loaded)

    reloaded = await storage.read(loaded.keys())
    assert reloaded["pocoItem"]["count"] == 2
    assert reloaded["pocoStoreItem"]["count"] == 2

    # Write with old e_tag should succeed for non-storeItem
    update_poco_item["count"] = 123
    await storage.write({"pocoItem": update_poco_item})

    # Write with old e_tag should FAIL for storeItem (commented out in the Python base
    # test only because MemoryStorage keeps "*" as the e_tag; ours are real).
    update_poco_store_item["count"] = 123
    with pytest.raises(KeyError):
        await storage.write({"pocoStoreItem": update_poco_store_item})

    reloaded2 = await storage.read(["pocoItem", "pocoStoreItem"])
    reloaded_poco_item2 = reloaded2["pocoItem"]
    reloaded_poco_item2["e_tag"] = None
    reloaded_poco_store_item2 = reloaded2["pocoStoreItem"]
    assert reloaded_poco_item2["count"] == 123
    assert reloaded_poco_store_item2["count"] == 2

    # write with wildcard etag should work
    reloaded_poco_item2["count"] = 100
    reloaded_poco_store_item2["count"] = 100
    reloaded_poco_store_item2["e_tag"] = "*"
    await storage.write(
        {"pocoItem": reloaded_poco_item2, "pocoStoreItem": reloaded_poco_store_item2}
    )

    reloaded3 = await storage.read(["pocoItem", "pocoStoreItem"])
    assert reloaded3["pocoItem"]["count"] == 100
    assert reloaded3["pocoStoreItem"]["count"] == 100

    # Write with empty etag should not work
    reloaded4 = (await storage.read(["pocoStoreItem"]))["pocoStoreItem"]
    assert reloaded4 is not None
    reloaded4["e_tag"] = ""
    with pytest.raises(ValueError, match="etag missing"):
        await storage.write({"pocoStoreItem": reloaded4})

    final = await storage.read(["pocoItem", "pocoStoreItem"])
    assert final["pocoItem"]["count"] == 100
    assert final["pocoStoreItem"]["count"] == 100


async def test_update_object_with_wildcard_etag_wins_over_any_change(storage: SqlStorage) -> None:
    await storage.write({"item": {"count": 1}})
    first = (await storage.read(["item"]))["item"]
    await storage.write({"item": {**first, "count": 2}})  # e_tag moves on

    await storage.write({"item": {"count": 3, "e_tag": "*"}})

    read = (await storage.read(["item"]))["item"]
    assert read["count"] == 3
    assert read["e_tag"] not in (first["e_tag"], "*")


async def test_delete_object(storage: SqlStorage) -> None:
    await storage.write({"delete1": {"id": 1, "count": 1, "e_tag": "*"}})

    read = await storage.read(["delete1"])
    assert read["delete1"]["e_tag"]
    assert read["delete1"]["count"] == 1

    await storage.delete(["delete1"])

    assert (await storage.read(["delete1"])).get("delete1") is None


async def test_does_not_raise_when_deleting_an_unknown_object(storage: SqlStorage) -> None:
    await storage.delete(["unknown_key"])
    await storage.delete([])
    await storage.delete({"unknown_key"})  # BotState.delete passes a set


async def test_perform_batch_operations(storage: SqlStorage) -> None:
    await storage.write({"batch1": {"count": 10}, "batch2": {"count": 20}, "batch3": {"count": 30}})

    result = await storage.read(["batch1", "batch2", "batch3"])
    assert {key: item["count"] for key, item in result.items()} == {
        "batch1": 10,
        "batch2": 20,
        "batch3": 30,
    }
    assert all(item["e_tag"] for item in result.values())
    assert len({item["e_tag"] for item in result.values()}) == 3

    await storage.delete(["batch1", "batch2", "batch3"])

    assert await storage.read(["batch1", "batch2", "batch3"]) == {}


async def test_proceeds_through_waterfall(
    storage: SqlStorage, state_factory: async_sessionmaker[AsyncSession]
) -> None:
    convo_state = ConversationState(storage)
    dialog_state = convo_state.create_property("dialogState")
    dialogs = DialogSet(dialog_state)

    async def exec_test(turn_context: TurnContext) -> None:
        dialog_context = await dialogs.create_context(turn_context)
        await dialog_context.continue_dialog()
        if not turn_context.responded:
            await dialog_context.begin_dialog(WaterfallDialog.__name__)
        await convo_state.save_changes(turn_context)

    adapter = TestAdapter(exec_test)

    async def prompt_validator(prompt_context: PromptValidatorContext) -> bool:
        result = prompt_context.recognized.value
        attempts = prompt_context.options.number_of_attempts
        if len(result) > 3:
            await prompt_context.context.send_activity(
                MessageFactory.text(f"You got it at the {attempts}rd try!")
            )
            return True
        await prompt_context.context.send_activity(
            MessageFactory.text(f"Please send a name that is longer than 3 characters. {attempts}")
        )
        return False

    async def step_1(step_context: WaterfallStepContext) -> DialogTurnResult:
        assert isinstance(step_context.active_dialog.state["stepIndex"], int)
        await step_context.context.send_activity("step1")
        return Dialog.end_of_turn

    async def step_2(step_context: WaterfallStepContext) -> DialogTurnResult:
        assert isinstance(step_context.active_dialog.state["stepIndex"], int)
        return await step_context.prompt(
            TextPrompt.__name__,
            PromptOptions(prompt=MessageFactory.text("Please type your name")),
        )

    async def step_3(step_context: WaterfallStepContext) -> DialogTurnResult:
        assert isinstance(step_context.active_dialog.state["stepIndex"], int)
        await step_context.context.send_activity("step3")
        return Dialog.end_of_turn

    dialogs.add(WaterfallDialog(WaterfallDialog.__name__, [step_1, step_2, step_3]))
    dialogs.add(TextPrompt(TextPrompt.__name__, prompt_validator))

    step1 = await adapter.send("hello")
    step2 = await step1.assert_reply("step1")
    step3 = await step2.send("hello")
    step4 = await step3.assert_reply("Please type your name")
    step5 = await step4.send("hi")
    step6 = await step5.assert_reply("Please send a name that is longer than 3 characters. 0")
    step7 = await step6.send("hi")
    step8 = await step7.assert_reply("Please send a name that is longer than 3 characters. 1")
    step9 = await step8.send("hi")
    step10 = await step9.assert_reply("Please send a name that is longer than 3 characters. 2")
    step11 = await step10.send("Kyle")
    step12 = await step11.assert_reply("You got it at the 3rd try!")
    await step12.assert_reply("step3")

    # The dialog stack went through the database, not a cache.
    [key] = await _stored_keys(state_factory)
    assert key.endswith("/conversations/Convo1")
    stored = (await storage.read([key]))[key]
    [instance] = stored["dialogState"].dialog_stack
    assert instance.id == WaterfallDialog.__name__
    assert instance.state["stepIndex"] == 2


# ---------------------------------------------------------------- e_tags


async def test_writing_with_the_current_etag_succeeds_and_changes_it(storage: SqlStorage) -> None:
    await storage.write({"item": {"count": 1}})
    item = (await storage.read(["item"]))["item"]

    await storage.write({"item": {**item, "count": 2}})

    again = (await storage.read(["item"]))["item"]
    assert again["count"] == 2
    assert again["e_tag"] != item["e_tag"]
    assert item["count"] == 1  # read results are copies


async def test_a_stale_etag_raises_and_leaves_the_stored_data_unchanged(
    storage: SqlStorage,
) -> None:
    await storage.write({"item": {"count": 1}, "other": {"count": 1}})
    stale = (await storage.read(["item"]))["item"]
    await storage.write({"item": {**stale, "count": 2}})
    current = (await storage.read(["item"]))["item"]

    with pytest.raises(KeyError, match="Etag conflict") as err:
        # one write call is one transaction: the good item beside the stale one is not kept
        await storage.write({"other": {"count": 99}, "item": {**stale, "count": 3}})

    assert stale["e_tag"] in str(err.value) and current["e_tag"] in str(err.value)
    after = await storage.read(["item", "other"])
    assert after["item"] == current
    assert after["other"]["count"] == 1


async def test_an_etag_on_a_key_that_does_not_exist_creates_it(storage: SqlStorage) -> None:
    # As MemoryStorage: nothing stored means nothing to conflict with.
    await storage.write({"new": {"count": 1, "e_tag": "from-elsewhere"}})

    read = (await storage.read(["new"]))["new"]
    assert read["count"] == 1
    assert read["e_tag"] != "from-elsewhere"


async def test_two_concurrent_writers_with_the_same_etag_exactly_one_wins(db_url: str) -> None:
    engines = [create_engine(db_url), create_engine(db_url)]
    first, second = (SqlStorage(session_factory(engine)) for engine in engines)
    try:
        for round_ in range(8):
            key = f"race/{round_}"
            await first.write({key: {"writer": None}})
            item = (await first.read([key]))[key]

            results = await asyncio.gather(
                first.write({key: {**item, "writer": "first"}}),
                second.write({key: {**item, "writer": "second"}}),
                return_exceptions=True,
            )

            assert sorted(type(result).__name__ for result in results) == ["KeyError", "NoneType"]
            winner = "first" if results[0] is None else "second"
            assert (await second.read([key]))[key]["writer"] == winner
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_concurrent_creators_with_etags_exactly_one_wins(db_url: str) -> None:
    engines = [create_engine(db_url), create_engine(db_url)]
    first, second = (SqlStorage(session_factory(engine)) for engine in engines)
    try:
        for round_ in range(8):
            key = f"create/{round_}"
            results = await asyncio.gather(
                first.write({key: {"writer": "first", "e_tag": "seen-elsewhere"}}),
                second.write({key: {"writer": "second", "e_tag": "seen-elsewhere"}}),
                return_exceptions=True,
            )

            assert sorted(type(result).__name__ for result in results) == ["KeyError", "NoneType"]
            winner = "first" if results[0] is None else "second"
            assert (await first.read([key]))[key]["writer"] == winner
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_writer_waiting_on_a_concurrent_update_gets_the_conflict(
    db_url: str, storage: SqlStorage
) -> None:
    await storage.write({"item": {"writer": None}})
    item = (await storage.read(["item"]))["item"]
    other = create_engine(db_url)
    try:
        async with transaction(session_factory(other)) as session:  # holds the row (or DB) lock
            await session.execute(
                update(BotStateItem)
                .where(BotStateItem.key_hash == key_digest("item"))
                .values(data='{"writer":"other"}', etag="other-etag")
            )
            waiting = asyncio.create_task(storage.write({"item": {**item, "writer": "late"}}))
            await asyncio.sleep(0.5)
            assert not waiting.done()
        with pytest.raises(KeyError, match="other-etag"):
            await waiting
    finally:
        await other.dispose()
    assert (await storage.read(["item"]))["item"] == {"writer": "other", "e_tag": "other-etag"}


async def test_a_creator_waiting_on_a_concurrent_insert_gets_the_conflict(
    db_url: str, storage: SqlStorage
) -> None:
    other = create_engine(db_url)
    try:
        async with transaction(session_factory(other)) as session:
            session.add(
                BotStateItem(
                    key_hash=key_digest("item"),
                    key="item",
                    data='{"writer":"other"}',
                    etag="other-etag",
                    updated_at=utcnow(),
                )
            )
            await session.flush()
            waiting = asyncio.create_task(
                storage.write({"item": {"writer": "late", "e_tag": "seen-elsewhere"}})
            )
            await asyncio.sleep(0.5)
            assert not waiting.done()
        with pytest.raises(KeyError, match="other-etag"):
            await waiting
    finally:
        await other.dispose()
    assert (await storage.read(["item"]))["item"] == {"writer": "other", "e_tag": "other-etag"}


async def test_concurrent_writers_without_etags_both_succeed_last_one_wins(db_url: str) -> None:
    engines = [create_engine(db_url), create_engine(db_url)]
    first, second = (SqlStorage(session_factory(engine)) for engine in engines)
    try:
        results = await asyncio.gather(
            first.write({"free": {"writer": "first"}}),
            second.write({"free": {"writer": "second"}}),
        )
        assert list(results) == [None, None]
        assert (await first.read(["free"]))["free"]["writer"] in ("first", "second")
    finally:
        for engine in engines:
            await engine.dispose()


# ---------------------------------------------------------------- persistence and objects


async def test_data_survives_a_new_engine(db_url: str) -> None:
    engine = create_engine(db_url)
    await SqlStorage(session_factory(engine)).write(
        {"conversation": {"dialogState": {"step": 2}, "text": "Benskörhet åäö"}}
    )
    await engine.dispose()

    engine = create_engine(db_url)
    try:
        storage = SqlStorage(session_factory(engine))
        item = (await storage.read(["conversation"]))["conversation"]
        assert item["dialogState"] == {"step": 2}
        assert item["text"] == "Benskörhet åäö"
        await storage.write({"conversation": {**item, "text": "ny"}})  # its e_tag is current
    finally:
        await engine.dispose()


async def test_plain_objects_and_msrest_models_come_back_as_themselves(
    storage: SqlStorage,
) -> None:
    item = StoreItem(count=1, when=utcnow(), tags={"a", "b"}, pair=(1, 2))
    activity = Activity(
        type=ActivityTypes.message,
        text="Hej åäö",
        from_property=ChannelAccount(id="29:1abc", name="Doktor"),
    )
    await storage.write({"plain": item, "model": activity, "state": {"activity": activity}})

    read = await storage.read(["plain", "model", "state"])

    plain = read["plain"]
    assert isinstance(plain, StoreItem)
    assert (plain.count, plain.when, plain.tags, plain.pair) == (1, item.when, {"a", "b"}, (1, 2))
    assert plain.e_tag
    assert not hasattr(item, "e_tag")  # the caller's object is untouched
    model = read["model"]
    assert isinstance(model, Activity)
    assert model.type == ActivityTypes.message
    assert model.from_property.id == "29:1abc"
    assert model.as_dict()["text"] == "Hej åäö"
    assert isinstance(read["state"]["activity"], Activity)

    plain.count = 2
    await storage.write({"plain": plain})  # e_tag attribute of an object is checked too
    plain.count = 3
    with pytest.raises(KeyError):
        await storage.write({"plain": plain})


# ---------------------------------------------------------------- the class allow-list


async def test_classes_from_other_modules_need_to_be_allowed(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        strict = SqlStorage(session_factory(engine))
        with pytest.raises(UnsafeStateError, match="Profile"):
            await strict.write({"profile": {"user": Profile("Anna", 1)}})
        assert await strict.read(["profile"]) == {}

        allowing = SqlStorage(session_factory(engine), extra_modules=[Profile.__module__])
        await allowing.write({"profile": {"user": Profile("Anna", 1)}})
        user = (await allowing.read(["profile"]))["profile"]["user"]
        assert isinstance(user, Profile)
        assert (user.name, user.visits) == ("Anna", 1)

        with pytest.raises(UnsafeStateError):
            await strict.read(["profile"])
    finally:
        await engine.dispose()


CALLED: list[str] = []


def _planted() -> None:
    CALLED.append("planted")


@pytest.mark.parametrize(
    "document",
    [
        '{"x":{"py/reduce":[{"py/function":"tests.teams.test_storage._planted"},{"py/tuple":[]}]}}',
        '{"x":{"py/reduce":[{"py/type":"collections._sys.exit"},{"py/tuple":[3]}]}}',
        '{"x":{"py/object":"xmlrpc.server.SimpleXMLRPCServer"}}',
        '{"x":{"py/type":"builtins.eval"}}',
        '{"x":{"py/repr":"os/os.getcwd()"}}',
        '{"x":{"py/object":{"not":"a name"}}}',
    ],
    ids=["function", "attribute-escape", "other-module", "builtin-function", "repr", "bad-tag"],
)
async def test_planted_documents_are_refused_on_read(
    storage: SqlStorage, db_url: str, document: str
) -> None:
    modules_before = set(sys.modules)
    engine = create_engine(db_url)
    try:
        async with transaction(session_factory(engine)) as session:
            session.add(
                BotStateItem(
                    key_hash=key_digest("planted"),
                    key="planted",
                    data=document,
                    etag="e1",
                    updated_at=utcnow(),
                )
            )
    finally:
        await engine.dispose()

    with pytest.raises(UnsafeStateError):
        await storage.read(["planted"])

    assert CALLED == []
    assert "xmlrpc.server" in modules_before or "xmlrpc.server" not in sys.modules


async def test_rows_hold_the_full_key_and_no_etag_in_the_data(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        factory = session_factory(engine)
        await SqlStorage(factory).write({"msteams/conversations/a:1": {"n": 1, "e_tag": "*"}})
        async with factory() as session:
            row: Any = (await session.execute(select(BotStateItem))).scalar_one()
        assert row.key == "msteams/conversations/a:1"
        assert row.key_hash == key_digest("msteams/conversations/a:1")
        assert row.data == '{"n":1}'
        assert len(row.etag) == 32
    finally:
        await engine.dispose()
