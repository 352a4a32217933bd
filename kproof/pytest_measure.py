"""A pytest plugin that `kproof run` loads (`-p kproof.pytest_measure`): what a run records about its target,
from the first test that uses the target until the session ends.

- `--kproof-measurements DIR`: the run's pods (start-up per condition) and revisions (to Ready) are timed and
  the figures written to DIR (kproof.measure).
- `--kproof-meta DIR`: the target's versions and capabilities go to DIR/target.json (kproof.bundle).

A run whose tests never touch a target records nothing of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kproof.bundle import target_facts, write_meta
from kproof.measure import RunMeasurements
from kproof.target import Target


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kproof run")
    group.addoption("--kproof-measurements", type=Path, metavar="DIR",
                    help="time the run's pods (start-up per condition) and revisions (to Ready); write the figures "
                         "to DIR")
    group.addoption("--kproof-meta", type=Path, metavar="DIR",
                    help="write the target's versions and capabilities to DIR/target.json")


def _wanted(config: pytest.Config) -> bool:
    return config.getoption("--kproof-measurements") is not None or config.getoption("--kproof-meta") is not None


@pytest.fixture(scope="session")
def _target_recorded(request: pytest.FixtureRequest, target: Target) -> Iterator[None]:
    meta = request.config.getoption("--kproof-meta")
    if meta is not None:
        write_meta(meta, "target", target_facts(target))
    directory = request.config.getoption("--kproof-measurements")
    measurements = RunMeasurements(target) if directory is not None else None
    yield  # torn down before the target it watches
    if measurements is not None:
        measurements.finish(directory)


@pytest.fixture(autouse=True)
def _recorded(request: pytest.FixtureRequest) -> None:
    if _wanted(request.config) and "target" in request.fixturenames:
        request.getfixturevalue("_target_recorded")
