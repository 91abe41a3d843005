"""A scratch PostgreSQL database per benchmark, created before and dropped after.

The admin DSN is ``FK_TEST_POSTGRES`` (default: user postgres on 127.0.0.1:5432).
"""

from __future__ import annotations

import os
import uuid

import asyncpg

PG_ADMIN = os.environ.get("FK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


async def create_pg_database() -> tuple[str | None, str | None]:
    """(SQLAlchemy URL of a new scratch database, None) or (None, why not)."""
    name = f"fk_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        connection = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return None, f"PostgreSQL not reachable at {PG_ADMIN}: {type(exc).__name__}: {exc}"
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", None


async def drop_pg_database(url: str) -> None:
    """Drop a database made by `create_pg_database`, even with connections left open."""
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
