"""RequestReply (pkg/reconciler/requestreply): an AES key for it in knative-eventing's `request-reply-keys`
Secret; one Trigger per data-plane replica (the reference runs one: `<name>0-1`) on its Broker, whose CESQL
filter KN_VERIFY_CORRELATION_ID passes the replies it may take, delivering them to the data plane's
`/<namespace>/<name>/reply`; the Broker's address in status.annotations; the address
`http://request-reply.knative-eventing.svc.cluster.local/<namespace>/<name>`.

Conditions: TriggersReady (Unknown TriggersNotReady until its Trigger is Ready), BrokerReady (Unknown
NotFound without the Broker, False NotReady while it is not Ready), Addressable, EventPoliciesReady (True,
NotImplemented, as Knative has it). Addressable waits for the data plane to serve the RequestReply (Knative
sets it at once), so that a client that sees Ready is answered.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable

from reference.apis import conditions
from reference.apis.eventing import REQUEST_REPLY_HOST, request_reply_url
from reference.apis.objects import owner_reference
from reference.dataplane.eventing.correlation import new_key
from reference.dataplane.eventing.requestreply import BROKER_ADDRESS, KEYS_SECRET, VERIFY_FUNCTION
from reference.eventing.broker import PROBE_RETRY, Probe, always_serving
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.serving.resources.services import child_name

SYSTEM_NAMESPACE = "knative-eventing"
KEYS_LABEL = {"eventing.knative.dev/part-of": "request-reply"}
REPLICAS = 1  # the data plane's replicas: one process
NAME_LABEL = "eventing.knative.dev/RequestReply.name"
NAMESPACE_LABEL = "eventing.knative.dev/RequestReply.namespace"
REPLICAS_LABEL = "eventing.knative.dev/RequestReply.dataPlaneReplicas"


def key_name(namespace: str, name: str, index: int = 0) -> str:
    return f"{namespace}.{name}.key-{index}"


def make_trigger(request_reply: dict, index: int, replicas: int) -> dict:
    """createTrigger: the replies for data-plane replica `index`, delivered to its reply path."""
    meta, spec = request_reply["metadata"], request_reply["spec"]
    namespace, name = meta["namespace"], meta["name"]
    expression = (f'{VERIFY_FUNCTION}({spec.get("replyAttribute") or "replyid"}, "{name}", "{namespace}", '
                  f'"{KEYS_SECRET}", {index}, {replicas})')
    return {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": child_name(name, f"{index}-{replicas}"), "namespace": namespace,
                         "ownerReferences": [owner_reference(request_reply)],
                         "labels": {NAME_LABEL: name, NAMESPACE_LABEL: namespace, REPLICAS_LABEL: str(replicas)}},
            "spec": {"broker": (spec.get("brokerRef") or {}).get("name", ""),
                     "filters": [{"cesql": expression}],
                     "subscriber": {"uri": f"http://{REQUEST_REPLY_HOST}/{namespace}/{name}/reply"}}}


def _trigger_update(current: dict, desired: dict) -> dict | None:
    """Knative compares the specs without `filter` (which the Trigger's defaulting sets)."""
    strip = lambda spec: {k: v for k, v in (spec or {}).items() if k != "filter"}  # noqa: E731
    if strip(current.get("spec")) == strip(desired.get("spec")):
        return None
    updated = copy.deepcopy(current)
    updated["spec"] = {**desired["spec"], "filter": (current.get("spec") or {}).get("filter", {})}
    return updated


class RequestReplyReconciler(Controller):
    name = "requestreply-controller"

    def __init__(self, registry, probe: Probe = always_serving) -> None:
        super().__init__(registry)
        kinds = registry.kinds
        self.kind = kinds.require("eventing.knative.dev", "v1alpha1", "requestreplies")
        self.triggers = kinds.require("eventing.knative.dev", "v1", "triggers")
        self.brokers = kinds.require("eventing.knative.dev", "v1", "brokers")
        self.secrets = kinds.require("", "v1", "secrets")
        self.probe = probe

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.triggers, owner_keys("RequestReply")),
                Watch(self.brokers, self._using_broker)]

    def _using_broker(self, broker: dict) -> Iterable[Key]:
        namespace = broker["metadata"].get("namespace", "")
        for entry in self.registry.store.entries(self.kind.resource, namespace):
            if ((entry.obj.get("spec") or {}).get("brokerRef") or {}).get("name") == broker["metadata"]["name"]:
                yield namespace, entry.obj["metadata"]["name"]

    def _ensure_key(self, namespace: str, name: str) -> None:
        """reconcileAesSecret: the Secret, and a key for this RequestReply in it."""
        secret = self.get(self.secrets, SYSTEM_NAMESPACE, KEYS_SECRET)
        entry = key_name(namespace, name)
        if secret is None:
            self.registry.create(self.secrets, SYSTEM_NAMESPACE, {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": KEYS_SECRET, "namespace": SYSTEM_NAMESPACE, "labels": dict(KEYS_LABEL)},
                "data": {entry: base64.b64encode(new_key()).decode()}}, self.opts)
            return
        data = secret.get("data") or {}
        if any(k.startswith(f"{namespace}.{name}.") for k in data):
            return
        self.registry.update(self.secrets, SYSTEM_NAMESPACE, KEYS_SECRET, {
            **secret, "data": {**data, entry: base64.b64encode(new_key()).decode()}}, self.opts)

    def _broker(self, request_reply: dict, annotations: dict[str, str]) -> conditions.Condition:
        namespace = request_reply["metadata"]["namespace"]
        name = (request_reply["spec"].get("brokerRef") or {}).get("name", "")
        broker = self.get(self.brokers, namespace, name)
        if broker is None:
            return conditions.condition("BrokerReady", None, "NotFound",
                                        f'could not get broker: brokers.eventing.knative.dev "{name}" not found')
        url = ((broker.get("status") or {}).get("address") or {}).get("url")
        if not conditions.is_true(broker) or not url:
            return conditions.condition("BrokerReady", False, "NotReady", "broker is not ready")
        annotations[BROKER_ADDRESS] = url
        return conditions.condition("BrokerReady", True)

    async def reconcile(self, key: Key) -> float | None:
        request_reply = self.get(self.kind, *key)
        if request_reply is None or request_reply["metadata"].get("deletionTimestamp"):
            return None
        previous = request_reply.get("status") or {}
        out = {k: v for k, v in previous.items() if k not in ("conditions", "address", "addresses")}
        out["observedGeneration"] = request_reply["metadata"]["generation"]
        self._ensure_key(*key)
        ready = 0
        for index in range(REPLICAS):
            trigger, owned = self.ensure_child(self.triggers, make_trigger(request_reply, index, REPLICAS),
                                               request_reply, _trigger_update)
            ready += int(owned and conditions.is_true(trigger))
        out["desiredReplicas"], out["readyReplicas"] = REPLICAS, ready
        triggers = conditions.condition("TriggersReady", True) if ready == REPLICAS else conditions.condition(
            "TriggersReady", None, "TriggersNotReady", "not all triggers are ready yet")
        annotations = {k: v for k, v in (previous.get("annotations") or {}).items() if k != BROKER_ADDRESS}
        broker = self._broker(request_reply, annotations)
        out["annotations"] = annotations
        again = None
        if await self.probe("requestreplies", *key):
            url = request_reply_url(*key)
            out["address"] = {"name": "http", "url": url}
            out["addresses"] = [{"name": "http", "url": url}]
            addressable = conditions.condition("Addressable", True)
        else:
            addressable = conditions.condition("Addressable", None, "Probing",
                                               "Waiting for the data plane to serve the RequestReply.")
            again = PROBE_RETRY if broker["status"] == "True" else None
        parts = [triggers, broker, addressable,
                 conditions.condition("EventPoliciesReady", True, "NotImplemented",
                                      "Event policies not implemented for RequestReply yet")]
        out["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)], previous.get("conditions"))
        self.write_status(self.kind, request_reply, out)
        return again
