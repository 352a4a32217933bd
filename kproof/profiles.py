"""What a run runs: a profile (quick, conformance, full) narrowed by level, state, focus and skip.

kproof run chooses the paths of a profile; the pytest plugin (kproof.pytest_target) then keeps or deselects
each collected test with `Selection.keeps`, so `--list`, `kproof images` and the run itself agree on the
tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kproof.spec import Spec

# The short load scenario of today's run, and the scale-from-zero measurement (Knative's performance test).
LOAD_SCENARIO = "load/test_scenarios.py::test_steady_load_scales_out_and_latency_settles"
SCALE_FROM_ZERO = "load/test_scale_from_zero.py"
CONFORMANCE = "conformance"


@dataclass(frozen=True)
class Profile:
    name: str
    help: str
    paths: tuple[str, ...]  # relative to the folder that holds conformance/ and load/
    levels: tuple[str, ...] = ()  # the levels it keeps; () keeps every test, conformance or not
    quick_only: bool = False  # only the tests marked `quick`
    seconds_per_test: float = 3.5  # what a test takes on average, for the time left of a run


PROFILES = {
    "quick": Profile("quick", "one test of each area's main promise: a smoke test of a platform in about two minutes",
                     (CONFORMANCE,), quick_only=True, seconds_per_test=9.0),
    "conformance": Profile("conformance", "every MUST and SHOULD test of the suite, no load", (CONFORMANCE,),
                           levels=("MUST", "SHOULD")),
    "full": Profile("full", "the whole suite and the short load scenario", (CONFORMANCE, LOAD_SCENARIO)),
    "performance": Profile("performance", "Knative's scale-from-zero measurement: 1, 5 and 25 Services at once",
                           (SCALE_FROM_ZERO,), seconds_per_test=30.0),
}
DEFAULT_PROFILE = "full"


@dataclass(frozen=True)
class Selection:
    """A profile and the filters of the command line; `keeps` decides for one collected test."""

    profile: Profile = PROFILES[DEFAULT_PROFILE]
    levels: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    focus: tuple[str, ...] = ()  # regular expressions on the node id: keep what matches any
    skip: tuple[str, ...] = ()  # regular expressions on the node id: drop what matches any
    _compiled: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    def keeps(self, nodeid: str, spec: Spec | None, quick: bool) -> bool:
        if self.profile.quick_only and not quick:
            return False
        for levels in (self.profile.levels, self.levels):
            if levels and (spec is None or spec.level not in levels):
                return False
        if self.states and (spec is None or spec.state not in self.states):
            return False
        if self.focus and not any(self._pattern(p).search(nodeid) for p in self.focus):
            return False
        return not any(self._pattern(p).search(nodeid) for p in self.skip)

    def _pattern(self, text: str) -> re.Pattern[str]:
        if text not in self._compiled:
            self._compiled[text] = re.compile(text)
        return self._compiled[text]


def area_of(nodeid: str) -> str:
    """`conformance/api/test_crud.py::test_a` -> `api`; a test outside conformance/ -> its top folder."""
    parts = nodeid.split("::")[0].replace("\\", "/").split("/")
    if "conformance" in parts:
        index = parts.index("conformance")
        return parts[index + 1] if index + 1 < len(parts) - 1 else "conformance"
    return parts[0] if len(parts) > 1 else "other"
