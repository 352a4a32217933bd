"""Table tests of the Sequence and Parallel reconcilers (objects in; creates, updates, deletes and conditions out)
and of the builders that wire their channels and Subscriptions as Knative's do."""

from __future__ import annotations

import asyncio
import copy

import pytest

from reference.apis import conditions
from reference.apiserver.bootstrap import bootstrap
from reference.eventing.flows import resources
from reference.eventing.flows.parallel import ParallelReconciler
from reference.eventing.flows.sequence import SequenceReconciler
from tests.unit.reconciler_table import RecordingRegistry, Row, run, seed

NS = "ns"
IMC = {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}
OWNER = {"apiVersion": "flows.knative.dev/v1", "metadata": {"namespace": NS, "uid": "u-1"}}


def ksvc(name: str) -> dict:
    return {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": name, "namespace": NS}}


def sequence(steps: int = 2, template: dict | None = None, reply: bool = True) -> dict:
    spec: dict = {"channelTemplate": template or IMC, "steps": [ksvc(f"step{i}") for i in range(steps)]}
    if reply:
        spec["reply"] = ksvc("display")
    return {"apiVersion": "flows.knative.dev/v1", "kind": "Sequence", "metadata": {"name": "s", "namespace": NS},
            "spec": spec}


def parallel(filters: bool = True) -> dict:
    branches = [{"subscriber": ksvc(f"sub{i}"), **({"filter": ksvc(f"filter{i}")} if filters and i == 0 else {})}
                for i in range(2)]
    return {"apiVersion": "flows.knative.dev/v1", "kind": "Parallel", "metadata": {"name": "p", "namespace": NS},
            "spec": {"channelTemplate": IMC, "branches": branches, "reply": ksvc("display")}}


def ready_channel(name: str) -> dict:
    url = f"http://{name}-kn-channel.{NS}.svc.cluster.local"
    return {**IMC, "metadata": {"name": name, "namespace": NS},
            "status": {"address": {"name": "http", "url": url},
                       "conditions": [conditions.condition("Ready", True)]}}


def ready(subscription: dict) -> dict:
    subscription = copy.deepcopy(subscription)
    subscription["metadata"].pop("ownerReferences")
    subscription["status"] = {"conditions": [conditions.condition("Ready", True)]}
    return subscription


def owned(obj: dict) -> dict:
    """A flow as the builders see it (the owner reference needs a uid)."""
    return {**obj, "metadata": {**obj["metadata"], "uid": "u-1"}}


NOT_YET = {"ChannelsReady": ("Unknown", "ChannelsNotReady"), "SubscriptionsReady": ("Unknown", "SubscriptionsNotReady"),
           "Addressable": ("Unknown", "emptyAddress"), "EventPoliciesReady": ("True", "OIDCDisabled"),
           "Ready": ("Unknown", "ChannelsNotReady")}

SEQUENCE_ROWS = [
    Row("a new Sequence makes a channel and a Subscription per step", [sequence()], (NS, "s"),
        want_creates=["InMemoryChannel/s-kn-sequence-0", "InMemoryChannel/s-kn-sequence-1",
                      "Subscription/s-kn-sequence-0", "Subscription/s-kn-sequence-1"],
        want_conditions=NOT_YET),
    Row("ready channels and Subscriptions make it Ready, addressed at channel 0",
        [sequence(), ready_channel("s-kn-sequence-0"), ready_channel("s-kn-sequence-1"),
         ready(resources.make_sequence_subscription(owned(sequence()), 0)),
         ready(resources.make_sequence_subscription(owned(sequence()), 1))], (NS, "s"),
        want_conditions={"ChannelsReady": ("True", ""), "SubscriptionsReady": ("True", ""), "Addressable": ("True", ""),
                         "Ready": ("True", "")},
        want_status={"address": {"url": f"http://s-kn-sequence-0-kn-channel.{NS}.svc.cluster.local"}}),
    Row("a channel kind the platform does not serve leaves it waiting, creating nothing",
        [sequence(template={"apiVersion": "messaging.knative.dev/v1beta1", "kind": "KafkaChannel"})], (NS, "s"),
        want_conditions={"ChannelsReady": ("Unknown", "ChannelsNotReady"), "Ready": ("Unknown", "ChannelsNotReady")}),
    Row("a step's new subscriber updates its Subscription",
        [sequence(steps=1), ready_channel("s-kn-sequence-0"),
         ready(resources.make_sequence_subscription(owned(sequence(steps=1, reply=False)), 0))], (NS, "s"),
        want_updates=["Subscription/s-kn-sequence-0"]),
    Row("a Subscription whose channel changed is deleted and made again",
        [sequence(steps=1, template={"apiVersion": "messaging.knative.dev/v1", "kind": "Channel"}),
         ready(resources.make_sequence_subscription(owned(sequence(steps=1)), 0))], (NS, "s"),
        want_creates=["Channel/s-kn-sequence-0", "Subscription/s-kn-sequence-0"],
        want_deletes=["Subscription/s-kn-sequence-0"]),
]


@pytest.mark.parametrize("row", SEQUENCE_ROWS, ids=lambda r: r.name)
def test_sequence_reconciler(row: Row) -> None:
    run(row, SequenceReconciler)


PARALLEL_ROWS = [
    Row("a new Parallel makes an ingress channel, a channel per branch and two Subscriptions per branch",
        [parallel()], (NS, "p"),
        want_creates=["InMemoryChannel/p-kn-parallel", "InMemoryChannel/p-kn-parallel-0",
                      "InMemoryChannel/p-kn-parallel-1", "Subscription/p-kn-parallel-filter-0",
                      "Subscription/p-kn-parallel-filter-1", "Subscription/p-kn-parallel-0",
                      "Subscription/p-kn-parallel-1"],
        want_conditions={"ChannelsReady": ("False", "ChannelsNotReady"),
                         "SubscriptionsReady": ("False", "SubscriptionsNotReady"),
                         "Addressable": ("False", "emptyAddress"), "Ready": ("False", "ChannelsNotReady")}),
    Row("addressable channels and ready Subscriptions make it Ready, addressed at the ingress channel",
        [parallel(), *(ready_channel(n) for n in ("p-kn-parallel", "p-kn-parallel-0", "p-kn-parallel-1")),
         *(ready(resources.make_parallel_filter_subscription(owned(parallel()), i)) for i in range(2)),
         *(ready(resources.make_parallel_subscription(owned(parallel()), i)) for i in range(2))], (NS, "p"),
        want_conditions={"ChannelsReady": ("True", ""), "SubscriptionsReady": ("True", ""),
                         "Addressable": ("True", ""), "Ready": ("True", "")},
        want_status={"address": {"name": "http", "url": f"http://p-kn-parallel-kn-channel.{NS}.svc.cluster.local"}}),
]


@pytest.mark.parametrize("row", PARALLEL_ROWS, ids=lambda r: r.name)
def test_parallel_reconciler(row: Row) -> None:
    run(row, ParallelReconciler)


def test_a_shrunk_sequence_deletes_what_it_no_longer_wants() -> None:
    registry = RecordingRegistry()
    bootstrap(registry)
    seed(registry, [sequence(steps=3)], {})
    controller = SequenceReconciler(registry)
    asyncio.run(controller.reconcile((NS, "s")))
    stored = registry.get(controller.kind, NS, "s")
    shrunk = {**stored["spec"], "steps": stored["spec"]["steps"][:2]}
    registry.update(controller.kind, NS, "s", {**stored, "spec": shrunk})
    registry.recording = True
    asyncio.run(controller.reconcile((NS, "s")))
    assert sorted(registry.deletes) == ["InMemoryChannel/s-kn-sequence-2", "Subscription/s-kn-sequence-2"]
    assert registry.creates == []
    assert registry.updates == ["Subscription/s-kn-sequence-1"], "the last step now replies to spec.reply"


def test_parallel_status_lists_every_branch() -> None:
    registry = RecordingRegistry()
    bootstrap(registry)
    seed(registry, [parallel()], {})
    controller = ParallelReconciler(registry)
    asyncio.run(controller.reconcile((NS, "p")))
    status = registry.get(controller.kind, NS, "p")["status"]
    assert status["ingressChannelStatus"]["channel"] == {**IMC, "name": "p-kn-parallel", "namespace": NS}
    assert [b["filterSubscriptionStatus"]["subscription"]["name"] for b in status["branchStatuses"]] == [
        "p-kn-parallel-filter-0", "p-kn-parallel-filter-1"]
    assert status["branchStatuses"][0]["filterChannelStatus"]["ready"]["reason"] == "NotAddressable"


# Builders -----------------------------------------------------------------------------------------------

def test_sequence_steps_reply_to_the_next_channel_and_the_last_to_the_reply() -> None:
    seq = owned(sequence(steps=2))
    seq["spec"]["steps"][0]["delivery"] = {"retry": 3}
    first, last = (resources.make_sequence_subscription(seq, i)["spec"] for i in range(2))
    assert first["channel"] == {**IMC, "name": "s-kn-sequence-0"}
    assert first["reply"] == {"ref": {**IMC, "name": "s-kn-sequence-1", "namespace": NS}}
    assert first["delivery"] == {"retry": 3}, "a step's delivery is its Subscription's"
    assert last["reply"] == ksvc("display") and "delivery" not in last


def test_a_parallel_branch_without_filter_subscribes_its_channel_directly() -> None:
    par = owned(parallel())
    filtered = resources.make_parallel_filter_subscription(par, 0)["spec"]
    unfiltered = resources.make_parallel_filter_subscription(par, 1)["spec"]
    assert filtered["subscriber"] == ksvc("filter0")
    assert filtered["reply"] == {"ref": {**IMC, "name": "p-kn-parallel-0", "namespace": NS}}
    assert unfiltered["subscriber"] == {"ref": {**IMC, "name": "p-kn-parallel-1", "namespace": NS}}
    assert "reply" not in unfiltered
    par["spec"]["branches"][1]["reply"] = ksvc("own")
    assert resources.make_parallel_subscription(par, 0)["spec"]["reply"] == ksvc("display")
    assert resources.make_parallel_subscription(par, 1)["spec"]["reply"] == ksvc("own"), "a branch reply wins"
