"""Gradual rollout of a Configuration's latest revision (knative.dev/serving pkg/reconciler/route/traffic/
rollout.go), pure.

With a rollout duration (the Route's `serving.knative.dev/rollout-duration` annotation, else config-network's
`rollout-duration` in seconds) a new latest revision does not take its Configuration's traffic at once: it
starts at 1%, taken from the newest older revision that has some; once the data plane serves that, the
time the first step took sets the step duration and size (equal steps over the rest of the duration); each
step then moves `stepSize` percent from the older revisions, oldest last, to the newest, until it has all.

Knative keeps this state as JSON in its Ingress's `networking.internal.knative.dev/rollout` annotation; the
reference has no Ingress and keeps it on the Route under the same key. Times are Unix nanoseconds, as there.
Only targets without a tag roll out (tagged targets switch at once).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

ANNOTATION = "networking.internal.knative.dev/rollout"
NS = 1_000_000_000


@dataclass
class RevisionRollout:
    revisionName: str  # the fields are named as Knative's JSON
    percent: int


@dataclass
class StepParams:
    starttime: int = 0  # when the rollout began
    nextStepTime: int = 0
    stepDuration: int = 0
    stepSize: int = 0


@dataclass
class ConfigurationRollout:
    configurationName: str
    percent: int  # the Configuration's share of the Route's traffic
    revisions: list[RevisionRollout]  # oldest first; the last one is the newest
    stepParams: StepParams = field(default_factory=StepParams)
    tag: str = ""

    def done(self) -> bool:
        return len(self.revisions) < 2


@dataclass
class Rollout:
    configurations: list[ConfigurationRollout] = field(default_factory=list)

    def done(self) -> bool:
        return all(c.done() for c in self.configurations)

    def of(self, configuration: str) -> ConfigurationRollout | None:
        return next((c for c in self.configurations if c.configurationName == configuration), None)


def build(spec_traffic: list[dict], resolved: list[dict]) -> Rollout:
    """The rollout the Route's traffic asks for now (BuildRollout): each untagged Configuration target with
    traffic, its latest ready revision at the Configuration's whole share (targets of one Configuration
    joined)."""
    joined: dict[str, ConfigurationRollout] = {}
    for target, entry in zip(spec_traffic, resolved, strict=True):
        name = target.get("configurationName")
        if not name or target.get("tag") or not entry.get("percent"):
            continue
        if name in joined:
            joined[name].percent += entry["percent"]
            joined[name].revisions[0].percent += entry["percent"]
        else:
            joined[name] = ConfigurationRollout(name, entry["percent"],
                                                [RevisionRollout(entry["revisionName"], entry["percent"])])
    return Rollout(sorted(joined.values(), key=lambda c: c.configurationName))


def parse(text: str | None) -> Rollout | None:
    """A rollout from its annotation; None when missing or inconsistent (Knative discards such a one)."""
    if not text:
        return None
    try:
        data = json.loads(text)
        rollout = Rollout([ConfigurationRollout(
            c["configurationName"], int(c["percent"]),
            [RevisionRollout(r["revisionName"], int(r["percent"])) for r in c.get("revisions") or []],
            StepParams(**{k: int(v) for k, v in (c.get("stepParams") or {}).items()}), c.get("tag", ""))
            for c in data.get("configurations") or []])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    for c in rollout.configurations:
        if c.percent > 100 or not 0 <= c.stepParams.stepSize <= c.percent or \
                sum(r.percent for r in c.revisions) != c.percent:
            return None
    return rollout


def dump(rollout: Rollout) -> str:
    def clean(config: ConfigurationRollout) -> dict:
        out = asdict(config)
        out["stepParams"] = {k: v for k, v in out["stepParams"].items() if v}
        if not out["tag"]:
            del out["tag"]
        return out
    return json.dumps({"configurations": [clean(c) for c in rollout.configurations]}, separators=(",", ":"))


def observe_ready(rollout: Rollout, now: int, duration: float) -> None:
    """The data plane serves the rollout's first 1%: the time that took sets the steps (ObserveReady)."""
    for config in rollout.configurations:
        params = config.stepParams
        if params.stepDuration == 0 and params.starttime > 0:
            min_step = max(1.0, math.ceil((now - params.starttime) / NS))
            _compute_steps(config, now, min_step, duration)


def _compute_steps(config: ConfigurationRollout, now: int, min_step: float, duration: float) -> None:
    duration = max(1.0, duration - min_step)
    steps = max(1.0, duration / min_step)
    remaining = float(config.percent - 1)
    steps = min(steps, remaining) if remaining > 0 else steps
    size = math.floor(remaining / steps + 0.5) if steps else 0  # Go's math.Round: halves away from zero
    step_ns = int(duration / steps * NS)
    config.stepParams.stepDuration = step_ns
    config.stepParams.stepSize = int(size)
    config.stepParams.nextStepTime = now + step_ns


def step(current: Rollout, previous: Rollout | None, now: int) -> tuple[Rollout, int]:
    """The rollout to serve now, from what the traffic asks for and the previous state; and when the next
    step is due (Unix ns; 0 when none is)."""
    if previous is None or not previous.configurations:
        return current, 0
    out: list[ConfigurationRollout] = []
    next_step = 0
    for goal in current.configurations:
        before = previous.of(goal.configurationName)
        if before is None or goal.percent <= 1:
            out.append(goal)  # a new Configuration, or a 1% A/B target: nothing to roll
            continue
        stepped = _step_config(goal, before, now)
        out.append(stepped)
        due = stepped.stepParams.nextStepTime
        if due and (not next_step or due < next_step):
            next_step = due
    return Rollout(out), next_step


def _adjust_percentage(goal: int, config: ConfigurationRollout) -> None:
    """The Configuration's share changed: the newest revision gets an increase, the oldest give up a decrease."""
    diff = goal - config.percent
    if goal == 0:
        config.revisions = []
    elif diff > 0:
        config.revisions[-1].percent += diff
    elif diff < 0:
        diff = -diff
        i = 0
        while diff > 0 and i < len(config.revisions):
            if config.revisions[i].percent > diff:
                config.revisions[i].percent -= diff
                break
            diff -= config.revisions[i].percent
            i += 1
        config.revisions = config.revisions[i:]
    config.percent = goal


def _step_revisions(config: ConfigurationRollout, now: int) -> None:
    """Moves one step of traffic from the older revisions (newest of them first) to the newest."""
    if now < config.stepParams.nextStepTime or len(config.revisions) < 2:
        return
    revisions = config.revisions
    remaining = config.stepParams.stepSize
    write, read = len(revisions) - 1, len(revisions) - 2
    while remaining > 0 and read >= 0:
        if revisions[read].percent > remaining:
            revisions[read].percent -= remaining
            break
        remaining -= revisions[read].percent
        write -= 1
        read -= 1
    newest = revisions[-1]
    revisions[write] = RevisionRollout(newest.revisionName, min(config.percent,
                                                                newest.percent + config.stepParams.stepSize))
    config.revisions = revisions[:write + 1]
    if len(config.revisions) > 1:
        config.stepParams.nextStepTime = now + config.stepParams.stepDuration
    else:
        config.stepParams = StepParams()  # done


def _step_config(goal: ConfigurationRollout, previous: ConfigurationRollout, now: int) -> ConfigurationRollout:
    before = ConfigurationRollout(previous.configurationName, previous.percent,
                                  [RevisionRollout(r.revisionName, r.percent) for r in previous.revisions],
                                  StepParams(**asdict(previous.stepParams)), previous.tag)
    result = ConfigurationRollout(goal.configurationName, goal.percent, list(goal.revisions), tag=goal.tag)
    if before.revisions:
        _adjust_percentage(goal.percent, before)
    newest = goal.revisions[0].revisionName
    if not before.revisions or newest == before.revisions[-1].revisionName:
        if len(before.revisions) > 1:  # a rollout under way: carry it on
            result.revisions, result.stepParams = before.revisions, before.stepParams
            if result.stepParams.stepSize > 0:
                _step_revisions(result, now)
        return result
    # A new revision: it starts with 1%, taken from the newest older revision that has traffic.
    result.stepParams.starttime = now
    for revision in reversed(before.revisions):
        if revision.percent > 0:
            revision.percent -= 1
            break
    result.revisions = [r for r in before.revisions if r.percent > 0] + [RevisionRollout(newest, 1)]
    return result


def effective_traffic(spec_traffic: list[dict], resolved: list[dict], rollout: Rollout) -> list[dict]:
    """status.traffic as the rollout shares it (GetRevisionTrafficTargets): an untagged Configuration target
    becomes one entry per revision of its rollout."""
    out: list[dict] = []
    expanded: set[str] = set()
    for target, entry in zip(spec_traffic, resolved, strict=True):
        name = str(target.get("configurationName") or "")
        config = rollout.of(name) if name and not target.get("tag") else None
        if config is None or not entry.get("percent"):
            out.append(entry)
            continue
        if name in expanded:
            continue  # joined into the first target of its Configuration
        expanded.add(name)
        out.extend({**entry, "revisionName": r.revisionName, "percent": r.percent} for r in config.revisions)
    return out
