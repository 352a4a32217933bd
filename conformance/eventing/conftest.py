"""One bench per test module: a namespace with a Broker and recorder Services, deleted afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from conformance.eventing.support import Bench, require_eventing, start_bench
from kproof.target import Target


@pytest.fixture(scope="module")
def bench(target: Target, app_image: Callable[[str], str]) -> Iterator[Bench]:
    require_eventing(target)
    bench = start_bench(target, app_image("recorder"))
    try:
        yield bench
    finally:
        target.release_namespace(bench.namespace)


@pytest.fixture(autouse=True)
def _fresh_triggers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test's triggers go when it ends, so they cannot take the next test's events."""
    yield
    if "bench" in request.fixturenames:
        request.getfixturevalue("bench").delete_triggers()
