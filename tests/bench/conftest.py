"""Benchmarks run against an embedded reference of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kproof.embedded import ReferenceProcess
from kproof.target import Target


@pytest.fixture(scope="module")
def reference_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    process = ReferenceProcess(Path(tmp_path_factory.mktemp("bench")))
    process.start()
    try:
        yield process.target()
    finally:
        process.stop()
