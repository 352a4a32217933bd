"""ACK's ResourcePolicy: units in order, `max`, the try-next policies, and the marks scale-in reads."""

from __future__ import annotations

from reference.scheduler.placement import node_infos
from reference.scheduler.policy import DELETION_COST, UNIT_ANNOTATION, Placed, Policy, Waiting, place, policy_for
from tests.unit.test_scheduler import gpu_node, node, pod

SERVICE = {"serving.knative.dev/service": "svc"}


def policy(*units: dict, **spec: object) -> Policy:
    return Policy.from_object({"metadata": {"name": "pools", "namespace": "ns",
                                            "creationTimestamp": "2026-01-01T00:00:00Z"},
                               "spec": {"selector": SERVICE, "strategy": "prefer", "units": list(units), **spec}})


RESERVED = {"resource": "ecs", "max": 2, "nodeSelector": {"pool": "reserved"}, "podLabels": {"unit": "reserved"}}
BURST = {"resource": "ecs", "nodeSelector": {"pool": "burst"}}
NODES = [node("r", labels={"pool": "reserved"}), node("b", labels={"pool": "burst"}), node("other")]


def fill(pools: Policy, count: int, nodes: list[dict] = NODES, **incoming: object) -> list[dict]:
    """Places `count` Pods one after another, as the scheduler does; returns them bound."""
    placed: list[dict] = []
    for i in range(count):
        new = pod(f"p{i}", labels=dict(SERVICE), **incoming)  # type: ignore[arg-type]
        decision = place(new, pools, node_infos(nodes, placed), placed, waited=0)
        assert isinstance(decision, Placed), decision
        new["spec"]["nodeName"] = decision.fit.node
        new["metadata"]["labels"].update(decision.labels)
        new["metadata"]["annotations"].update(decision.annotations)
        placed.append(new)
    return placed


def test_units_fill_in_order_and_max_sends_the_rest_on() -> None:
    placed = fill(policy(RESERVED, BURST), 6)
    assert [p["spec"]["nodeName"] for p in placed] == ["r", "r", "b", "b", "b", "b"]
    assert placed[0]["metadata"]["labels"]["unit"] == "reserved"
    assert placed[0]["metadata"]["annotations"][UNIT_ANNOTATION] == "pools/0"
    assert [p["metadata"]["annotations"][DELETION_COST] for p in placed] == ["0", "0", "-1", "-1", "-1", "-1"]


def test_a_unit_short_of_resources_passes_to_the_next() -> None:
    nodes = [gpu_node("r", gpus=1, labels={"pool": "reserved"}), gpu_node("b", gpus=4, labels={"pool": "burst"})]
    placed = fill(policy(RESERVED, BURST), 3, nodes, limits={"nvidia.com/gpu": "1"})
    assert [p["spec"]["nodeName"] for p in placed] == ["r", "b", "b"]


def test_exceed_max_waits_when_the_unit_is_only_short() -> None:
    nodes = [gpu_node("r", gpus=1, labels={"pool": "reserved"}), gpu_node("b", gpus=4, labels={"pool": "burst"})]
    pools = policy(RESERVED, BURST, whenTryNextUnits={"policy": "ExceedMax"})
    placed = fill(pools, 1, nodes, limits={"nvidia.com/gpu": "1"})
    decision = place(pod("next", labels=dict(SERVICE), limits={"nvidia.com/gpu": "1"}), pools,
                     node_infos(nodes, placed), placed, waited=0)
    assert isinstance(decision, Waiting)
    assert "Insufficient nvidia.com/gpu" in decision.message


def test_timeout_or_exceed_max_moves_on_once_the_pod_has_waited() -> None:
    nodes = [gpu_node("r", gpus=1, labels={"pool": "reserved"}), gpu_node("b", gpus=4, labels={"pool": "burst"})]
    pools = policy(RESERVED, BURST, whenTryNextUnits={"policy": "TimeoutOrExceedMax", "timeout": "30s"})
    placed = fill(pools, 1, nodes, limits={"nvidia.com/gpu": "1"})
    new = pod("next", labels=dict(SERVICE), limits={"nvidia.com/gpu": "1"})
    early = place(new, pools, node_infos(nodes, placed), placed, waited=10)
    assert isinstance(early, Waiting) and early.retry_after == 20
    late = place(new, pools, node_infos(nodes, placed), placed, waited=31)
    assert isinstance(late, Placed) and late.fit.node == "b"


def test_terminating_pods_do_not_count_toward_max_by_default() -> None:
    pools = policy(RESERVED, BURST)
    placed = fill(pools, 2)
    placed[0]["metadata"]["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    decision = place(pod("next", labels=dict(SERVICE)), pools, node_infos(NODES, placed), placed, waited=0)
    assert isinstance(decision, Placed) and decision.fit.node == "r"
    strict = policy(RESERVED, BURST, ignoreTerminatingPod=False)
    decision = place(pod("next", labels=dict(SERVICE)), strict, node_infos(NODES, placed), placed, waited=0)
    assert isinstance(decision, Placed) and decision.fit.node == "b"


def test_match_label_keys_count_each_revision_apart() -> None:
    pools = policy(RESERVED, BURST, matchLabelKeys=["serving.knative.dev/revision"])
    old = fill(pools, 2)
    for p in old:
        p["metadata"]["labels"]["serving.knative.dev/revision"] = "svc-00001"
    new = pod("new", labels={**SERVICE, "serving.knative.dev/revision": "svc-00002"})
    decision = place(new, pools, node_infos(NODES, old), old, waited=0)
    assert isinstance(decision, Placed) and decision.fit.node == "r"


def test_eci_units_take_virtual_nodes_only() -> None:
    nodes = [node("ecs", labels={"pool": "reserved"}), node("vk", labels={"type": "virtual-kubelet"})]
    placed = fill(policy(RESERVED, {"resource": "eci"}), 3, nodes)
    assert [p["spec"]["nodeName"] for p in placed] == ["ecs", "ecs", "vk"]


def test_nothing_left_names_every_node() -> None:
    pools = policy({**RESERVED, "max": 1})
    placed = fill(pools, 1)
    decision = place(pod("next", labels=dict(SERVICE)), pools, node_infos(NODES, placed), placed, waited=0)
    assert isinstance(decision, Waiting)
    assert decision.message == ("0/3 nodes are available: 1 node(s) in ResourcePolicy units at their max, "
                                "2 node(s) in no ResourcePolicy unit.")


def test_the_policy_selects_by_labels_in_its_namespace() -> None:
    pools = policy(RESERVED)
    assert policy_for(pod(labels=dict(SERVICE)), [pools]) is pools
    assert policy_for(pod(labels={"serving.knative.dev/service": "other"}), [pools]) is None
    elsewhere = pod(labels=dict(SERVICE))
    elsewhere["metadata"]["namespace"] = "other"
    assert policy_for(elsewhere, [pools]) is None
