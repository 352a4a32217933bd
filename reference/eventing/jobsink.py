"""JobSink's control plane (knative/eventing pkg/reconciler/jobsink): an address on the job-sink receiver,
`http://job-sink.knative-eventing.svc.cluster.local/<namespace>/<name>` (with its audience while sender identity
is on), status.job.selector naming the label its Jobs carry, and the EventPolicies applied to it. Addressable
waits until the data plane's receiver knows the JobSink, so that a client that sees Ready can send at once."""

from __future__ import annotations

from reference.apis import conditions
from reference.apis.eventing import job_sink_url
from reference.apis.objects import is_deleting
from reference.eventing import identity
from reference.eventing.broker import PROBE_RETRY, Probe, always_serving
from reference.reconciler.controller import Controller, Key, Watch, own_key

GROUP, KIND = "sinks.knative.dev", "JobSink"
NAME_LABEL = "sinks.knative.dev/job-sink-name"
ID_LABEL = "sinks.knative.dev/job-sink-id"


class JobSinkReconciler(Controller):
    name = "jobsink-controller"

    def __init__(self, registry, probe: Probe = always_serving) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require(GROUP, "v1alpha1", "jobsinks")
        self.probe = probe

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), *identity.identity_watches(self.registry, self.kind, policies=True)]

    async def reconcile(self, key: Key) -> float | None:
        sink = self.get(self.kind, *key)
        if sink is None or is_deleting(sink):
            return None
        flags = identity.features(self.registry)
        previous = sink.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "address", "addresses", "policies")}
        status["observedGeneration"] = sink["metadata"].get("generation")
        if (sink.get("spec") or {}).get("job") is not None:
            status["job"] = {"selector": f"{NAME_LABEL}={key[1]}"}
        status["address"] = identity.address(job_sink_url(*key), flags, GROUP, KIND, *key)
        policies, policies_ready = identity.policies(self.registry, flags, GROUP, KIND, sink)
        if policies:
            status["policies"] = policies
        again = None
        if await self.probe("jobsinks", *key):
            addressable = conditions.condition("Addressable", True)
        else:
            addressable = conditions.condition("Addressable", None, "Probing",
                                               "Waiting for the job-sink receiver to serve the JobSink.")
            again = PROBE_RETRY
        parts = [addressable, policies_ready]
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)], previous.get("conditions"))
        self.write_status(self.kind, sink, status)
        return again
