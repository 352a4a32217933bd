"""ACK's ResourcePolicy (scheduling.alibabacloud.com/v1alpha1), pure: which unit a Pod goes to.

Units are tried in order. A unit whose `max` is reached is always passed over; a unit that lacks room
is passed over as `whenTryNextUnits.policy` says (LackResourceOrExceedMax, the default: at once;
ExceedMax: never, the Pod waits; TimeoutOrExceedMax: once the Pod has waited `timeout`;
LackResourceAndNoTerminating: when none of the unit's Pods is terminating, which would free room).
A Pod placed in a unit gets its `podLabels` and `podAnnotations`, a mark of the unit, and a
`controller.kubernetes.io/pod-deletion-cost` that makes scale-in remove the last units' Pods first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference.apis.durations import parse_go_duration
from reference.apis.labels import DELETION_COST
from reference.scheduler.placement import Fit, NodeInfo, fit_error, schedule

UNIT_ANNOTATION = "scheduling.kproof.dev/resource-policy-unit"  # "<policy>/<unit index>"
VIRTUAL_NODE_LABEL = ("type", "virtual-kubelet")  # ACK's virtual nodes (ECI, ACS)
AT_MAX = "node(s) in ResourcePolicy units at their max"
NOT_IN_UNITS = "node(s) in no ResourcePolicy unit"
DEFAULT_TIMEOUT = 900.0  # whenTryNextUnits.timeout: 15m


@dataclass(frozen=True)
class Unit:
    index: int
    resource: str = "ecs"
    node_selector: dict[str, str] = field(default_factory=dict)
    max: int | None = None
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)

    def admits(self, labels: dict[str, str]) -> bool:
        """Whether a node belongs to this unit: its resource kind and nodeSelector."""
        virtual = labels.get(VIRTUAL_NODE_LABEL[0]) == VIRTUAL_NODE_LABEL[1]
        if virtual != (self.resource in ("eci", "acs")):
            return False
        return all(labels.get(k) == v for k, v in self.node_selector.items())


@dataclass(frozen=True)
class Policy:
    name: str
    namespace: str
    selector: dict[str, str]
    units: tuple[Unit, ...]
    try_next: str = "LackResourceOrExceedMax"
    timeout: float = DEFAULT_TIMEOUT
    ignore_previous: bool = False
    ignore_terminating: bool = True
    match_label_keys: tuple[str, ...] = ()
    created: str = ""

    @classmethod
    def from_object(cls, obj: dict) -> Policy:
        spec = obj.get("spec") or {}
        when = spec.get("whenTryNextUnits") or {}
        units = tuple(Unit(i, u.get("resource") or "ecs", dict(u.get("nodeSelector") or {}), u.get("max"),
                           dict(u.get("podLabels") or {}), dict(u.get("podAnnotations") or {}))
                      for i, u in enumerate(spec.get("units") or []))
        timeout = when.get("timeout")
        return cls(obj["metadata"]["name"], obj["metadata"].get("namespace", ""), dict(spec.get("selector") or {}),
                   units, when.get("policy") or "LackResourceOrExceedMax",
                   parse_go_duration(timeout) if timeout else DEFAULT_TIMEOUT,
                   bool(spec.get("ignorePreviousPod", False)), bool(spec.get("ignoreTerminatingPod", True)),
                   tuple(spec.get("matchLabelKeys") or ()), obj["metadata"].get("creationTimestamp", ""))

    def selects(self, pod: dict) -> bool:
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        return meta.get("namespace", "") == self.namespace and all(labels.get(k) == v
                                                                     for k, v in self.selector.items())

    def mark(self, unit: Unit) -> str:
        return f"{self.name}/{unit.index}"


def policy_for(pod: dict, policies: list[Policy]) -> Policy | None:
    """The first policy (by name) that selects the Pod."""
    return next((p for p in sorted(policies, key=lambda p: p.name) if p.selects(pod)), None)


def _same_group(policy: Policy, pod: dict, other: dict) -> bool:
    mine, theirs = pod["metadata"].get("labels") or {}, other["metadata"].get("labels") or {}
    return all(mine.get(k) == theirs.get(k) for k in policy.match_label_keys)


def unit_pods(policy: Policy, pod: dict, pods: list[dict]) -> dict[int, list[dict]]:
    """The Pods each unit holds (the Pod being placed excluded), as the policy counts them."""
    out: dict[int, list[dict]] = {u.index: [] for u in policy.units}
    marks = {policy.mark(u): u.index for u in policy.units}
    for other in pods:
        meta = other["metadata"]
        if meta.get("uid") == pod["metadata"].get("uid") or not policy.selects(other):
            continue
        index = marks.get((meta.get("annotations") or {}).get(UNIT_ANNOTATION, ""))
        if index is None or not _same_group(policy, pod, other):
            continue
        if policy.ignore_previous and meta.get("creationTimestamp", "") < policy.created:
            continue
        out[index].append(other)
    return out


def _terminating(pods: list[dict]) -> bool:
    return any(p["metadata"].get("deletionTimestamp") for p in pods)


@dataclass(frozen=True)
class Placed:
    fit: Fit
    unit: Unit
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class Waiting:
    message: str
    retry_after: float | None = None  # TimeoutOrExceedMax: when the next unit may be tried


def place(pod: dict, policy: Policy, infos: list[NodeInfo], pods: list[dict], waited: float) -> Placed | Waiting:
    """The unit and node for `pod` under `policy`; `waited` is how long it has been pending (seconds)."""
    held = unit_pods(policy, pod, pods)
    failures: dict[str, list[str]] = {}
    for unit in policy.units:
        members = [i for i in infos if unit.admits(i.labels)]
        counted = [p for p in held[unit.index] if not (policy.ignore_terminating and p["metadata"].get(
            "deletionTimestamp"))]
        if unit.max is not None and len(counted) >= unit.max:
            failures.update({i.name: [AT_MAX] for i in members if i.name not in failures})
            continue
        decision = schedule(pod, members)
        if isinstance(decision, Fit):
            annotations = {**unit.pod_annotations, UNIT_ANNOTATION: policy.mark(unit),
                           DELETION_COST: str(-unit.index)}
            return Placed(decision, unit, dict(unit.pod_labels), annotations)
        failures.update({name: found for name, found in decision.failures.items() if name not in failures})
        if policy.try_next == "ExceedMax":
            break
        if policy.try_next == "TimeoutOrExceedMax" and waited < policy.timeout:
            return Waiting(_message(infos, failures), policy.timeout - waited)
        if policy.try_next == "LackResourceAndNoTerminating" and _terminating(held[unit.index]):
            break
    return Waiting(_message(infos, failures))


def _message(infos: list[NodeInfo], failures: dict[str, list[str]]) -> str:
    every = {i.name: failures.get(i.name) or [NOT_IN_UNITS] for i in infos}
    return fit_error(len(infos), every)
