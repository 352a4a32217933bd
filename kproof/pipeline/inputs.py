"""Inputs: messages from a CSV file (a real CSV parser: quoted fields may hold line breaks) or from a
PostgreSQL table (a server-side cursor, so a big table streams). Both end when they run out."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator
from glob import glob
from pathlib import Path

from kproof.pipeline.bloblang import Message
from kproof.pipeline.config import CsvInput, SqlSelectInput

FETCH = 500  # rows per round trip of the select's cursor


async def csv_messages(spec: CsvInput, base: Path) -> AsyncIterator[Message]:
    """Each row as an object keyed by the header (parse_header_row), else as a list of strings.
    lazy_quotes lets a quote appear inside an unquoted field, as Go's reader allows."""
    for pattern in spec.paths:
        matched = sorted(glob(str(base / pattern))) or [str(base / pattern)]
        for path in matched:
            with open(path, newline="", encoding="utf-8") as f:
                rows = csv.reader(f, delimiter=spec.delimiter, quoting=csv.QUOTE_MINIMAL, strict=not spec.lazy_quotes)
                header = next(rows, None) if spec.parse_header_row else None
                for number, row in enumerate(rows):
                    if header is not None:
                        yield Message(dict(zip(header, row, strict=False)), {})
                    else:
                        yield Message(row, {})
                    if number % 1000 == 0:
                        await asyncio.sleep(0)  # let the workers run


async def sql_messages(spec: SqlSelectInput) -> AsyncIterator[Message]:
    """Each selected row as an object keyed by column name."""
    import psycopg
    from psycopg import sql

    # Names as written, unquoted (PostgreSQL folds them to lower case), as Benthos builds the query.
    columns = sql.SQL(", ").join(sql.SQL(c) for c in spec.columns)
    query = sql.SQL("SELECT {} FROM {}").format(columns, sql.SQL(spec.table))
    if spec.where:
        query = sql.SQL("{} WHERE {}").format(query, sql.SQL(spec.where))
    async with await psycopg.AsyncConnection.connect(spec.dsn) as connection, \
            connection.cursor(name="kproof_pipeline_select") as cursor:
        await cursor.execute(query)
        names: list[str] | None = None
        while True:
            rows = await cursor.fetchmany(FETCH)
            if not rows:
                return
            if names is None:
                assert cursor.description is not None  # a SELECT describes its columns
                names = [d.name for d in cursor.description]
            for row in rows:
                yield Message(dict(zip(names, row, strict=True)), {})
