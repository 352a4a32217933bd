"""Gradual rollout, as tables from Knative's rollout_test.go (pkg/reconciler/route/traffic), plus a whole
rollout stepped through on a clock."""

from __future__ import annotations

import pytest

from reference.serving.status import rollout
from reference.serving.status.rollout import (
    NS,
    ConfigurationRollout,
    RevisionRollout,
    Rollout,
    StepParams,
    effective_traffic,
    observe_ready,
    step,
)


def config(name: str, percent: int, *revisions: tuple[str, int], params: StepParams | None = None
           ) -> ConfigurationRollout:
    return ConfigurationRollout(name, percent, [RevisionRollout(r, p) for r, p in revisions], params or StepParams())


# ObserveReady: (percent, start, expected params) at now = 200620092020 + 1982 over 120 s
NOW = 200620092020 + 1982
OLDEN = 198219841988


@pytest.mark.parametrize(("percent", "params", "want"), [
    (100, StepParams(stepDuration=11), StepParams(stepDuration=11)),  # already timed
    (100, StepParams(), StepParams()),  # not begun
    (100, StepParams(starttime=200620092020),
     StepParams(200620092020, NOW + 1202020202, 1202020202, 1)),  # (120 s - 1 s) / 99 steps of 1%
    (100, StepParams(starttime=OLDEN), StepParams(OLDEN, NOW + 3 * NS, 3 * NS, 3)),
    (75, StepParams(starttime=OLDEN), StepParams(OLDEN, NOW + 3 * NS, 3 * NS, 75 // 40 + 1)),
    (50, StepParams(starttime=OLDEN), StepParams(OLDEN, NOW + 3 * NS, 3 * NS, 50 // 40)),
    (13, StepParams(starttime=14921812), StepParams(14921812, NOW + NS, NS, 12)),  # one step longer than it all
])
def test_observe_ready_times_the_steps(percent: int, params: StepParams, want: StepParams) -> None:
    state = Rollout([ConfigurationRollout("c", percent, [], params)])
    observe_ready(state, NOW, 120.0)
    assert state.configurations[0].stepParams == want


@pytest.mark.parametrize(("now", "before", "after"), [
    (1982, config("c", 75, ("a", 10), ("b", 5), ("c", 60), params=StepParams(nextStepTime=1984, stepSize=10)),
     [10, 5, 60]),  # too soon
    (1984, config("c", 90, ("a", 30), ("b", 60), params=StepParams(nextStepTime=1984, stepSize=10, stepDuration=55)),
     [20, 70]),
    (1988, config("c", 90, ("a", 22), ("b", 5), ("c", 3), ("d", 60),
                  params=StepParams(nextStepTime=1984, stepSize=10, stepDuration=55)),
     [20, 70]),  # the newest older ones are drained first
    (1988, config("c", 15, ("a", 5), ("b", 10), params=StepParams(nextStepTime=1984, stepSize=20, stepDuration=5)),
     [15]),  # a step larger than the share: capped, and done
])
def test_step_revisions(now: int, before: ConfigurationRollout, after: list[int]) -> None:
    rollout._step_revisions(before, now)
    assert [r.percent for r in before.revisions] == after


def test_a_new_revision_starts_at_one_percent_and_steps_to_all() -> None:
    """A whole rollout over 10 s: 1% first; that took 2 s, so 4 steps of 2 s of 25%."""
    old = Rollout([config("hello", 100, ("hello-00001", 100))])
    new = Rollout([config("hello", 100, ("hello-00002", 100))])
    started, due = step(new, old, 100 * NS)
    assert [(r.revisionName, r.percent) for r in started.configurations[0].revisions] == [
        ("hello-00001", 99), ("hello-00002", 1)]
    assert due == 0 and started.configurations[0].stepParams.starttime == 100 * NS

    observe_ready(started, 102 * NS, 10.0)
    params = started.configurations[0].stepParams
    assert (params.stepDuration, params.stepSize, params.nextStepTime) == (2 * NS, 25, 104 * NS)

    shares, now, state = [], 102 * NS, started
    while not state.done():
        state, due = step(new, state, now)
        shares.append([r.percent for r in state.configurations[0].revisions])
        now = due or now
    assert shares == [[99, 1], [74, 26], [49, 51], [24, 76], [100]]


def test_a_share_change_during_the_rollout_goes_to_the_newest() -> None:
    previous = Rollout([config("c", 60, ("a", 40), ("b", 20), params=StepParams(1, 10 * NS, NS, 10))])
    goal = Rollout([config("c", 80, ("b", 80))])
    state, _ = step(goal, previous, 5 * NS)
    assert [r.percent for r in state.configurations[0].revisions] == [40, 40]


def test_the_state_round_trips_and_a_corrupt_one_is_dropped() -> None:
    state = Rollout([config("c", 100, ("a", 99), ("b", 1), params=StepParams(starttime=5))])
    assert rollout.parse(rollout.dump(state)) == state
    assert rollout.dump(state) == ('{"configurations":[{"configurationName":"c","percent":100,"revisions":'
                                   '[{"revisionName":"a","percent":99},{"revisionName":"b","percent":1}],'
                                   '"stepParams":{"starttime":5}}]}')
    assert rollout.parse('{"configurations":[{"configurationName":"c","percent":100,"revisions":'
                         '[{"revisionName":"a","percent":50}]}]}') is None  # shares do not add up
    assert rollout.parse("not json") is None


def test_traffic_built_from_and_shown_as_the_rollout() -> None:
    spec = [{"configurationName": "hello", "percent": 100}, {"revisionName": "hello-00001", "tag": "v1",
                                                             "percent": 0}]
    resolved = [{"revisionName": "hello-00002", "percent": 100, "latestRevision": True},
                {"revisionName": "hello-00001", "percent": 0, "latestRevision": False, "tag": "v1"}]
    assert rollout.build(spec, resolved) == Rollout([config("hello", 100, ("hello-00002", 100))])
    state = Rollout([config("hello", 100, ("hello-00001", 74), ("hello-00002", 26))])
    assert effective_traffic(spec, resolved, state) == [
        {"revisionName": "hello-00001", "percent": 74, "latestRevision": True},
        {"revisionName": "hello-00002", "percent": 26, "latestRevision": True},
        resolved[1]]
