"""The sql_insert output: each batch is one transaction of INSERTs (a batch is written whole or not at
all), up to `max_in_flight` batches at once over a small pool of connections."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kproof.pipeline.bloblang import Message
from kproof.pipeline.config import SqlInsertOutput

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

MAX_CONNECTIONS = 8  # in-flight batches share these


class OutputFailed(RuntimeError):
    """A batch could not be written; the message says why."""


class SqlInsert:
    def __init__(self, spec: SqlInsertOutput) -> None:
        self.spec = spec
        self._pool: AsyncConnectionPool[Any] | None = None
        self._slots = asyncio.Semaphore(max(1, spec.max_in_flight))

    async def __aenter__(self) -> SqlInsert:
        import psycopg
        from psycopg_pool import AsyncConnectionPool

        # One plain connection first: an unreachable database fails now with its own error, where the
        # pool would retry for its whole timeout before saying only that it timed out.
        await (await psycopg.AsyncConnection.connect(self.spec.dsn)).close()
        size = min(MAX_CONNECTIONS, self.spec.max_in_flight)
        self._pool = AsyncConnectionPool(self.spec.dsn, min_size=1, max_size=size, open=False, timeout=30)
        await self._pool.open(wait=True, timeout=30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pool is not None:
            await self._pool.close()

    def rows(self, batch: list[Message]) -> list[list]:
        rows = []
        for message in batch:
            values = self.spec.args_mapping.apply(message).content
            if not isinstance(values, list) or len(values) != len(self.spec.columns):
                raise OutputFailed(f"args_mapping gave {values!r}, not {len(self.spec.columns)} values for "
                                   f"{', '.join(self.spec.columns)}")
            rows.append(values)
        return rows

    async def write(self, batch: list[Message]) -> None:
        from psycopg import Error, sql

        rows = self.rows(batch)
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.SQL(self.spec.table), sql.SQL(", ").join(sql.SQL(c) for c in self.spec.columns),
            sql.SQL(", ").join(sql.Placeholder() * len(self.spec.columns)))
        async with self._slots:
            assert self._pool is not None
            try:
                async with self._pool.connection() as connection, connection.transaction(), \
                        connection.cursor() as cursor:
                    await cursor.executemany(statement, rows)
            except Error as err:
                raise OutputFailed(f"INSERT INTO {self.spec.table}: {err}") from err
