"""A personal chat with the text commands, in process, on either Teams runtime: Maria's
messages as turns of the runtime's SDK, the bot's replies collected, the conversation state
in the storage given.

botbuilder: `FrakturkedjanBot` on the SDK's `TestAdapter`. agents: `AgentsBot` in a
`TurnContext` over `RecordingAdapter`, the least a `ChannelAdapter` needs (the Agents SDK
ships no test adapter).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import utcnow
from tests.harness import BOT_ID, MARIA, TENANT

Factory = async_sessionmaker[AsyncSession]
CONVERSATION = "a:personal-maria"
STATE_KEY = f"msteams/conversations/{CONVERSATION}"


class Chat(Protocol):
    storage: Any

    async def send(self, text: str) -> None:
        """One message from Maria, as a whole turn (the turn's failure is raised)."""

    def replies(self) -> list[str]:
        """What the bot said since the last call: a text, or a card's first line."""

    def stored(self) -> dict[str, Any]:
        """The storage's documents by key."""


def said(activities: list[Any]) -> list[str]:
    return [a.text or a.attachments[0].content["body"][0]["text"] for a in activities]


# ---------------------------------------------------------------- botbuilder


@dataclass
class BotbuilderChat:
    storage: Any
    adapter: Any

    async def send(self, text: str) -> None:
        await self.adapter.send(text)

    def replies(self) -> list[str]:
        texts = said(self.adapter.activity_buffer)
        self.adapter.activity_buffer.clear()
        return texts

    def stored(self) -> dict[str, Any]:
        return dict(self.storage.memory)


def botbuilder_chat(
    factory: Factory, storage: Any = None, *, clock: Callable[[], datetime] = utcnow
) -> BotbuilderChat:
    from botbuilder.core import MemoryStorage
    from botbuilder.core.adapters import TestAdapter
    from botbuilder.schema import Activity, ChannelAccount, ConversationAccount

    from bot.teams.handler import FrakturkedjanBot

    storage = storage if storage is not None else MemoryStorage()
    bot = FrakturkedjanBot(factory, storage=storage, clock=clock)
    template = Activity(
        channel_id="msteams",
        service_url="https://smba.trafficmanager.net/emea/",
        from_property=ChannelAccount(
            id=MARIA["id"], name=MARIA["name"], aad_object_id=MARIA["aad"]
        ),
        recipient=ChannelAccount(id=BOT_ID, name="Frakturkedjan"),
        conversation=ConversationAccount(
            id=CONVERSATION, conversation_type="personal", tenant_id=TENANT
        ),
        channel_data={"tenant": {"id": TENANT}},
    )
    return BotbuilderChat(storage, TestAdapter(bot.on_turn, template_or_conversation=template))


# ---------------------------------------------------------------- agents


def recording_adapter() -> Any:
    """A `ChannelAdapter` that keeps what a turn sends (`.sent`) and gives each message an
    id, as the Bot Connector does."""
    from microsoft_agents.activity import ResourceResponse
    from microsoft_agents.hosting.core import ChannelAdapter

    class RecordingAdapter(ChannelAdapter):
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.sent: list[Any] = []
            self._ids = itertools.count(1)

        async def send_activities(self, context: Any, activities: list[Any]) -> list[Any]:
            await asyncio.sleep(0)  # a send is I/O: other turns run meanwhile
            self.sent.extend(activities)
            return [ResourceResponse(id=f"act-{next(self._ids)}") for _ in activities]

        async def update_activity(self, context: Any, activity: Any) -> None:
            raise NotImplementedError

        async def delete_activity(self, context: Any, reference: Any) -> None:
            raise NotImplementedError

    return RecordingAdapter()


def agents_message(
    text: str, *, person: dict[str, str] = MARIA, conversation: str = CONVERSATION
) -> Any:
    from microsoft_agents.activity import Activity

    return Activity.model_validate(
        {
            "type": "message",
            "id": f"m-{text[:8]}",
            "channelId": "msteams",
            "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "from": {"id": person["id"], "name": person["name"], "aadObjectId": person["aad"]},
            "recipient": {"id": BOT_ID, "name": "Frakturkedjan"},
            "conversation": {
                "id": conversation,
                "conversationType": "personal",
                "tenantId": TENANT,
            },
            "channelData": {"tenant": {"id": TENANT}},
            "text": text,
        }
    )


@dataclass
class AgentsChat:
    """`bot` is an `AgentsBot`, or anything with `on_message(turn_context)` (the commands)."""

    storage: Any
    bot: Any
    adapter: Any = field(default_factory=recording_adapter)

    async def send(self, text: str) -> None:
        await self.turn(agents_message(text))

    async def turn(self, activity: Any) -> None:
        from microsoft_agents.hosting.core import TurnContext

        context = TurnContext(self.adapter, activity)
        run = getattr(self.bot, "on_turn", None) or self.bot.on_message
        await run(context)

    def replies(self) -> list[str]:
        texts = said(self.adapter.sent)
        self.adapter.sent.clear()
        return texts

    def stored(self) -> dict[str, Any]:
        return dict(self.storage._memory)


def agents_chat(
    factory: Factory, storage: Any = None, *, clock: Callable[[], datetime] = utcnow
) -> AgentsChat:
    from microsoft_agents.hosting.core import MemoryStorage

    from bot.metrics import Metrics
    from bot.teams.agents.handler import AgentsBot
    from bot.teams.card_actions import CardActions

    storage = storage if storage is not None else MemoryStorage()
    clicks = CardActions(factory, on_change=lambda: None, clock=clock, metrics=Metrics())
    bot = AgentsBot(
        factory, card_actions=clicks, on_change=lambda: None, clock=clock, storage=storage
    )
    return AgentsChat(storage, bot)


def chat_on(runtime: str, factory: Factory, storage: Any = None) -> Chat:
    """Maria's personal chat on `runtime` (`botbuilder` or `agents`)."""
    make = agents_chat if runtime == "agents" else botbuilder_chat
    return make(factory, storage)


def conflicting_storage(runtime: str) -> Any:
    """A memory storage of the runtime's SDK whose every write loses to a concurrent one,
    as the product's SQL storages report it."""
    if runtime == "agents":
        from microsoft_agents.hosting.core import MemoryStorage as AgentsMemoryStorage

        class AgentsConflicting(AgentsMemoryStorage):
            async def write(self, changes: Any) -> None:
                raise KeyError("Etag conflict.")

        return AgentsConflicting()
    from botbuilder.core import MemoryStorage

    class Conflicting(MemoryStorage):  # type: ignore[misc]
        async def write(self, changes: Any) -> None:
            raise KeyError("Etag conflict.")

    return Conflicting()
