"""The `bot_state` table as a store of Python objects under string keys, with e_tags: what
each Teams SDK's storage (`bot.teams.storage.SqlStorage` on botbuilder,
`bot.teams.agents.storage.AgentsSqlStorage` on the Agents SDK) puts under its interface.

Objects are serialised the way botbuilder's own persistent storages (Blob, Cosmos DB) do
it, with jsonpickle's `Pickler.flatten`, and restored with `Unpickler.restore`: dicts, SDK
models and plain objects come back as what they were. Restoring a jsonpickle document can
construct any class it names, so only classes from the modules the store is given (and
the plain builtin containers) may be stored or read back; functions, modules and
`py/repr` never.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jsonpickle import tags
from jsonpickle.pickler import Pickler
from jsonpickle.unpickler import Unpickler, loadclass
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from bot.botstate.models import BotStateItem, key_digest
from bot.db import transaction, utcnow

__all__ = ["ALLOWED_BUILTINS", "PLAIN_MODULES", "StateTable", "UnsafeStateError"]

PLAIN_MODULES: tuple[str, ...] = ("dialogs", "collections", "datetime", "decimal", "uuid")
"""Modules (and their submodules) whose classes stored state may contain on any SDK; each
storage adds its SDK's."""

ALLOWED_BUILTINS = frozenset(
    f"builtins.{name}"
    for name in (
        "bool",
        "bytearray",
        "bytes",
        "complex",
        "dict",
        "float",
        "frozenset",
        "int",
        "list",
        "set",
        "str",
        "tuple",
    )
)
_FORBIDDEN_TAGS = (tags.FUNCTION, tags.MODULE, tags.REPR, tags.ITERATOR, tags.PROPERTY)
_CLASS_TAGS = (tags.OBJECT, tags.TYPE)
_CHUNK = 500


class UnsafeStateError(ValueError):
    """State names a class, function or module that this storage does not restore."""


@dataclass(frozen=True)
class _Change:
    key_hash: str
    key: str
    data: str
    expected_etag: str | None  # None: unconditional (no e_tag, or "*")


class StateTable:
    """Objects in `bot_state`, with the semantics of botbuilder's MemoryStorage plus real
    e_tags.

    - `read(keys)` returns the stored objects found, under the keys asked for; unknown keys
      are absent. Each read returns fresh objects whose `e_tag` (dict key or attribute) is
      the item's current e_tag.
    - `write(changes)` stores every object with a new e_tag, in one transaction: all or
      none. An object without an e_tag, or with `"*"`, always wins. An object with an
      e_tag must name the current one, else `KeyError` ("Etag conflict…") and nothing of
      the call is stored; the check is a conditional UPDATE, so it holds across processes.
      An object with an e_tag whose key does not exist is created, as MemoryStorage does.
      An empty e_tag raises `ValueError`. The caller's objects are not modified.
    - `delete(keys)` removes the keys; unknown keys are fine.
    """

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], *, modules: Sequence[str]
    ) -> None:
        """`modules`: the modules whose classes may be stored (`PLAIN_MODULES` plus the
        SDK's, say)."""
        self._factory = factory
        self._modules = tuple(modules)

    async def read(self, keys: Iterable[str]) -> dict[str, Any]:
        """The stored objects of `keys`; unknown keys are left out."""
        wanted = {key_digest(key): key for key in _keys(keys)}
        rows: list[tuple[str, str, str]] = []
        async with self._factory() as session:
            for chunk in _chunks(sorted(wanted)):
                result = await session.execute(
                    select(BotStateItem.key_hash, BotStateItem.data, BotStateItem.etag).where(
                        BotStateItem.key_hash.in_(chunk)
                    )
                )
                rows.extend((row[0], row[1], row[2]) for row in result)
        found = {wanted[key_hash]: self._restore(data, etag) for key_hash, data, etag in rows}
        return {key: found[key] for key in wanted.values() if key in found}

    async def write(self, changes: Mapping[str, Any]) -> None:
        """Store `changes` in one transaction; a stale e_tag raises `KeyError`."""
        if not changes:
            return
        prepared = sorted(
            (self._prepare(key, item) for key, item in changes.items()),
            key=lambda change: change.key_hash,  # one lock order: no deadlocks between writers
        )
        now = utcnow()
        async with transaction(self._factory) as session:
            connection = await session.connection()
            for change in prepared:
                await _write_one(connection, change, now)

    async def delete(self, keys: Iterable[str]) -> None:
        """Remove `keys` in one transaction; keys that are not stored are ignored."""
        hashes = sorted({key_digest(key) for key in _keys(keys)})
        if not hashes:
            return
        async with transaction(self._factory) as session:
            for chunk in _chunks(hashes):
                await session.execute(delete(BotStateItem).where(BotStateItem.key_hash.in_(chunk)))

    def _prepare(self, key: str, item: Any) -> _Change:
        if not isinstance(key, str):
            raise TypeError(f"storage keys are strings, not {type(key).__name__}")
        e_tag = item.get("e_tag") if isinstance(item, dict) else getattr(item, "e_tag", None)
        if e_tag == "":
            raise ValueError("bot state write(): etag missing")
        flat = Pickler().flatten(item)
        if isinstance(flat, dict):
            flat.pop("e_tag", None)
        self._check(flat)
        return _Change(
            key_hash=key_digest(key),
            key=key,
            data=json.dumps(flat, separators=(",", ":")),
            expected_etag=None if e_tag is None or e_tag == "*" else str(e_tag),
        )

    def _restore(self, data: str, etag: str) -> Any:
        flat = json.loads(data)
        self._check(flat)
        if isinstance(flat, dict):
            flat["e_tag"] = etag
        return Unpickler(safe=True).restore(flat)

    def _check(self, flat: Any) -> None:
        """Refuse a flattened document naming anything but allowed classes."""
        pending = [flat]
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                for tag in _FORBIDDEN_TAGS:
                    if tag in node:
                        raise UnsafeStateError(f"{tag} is not allowed in bot state")
                for tag in _CLASS_TAGS:
                    name = node.get(tag)
                    if tag in node and not (
                        isinstance(name, str) and _class_allowed(name, self._modules)
                    ):
                        raise UnsafeStateError(
                            f"class {name!r} is not allowed in bot state, or not found"
                        )
                pending.extend(node.values())
            elif isinstance(node, list | tuple):
                pending.extend(node)


async def _write_one(connection: AsyncConnection, change: _Change, now: datetime) -> None:
    etag = uuid.uuid4().hex
    values = {
        "key_hash": change.key_hash,
        "key": change.key,
        "data": change.data,
        "etag": etag,
        "updated_at": now,
    }
    if change.expected_etag is None:
        await connection.execute(_upsert(connection.dialect.name, values))
        return
    updated = await connection.execute(
        update(BotStateItem)
        .where(
            BotStateItem.key_hash == change.key_hash,
            BotStateItem.etag == change.expected_etag,
        )
        .values(data=change.data, etag=etag, updated_at=now)
    )
    if updated.rowcount == 1:
        return
    created = await connection.execute(_insert_if_absent(connection.dialect.name, values))
    if created.rowcount == 1:
        return
    current = await connection.scalar(
        select(BotStateItem.etag).where(BotStateItem.key_hash == change.key_hash)
    )
    raise KeyError(f"Etag conflict.\nOriginal: {change.expected_etag}\r\nCurrent: {current}")


def _upsert(dialect: str, values: dict[str, Any]) -> Insert:
    """INSERT, or on an existing key overwrite it (the unconditional write)."""
    changed = ("key", "data", "etag", "updated_at")
    if dialect == "postgresql":
        pg = postgresql.insert(BotStateItem).values(values)
        return pg.on_conflict_do_update(
            index_elements=[BotStateItem.key_hash],
            set_={name: pg.excluded[name] for name in changed},
        )
    if dialect == "sqlite":
        lite = sqlite.insert(BotStateItem).values(values)
        return lite.on_conflict_do_update(
            index_elements=[BotStateItem.key_hash],
            set_={name: lite.excluded[name] for name in changed},
        )
    raise NotImplementedError(f"SqlStorage does not support {dialect}")


def _insert_if_absent(dialect: str, values: dict[str, Any]) -> Insert:
    """INSERT that does nothing (rowcount 0) when the key exists, even concurrently."""
    if dialect == "postgresql":
        return (
            postgresql.insert(BotStateItem)
            .values(values)
            .on_conflict_do_nothing(index_elements=[BotStateItem.key_hash])
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(BotStateItem)
            .values(values)
            .on_conflict_do_nothing(index_elements=[BotStateItem.key_hash])
        )
    raise NotImplementedError(f"SqlStorage does not support {dialect}")


@lru_cache(maxsize=512)
def _class_allowed(name: str, modules: tuple[str, ...]) -> bool:
    """`name` must be in an allowed module before it is imported, and resolve to a class
    defined there (an attribute path must not lead out of the module)."""
    if name in ALLOWED_BUILTINS:
        return True
    if not _in_modules(name, modules):
        return False
    found = loadclass(name)
    return isinstance(found, type) and _in_modules(found.__module__, modules)


def _in_modules(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == module or name.startswith(f"{module}.") for module in modules)


def _keys(keys: Iterable[str]) -> list[str]:
    if isinstance(keys, str):
        raise TypeError("keys must be a collection of strings, not one string")
    return list(keys)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
