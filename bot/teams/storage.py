"""A botbuilder `Storage` on the project's database, so that dialog and conversation state
live in the table `bot_state` and any number of bot processes can share one PostgreSQL.

The table, the serialisation (jsonpickle, as botbuilder's Blob and Cosmos DB storages do
it), the class allow-list and the e_tag check are `bot.botstate.store.StateTable`'s; this
class gives them botbuilder's interface and allows botbuilder's own classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botbuilder.core import Storage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.botstate.store import PLAIN_MODULES, StateTable, UnsafeStateError

__all__ = ["ALLOWED_MODULES", "SqlStorage", "UnsafeStateError"]

ALLOWED_MODULES: tuple[str, ...] = ("botbuilder", "botframework", "msrest", *PLAIN_MODULES)
"""Modules (and their submodules) whose classes stored state may contain."""


class SqlStorage(Storage):  # type: ignore[misc]
    """Bot Framework storage in the `bot_state` table, with the semantics of MemoryStorage.

    - `read(keys)` returns the stored items found, under the keys asked for; unknown keys
      are absent, and `None` or no keys give `{}`. Each read returns fresh objects whose
      `e_tag` (dict key or attribute) is the item's current e_tag.
    - `write(changes)` stores every item with a new e_tag, in one transaction: all items or
      none. An item without an e_tag, or with `"*"`, always wins. An item with an e_tag
      must name the current one, else `KeyError` ("Etag conflict…") and nothing of the call
      is stored; the check is a conditional UPDATE, so it holds across processes. An item
      with an e_tag whose key does not exist is created, as MemoryStorage does. An empty
      e_tag raises `ValueError`; `None` changes raise `ValueError`. The caller's objects
      are not modified.
    - `delete(keys)` removes the keys; unknown keys are fine.
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        extra_modules: Sequence[str] = (),
    ) -> None:
        """`extra_modules` adds modules whose classes may be stored (say, `"myapp.state"`)."""
        super().__init__()
        self._table = StateTable(factory, modules=(*ALLOWED_MODULES, *extra_modules))

    async def read(self, keys: Iterable[str] | None) -> dict[str, Any]:
        """The stored items of `keys`; unknown keys are left out."""
        if not keys:
            return {}
        return await self._table.read(keys)

    async def write(self, changes: Mapping[str, Any] | None) -> None:
        """Store `changes` in one transaction; a stale e_tag raises `KeyError`."""
        if changes is None:
            raise ValueError("Changes are required when writing")
        await self._table.write(changes)

    async def delete(self, keys: Iterable[str] | None) -> None:
        """Remove `keys` in one transaction; keys that are not stored are ignored."""
        if keys is None:
            raise TypeError("Keys are required when deleting")
        await self._table.delete(keys)
