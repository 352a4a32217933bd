"""EventTransform (pkg/reconciler/eventtransform), with the JSONata transformation run by the data plane
instead of a Deployment of Knative's transform-jsonata image: the transform answers at
`http://<name>-jsonata.<namespace>.svc.cluster.local` once the data plane serves its generation.

Conditions as the lifecycle sets them: JsonataDeploymentReady (the data plane serves it; else False,
JsonataDeploymentUnavailable), JsonataSinkBindingReady (spec.sink resolved into status.sinkUri; else False,
NoAddressable), TransformationReady following the first of those that is not True, Addressable once it has
its address (else False, WaitingForServiceEndpoints), EventPoliciesReady; Ready needs TransformationReady,
Addressable and EventPoliciesReady.
"""

from __future__ import annotations

from reference.apis import conditions
from reference.apis.eventing import JSONATA_SUFFIX, service_host
from reference.eventing.broker import PROBE_RETRY, Probe, always_serving
from reference.eventing.policies import event_policies_ready, features
from reference.eventing.resolver import Unresolvable, destination_watches, resolve
from reference.reconciler.controller import Controller, Key, Watch, own_key
from reference.serving.resources.services import child_name

OWNED_STATUS = ("conditions", "address", "addresses", "sinkUri")


def transform_url(namespace: str, name: str) -> str:
    return f"http://{service_host(namespace, child_name(name, JSONATA_SUFFIX))}"


def transformation_ready(deployment: conditions.Condition, binding: conditions.Condition) -> conditions.Condition:
    """markTransformReady: the deployment's condition while it is not True, else the sink binding's."""
    for part in (deployment, binding):
        if part["status"] != "True":
            return conditions.condition("TransformationReady", part["status"], part.get("reason", ""),
                                        part.get("message", ""))
    return conditions.condition("TransformationReady", True)


class EventTransformReconciler(Controller):
    name = "eventtransform-controller"

    def __init__(self, registry, probe: Probe = always_serving) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("eventing.knative.dev", "v1alpha1", "eventtransforms")
        self.probe = probe

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), *destination_watches(self.registry, self.kind)]

    async def reconcile(self, key: Key) -> float | None:
        transform = self.get(self.kind, *key)
        if transform is None or transform["metadata"].get("deletionTimestamp"):
            return None
        spec = transform.get("spec") or {}
        previous = transform.get("status") or {}
        out = {k: v for k, v in previous.items() if k not in OWNED_STATUS}
        generation = transform["metadata"]["generation"]
        out["observedGeneration"] = generation
        binding = conditions.condition("JsonataSinkBindingReady", True)
        if spec.get("sink"):
            try:
                out["sinkUri"] = resolve(spec["sink"], key[0], self.registry.store, self.registry.kinds)
            except Unresolvable as err:
                binding = conditions.condition("JsonataSinkBindingReady", False, "NoAddressable",
                                               f"Addressable could not be extracted from destination: {err}")
        again = None
        serving = await self.probe("eventtransforms", *key, generation=str(generation), sink=out.get("sinkUri", ""))
        deployment = conditions.condition("JsonataDeploymentReady", True) if serving else conditions.condition(
            "JsonataDeploymentReady", False, "JsonataDeploymentUnavailable", "Expected replicas: 1, available: 0")
        if not serving and binding["status"] == "True":
            again = PROBE_RETRY
        if serving and binding["status"] == "True":
            url = transform_url(*key)
            out["address"] = {"name": "http", "url": url}
            out["addresses"] = [{"name": "http", "url": url}]
            addressable = conditions.condition("Addressable", True)
        else:
            addressable = conditions.condition("Addressable", False, "WaitingForServiceEndpoints", "URL is empty")
        parts = [transformation_ready(deployment, binding), addressable, event_policies_ready(features(self.registry))]
        out["conditions"] = conditions.merge([deployment, binding, *parts, conditions.all_of("Ready", parts)],
                                             previous.get("conditions"))
        self.write_status(self.kind, transform, out)
        return again
