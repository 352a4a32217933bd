"""Pure builders of what Sequences and Parallels own, named and shaped as Knative's
pkg/reconciler/{sequence,parallel}/resources make them: channels of the channelTemplate's kind, and the
Subscriptions that wire them."""

from __future__ import annotations

import copy

from reference.apis.objects import owner_reference

SUBSCRIPTION = "messaging.knative.dev/v1"
DESTINATION_FIELDS = ("ref", "uri", "audience", "CACerts")


# Names ------------------------------------------------------------------------------------------------

def sequence_channel_name(sequence: str, step: int) -> str:
    return f"{sequence}-kn-sequence-{step}"


def sequence_subscription_name(sequence: str, step: int) -> str:
    return f"{sequence}-kn-sequence-{step}"


def parallel_channel_name(parallel: str) -> str:
    return f"{parallel}-kn-parallel"


def parallel_branch_channel_name(parallel: str, branch: int) -> str:
    return f"{parallel}-kn-parallel-{branch}"


def parallel_filter_subscription_name(parallel: str, branch: int) -> str:
    return f"{parallel}-kn-parallel-filter-{branch}"


def parallel_subscription_name(parallel: str, branch: int) -> str:
    return f"{parallel}-kn-parallel-{branch}"


# Builders ---------------------------------------------------------------------------------------------

def make_channel(owner: dict, name: str) -> dict:
    """duck.NewPhysicalChannel: the template's kind and spec, owned (controlled) by the flow."""
    template = owner["spec"]["channelTemplate"]
    channel = {"apiVersion": template["apiVersion"], "kind": template["kind"],
               "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                            "ownerReferences": [owner_reference(owner)]}}
    if template.get("spec"):
        channel["spec"] = copy.deepcopy(template["spec"])
    return channel


def channel_ref(owner: dict, name: str, with_namespace: bool = False) -> dict:
    template = owner["spec"]["channelTemplate"]
    ref = {"apiVersion": template["apiVersion"], "kind": template["kind"], "name": name}
    if with_namespace:
        ref["namespace"] = owner["metadata"]["namespace"]
    return ref


def destination(source: dict) -> dict:
    """The Destination fields of a step, branch part or reply (a step carries its delivery beside them)."""
    return copy.deepcopy({k: source[k] for k in DESTINATION_FIELDS if source.get(k) is not None})


def _subscription(owner: dict, name: str, channel: str) -> dict:
    return {"apiVersion": SUBSCRIPTION, "kind": "Subscription",
            "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                         "ownerReferences": [owner_reference(owner)]},
            "spec": {"channel": channel_ref(owner, channel)}}


def make_sequence_subscription(sequence: dict, step: int) -> dict:
    """Step i subscribes to channel i; its reply goes to channel i+1, the last one's to spec.reply."""
    steps = sequence["spec"]["steps"]
    name = sequence["metadata"]["name"]
    subscription = _subscription(sequence, sequence_subscription_name(name, step), sequence_channel_name(name, step))
    spec = subscription["spec"]
    spec["subscriber"] = destination(steps[step])
    if steps[step].get("delivery"):
        spec["delivery"] = copy.deepcopy(steps[step]["delivery"])
    if step < len(steps) - 1:
        spec["reply"] = {"ref": channel_ref(sequence, sequence_channel_name(name, step + 1), with_namespace=True)}
    elif sequence["spec"].get("reply"):
        spec["reply"] = destination(sequence["spec"]["reply"])
    return subscription


def make_parallel_filter_subscription(parallel: dict, branch: int) -> dict:
    """On the ingress channel: the branch's filter, whose reply feeds the branch channel; without a filter
    the branch channel itself is the subscriber."""
    name = parallel["metadata"]["name"]
    subscription = _subscription(parallel, parallel_filter_subscription_name(name, branch),
                                 parallel_channel_name(name))
    branch_channel = {"ref": channel_ref(parallel, parallel_branch_channel_name(name, branch), with_namespace=True)}
    spec = subscription["spec"]
    found = parallel["spec"]["branches"][branch].get("filter")
    if found is None:
        spec["subscriber"] = branch_channel
    else:
        spec["subscriber"] = copy.deepcopy(found)
        spec["reply"] = branch_channel
    return subscription


def make_parallel_subscription(parallel: dict, branch: int) -> dict:
    """On the branch channel: the branch's subscriber, replying to the branch's reply, else spec.reply."""
    name = parallel["metadata"]["name"]
    subscription = _subscription(parallel, parallel_subscription_name(name, branch),
                                 parallel_branch_channel_name(name, branch))
    entry = parallel["spec"]["branches"][branch]
    spec = subscription["spec"]
    spec["subscriber"] = copy.deepcopy(entry.get("subscriber") or {})
    if entry.get("delivery"):
        spec["delivery"] = copy.deepcopy(entry["delivery"])
    reply = entry.get("reply") or parallel["spec"].get("reply")
    if reply:
        spec["reply"] = copy.deepcopy(reply)
    return subscription
