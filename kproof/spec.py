"""Requirement levels and feature states of the conformance tests.

Every conformance test carries `@pytest.mark.spec(level, state, source=...)`: how strongly Knative (or a seed,
or kproof alone) asks for what it checks, how mature the feature is, and where that is written. A run is
conformant when no MUST that applied (ran) failed; skipped tests did not apply to the target.

Knative's reconciler-test gives every step the same two dimensions (`feature.Stable`, `feature.Must`), and
filters on them as `kproof run --level` and `--state` do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MARKER = "spec"
MARKER_HELP = (f"{MARKER}(level, state, source): the requirement a conformance test checks: level MUST, SHOULD or "
               "MAY; state stable, beta or alpha; source: the Knative spec or docs sentence, the seed's section, "
               'or "kproof" for what only kproof promises')
QUICK = "quick"
QUICK_HELP = f"{QUICK}: the test of its area's main promise that the quick profile runs"
LEVELS = ("MUST", "SHOULD", "MAY")
STATES = ("stable", "beta", "alpha")
KPROOF = "kproof"  # the source of a promise that only kproof makes


class SpecError(ValueError):
    """A spec marker that does not say level, state and source as it should; the message says what."""


@dataclass(frozen=True)
class Spec:
    level: str
    state: str
    source: str

    def properties(self) -> list[tuple[str, str]]:
        """The JUnit properties that carry the spec into junit.xml."""
        return [("spec.level", self.level), ("spec.state", self.state), ("spec.source", self.source)]


def parse(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Spec:
    """A Spec from a marker's arguments: spec(level, state, source=...) (source may be the third argument)."""
    unknown = set(kwargs) - {"level", "state", "source"}
    if unknown:
        raise SpecError(f"unknown argument(s) {', '.join(sorted(unknown))}")
    values = dict(zip(("level", "state", "source"), args, strict=False)) | kwargs
    if len(args) > 3:
        raise SpecError("takes level, state and source")
    level, state, source = values.get("level"), values.get("state"), values.get("source")
    if level not in LEVELS:
        raise SpecError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if state not in STATES:
        raise SpecError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    if not isinstance(source, str) or not source.strip():
        raise SpecError('needs source="...": the Knative spec or docs sentence, the seed\'s section, or "kproof"')
    return Spec(level, state, source.strip())


def closest(marks: Iterable[Any]) -> Spec | None:
    """The spec of a test from its markers, the closest first (pytest's iter_markers order); None without one.
    Raises SpecError for a malformed marker."""
    for mark in marks:
        return parse(tuple(mark.args), dict(mark.kwargs))
    return None


def level_names(text: str) -> tuple[str, ...]:
    """`must,should` -> ("MUST", "SHOULD"); raises SpecError naming an unknown level."""
    names = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    bad = [name for name in names if name not in LEVELS]
    if bad or not names:
        raise SpecError(f"levels are {', '.join(LEVELS)} (comma-separated), not {text!r}")
    return names


def state_names(text: str) -> tuple[str, ...]:
    """`stable,beta` -> ("stable", "beta"); raises SpecError naming an unknown state."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    bad = [name for name in names if name not in STATES]
    if bad or not names:
        raise SpecError(f"states are {', '.join(STATES)} (comma-separated), not {text!r}")
    return names
