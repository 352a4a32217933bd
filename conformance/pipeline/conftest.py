"""A database of its own for each pipeline test, with seed 002's SOURCE and SINK tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from conformance.pipeline.support import tables


@pytest.fixture
def database(postgres_dsn: str) -> Iterator[str]:
    name = f"kproof_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(postgres_dsn)
    dsn = urlunsplit(parts._replace(path=f"/{name}"))
    tables(dsn)
    try:
        yield dsn
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
