"""An Agents SDK `Storage` on the project's database: the conversation state (the text
commands' dialog stack) in the table `bot_state`, shared by every bot process, with the
e_tag check the SDK itself does not have.

The Agents SDK (1.9) has no e_tags anywhere: its `MemoryStorage` lets the last writer win.
Here the e_tag rides inside the item's JSON under `"e_tag"`: `read` puts the row's current
one there, `CachedAgentState` keeps that key in its state dict and hands it back from
`store_item_to_json()` on save, and `write` checks it with the conditional UPDATE of
`bot.botstate.store.StateTable`, so a save that lost a race raises `KeyError` and the other
turn's state stays.

The SDK's dialog state is not JSON (`DialogState`, `DialogInstance`, `PromptOptions` and
pydantic `Activity` objects pass through `store_item_to_json()` unchanged), so items are
flattened with jsonpickle as on botbuilder, from an allow-list of `microsoft_agents` plus
the SDK-free modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from microsoft_agents.hosting.core.storage import Storage, StoreItem
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.botstate.store import PLAIN_MODULES, StateTable

__all__ = ["ALLOWED_MODULES", "AgentsSqlStorage"]

ALLOWED_MODULES: tuple[str, ...] = ("microsoft_agents", *PLAIN_MODULES)
"""Modules (and their submodules) whose classes stored state may contain."""

StoreItemT = TypeVar("StoreItemT", bound=StoreItem)


class AgentsSqlStorage(Storage):
    """Agents SDK storage in the `bot_state` table.

    - `read(keys, target_cls=…)` gives `target_cls.from_json_to_store_item(document)` for
      each stored key (unknown keys are absent); a document that is a dict carries the
      row's current e_tag under `"e_tag"`.
    - `write(changes)` stores each item's `store_item_to_json()` with a new e_tag, all in
      one transaction. A document whose `"e_tag"` is missing or `"*"` always wins; any
      other must name the current one, else `KeyError` ("Etag conflict…") and nothing of
      the call is stored.
    - `delete(keys)` removes the keys (a set is fine: `AgentState.delete` passes one);
      unknown keys are ignored.

    No keys or no changes raise `ValueError`, as the SDK's `MemoryStorage` does.
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        extra_modules: Sequence[str] = (),
    ) -> None:
        """`extra_modules` adds modules whose classes may be stored (say, `"myapp.state"`)."""
        self._table = StateTable(factory, modules=(*ALLOWED_MODULES, *extra_modules))

    async def read(
        self, keys: list[str], *, target_cls: type[StoreItemT], **kwargs: Any
    ) -> dict[str, StoreItemT]:
        """The stored items of `keys` as `target_cls`; unknown keys are left out."""
        if not keys:
            raise ValueError("AgentsSqlStorage.read(): keys are required")
        found = await self._table.read(keys)
        items: dict[str, StoreItemT] = {}
        for key, document in found.items():
            item = target_cls.from_json_to_store_item(document)
            if not isinstance(item, target_cls):
                raise TypeError(f"{target_cls.__name__} restored a {type(item).__name__}")
            items[key] = item
        return items

    async def write(self, changes: dict[str, StoreItem]) -> None:
        """Store `changes` in one transaction; a stale e_tag raises `KeyError`."""
        if not changes:
            raise ValueError("AgentsSqlStorage.write(): changes are required")
        await self._table.write({key: item.store_item_to_json() for key, item in changes.items()})

    async def delete(self, keys: list[str]) -> None:
        """Remove `keys` in one transaction; keys that are not stored are ignored."""
        if not keys:
            raise ValueError("AgentsSqlStorage.delete(): keys are required")
        await self._table.delete(keys)
