"""ContainerSource: runs spec.template as one Pod that is told where to send its events.

Knative makes a Deployment of the template and a SinkBinding that injects the sink; here the controller
makes the Pod itself (the Deployment's one replica) with what the SinkBinding would add: K_SINK and, when
the source has ceOverrides, K_CE_OVERRIDES (their JSON) in every container. For the older sources of seed
003 each container also gets SINK, and a `--sink`/`--sink=` argument it already has is given the sink URI.
A changed template or sink starts a new Pod; the old one goes once the new one is Ready (a rolling update
with one replica). The conditions are Knative v1's: SinkBindingReady, ReceiveAdapterReady, Ready.
"""

from __future__ import annotations

import copy
import json

from reference.apis import conditions
from reference.apis.objects import is_deleting, pod_ready
from reference.eventing.resolver import Unresolvable, destination_watches, resolve
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.reconciler.podset import HASH_LABEL, RESOURCE_FAILURES, container_failure, replica_pod, template_hash

SOURCE_LABEL = "sources.knative.dev/source"
CONTROLLER_AGENT = "container-source-controller"
NAME_LABEL = "sources.knative.dev/containerSource"
SINK_ENV = ("K_SINK", "SINK")
OVERRIDES_ENV = "K_CE_OVERRIDES"
UNRESOLVED_RETRY = 2.0
# ...or that it keeps failing (a source that crash-loops is not Ready).
STUCK = (*RESOURCE_FAILURES, "CrashLoopBackOff")


def overrides_json(source: dict) -> str | None:
    """K_CE_OVERRIDES as Knative's SinkBinding writes it (Go's json.Marshal: compact, sorted keys)."""
    overrides = (source.get("spec") or {}).get("ceOverrides")
    if overrides is None:
        return None
    return json.dumps(overrides, separators=(",", ":"), sort_keys=True)


def with_sink_args(args: list[str], sink: str) -> list[str]:
    """`--sink=X` becomes `--sink=<sink>` and `--sink X` becomes `--sink <sink>`; other args stay."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith(("--sink=", "-sink=")):
            out.append(f"{arg.split('=', 1)[0]}={sink}")
        elif arg in ("--sink", "-sink"):
            out += [arg, sink]
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                i += 1  # the value it had
        else:
            out.append(arg)
        i += 1
    return out


def with_sink(container: dict, sink: str, overrides: str | None) -> dict:
    """A container of the template as the source runs it."""
    out = copy.deepcopy(container)
    injected = {name: sink for name in SINK_ENV}
    if overrides is not None:
        injected[OVERRIDES_ENV] = overrides
    out["env"] = [e for e in out.get("env") or [] if e.get("name") not in injected] + [
        {"name": name, "value": value} for name, value in injected.items()]
    if out.get("args"):
        out["args"] = with_sink_args(out["args"], sink)
    return out


def pod_template(source: dict, sink: str) -> dict:
    """The Deployment's pod template: the source's template with the sink injected and Knative's labels."""
    template = copy.deepcopy((source.get("spec") or {}).get("template") or {})
    meta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    overrides = overrides_json(source)
    spec["containers"] = [with_sink(c, sink, overrides) for c in spec.get("containers") or []]
    spec.setdefault("restartPolicy", "Always")
    labels = {**(meta.get("labels") or {}), SOURCE_LABEL: CONTROLLER_AGENT, NAME_LABEL: source["metadata"]["name"]}
    return {"metadata": {"labels": labels, "annotations": dict(meta.get("annotations") or {})}, "spec": spec}


def make_pod(source: dict, sink: str) -> dict:
    """The Pod that runs a ContainerSource sending to `sink`, named as its Deployment's replica would be."""
    template = pod_template(source, sink)
    return replica_pod(source, template["metadata"]["labels"], template["metadata"]["annotations"], template["spec"],
                       template_hash(template))


def stuck(pod: dict) -> tuple[str, str] | None:
    """(reason, message) of a container that cannot run, if any."""
    failure = container_failure([pod], STUCK)
    if failure is None:
        return None
    return failure.reason, failure.message or ("the container exited" if failure.exited else "")


class ContainerSourceReconciler(Controller):
    name = "containersource-controller"

    def __init__(self, registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("sources.knative.dev", "v1", "containersources")
        self.pods = registry.kinds.require("", "v1", "pods")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.pods, owner_keys("ContainerSource")),
                *destination_watches(self.registry, self.kind)]

    def _roll(self, source: dict, sink: str, pods: list[dict]) -> list[dict]:
        """Pods of the current template: one is created if there is none; older ones go once it is Ready."""
        namespace = source["metadata"]["namespace"]
        digest = template_hash(pod_template(source, sink))
        current = [p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == digest]
        if not current:
            current = [self.registry.create(self.pods, namespace, make_pod(source, sink), self.opts)]
        if any(pod_ready(p) for p in current):
            for pod in pods:
                if pod not in current:
                    self.registry.delete(self.pods, namespace, pod["metadata"]["name"], {}, self.opts)
        return current

    async def reconcile(self, key: Key) -> float | None:
        source = self.get(self.kind, *key)
        if source is None or source["metadata"].get("deletionTimestamp"):
            return None  # its pods go with it (ownerReferences)
        spec = source.get("spec") or {}
        previous = source.get("status") or {}
        status = {k: v for k, v in previous.items() if k not in ("conditions", "sinkUri")}
        status["observedGeneration"] = source["metadata"].get("generation")
        pods = [p for p in self.children(self.pods, key[0], source["metadata"]["uid"]) if not is_deleting(p)]
        try:
            sink = resolve(spec.get("sink"), key[0], self.registry.store, self.registry.kinds)
        except Unresolvable as err:
            # Like a SinkBinding that cannot resolve: what runs keeps running as it was.
            bound = conditions.condition("SinkBindingReady", False, "NotFound", str(err))
            adapter = conditions.condition("ReceiveAdapterReady", None, "NoSink", "Waiting for the sink to resolve.")
            again: float | None = UNRESOLVED_RETRY
        else:
            status["sinkUri"] = sink
            bound = conditions.condition("SinkBindingReady", True)
            current = self._roll(source, sink, pods)
            problem = next((found for found in map(stuck, current) if found), None)
            if any(pod_ready(p) for p in current):
                adapter = conditions.condition("ReceiveAdapterReady", True)
            elif problem is not None:
                adapter = conditions.condition("ReceiveAdapterReady", False, *problem)
            else:
                adapter = conditions.condition("ReceiveAdapterReady", None, "Deploying",
                                               f"Waiting for pod {current[0]['metadata']['name']} to be ready.")
            again = None
        parts = [bound, adapter]
        status["conditions"] = conditions.merge([*parts, conditions.all_of("Ready", parts)],
                                                previous.get("conditions"))
        self.write_status(self.kind, source, status)
        return again
