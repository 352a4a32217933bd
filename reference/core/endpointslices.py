"""The EndpointSlice and Endpoints controllers: a Service with a selector gets EndpointSlices listing the Pods
it selects, and an Endpoints of its name, as kube-controller-manager's endpointslice and endpoints controllers
write them (what a networking layer reads to reach a Service's Pods, and test frameworks wait for; a Service
without a selector keeps what someone else writes).

Each Pod with an IP that has not finished is an endpoint: `ready` when the Pod is Ready and not terminating
(or always, under publishNotReadyAddresses), `serving` when it is Ready, `terminating` while it is deleted.
A slice's ports are the Service's ports with each targetPort resolved against the Pod (a named one is the
container port of that name); Pods that resolve them differently get slices (and subsets) of their own. The
Endpoints lists ready Pods as addresses and the others as notReadyAddresses, leaving out terminating ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from reference.apis import conditions, selectors
from reference.apis.objects import is_deleting, owner_reference
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Registry
from reference.reconciler.controller import Controller, Key, Watch, own_key

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


def resolved_ports(service: dict, pod: dict) -> tuple[tuple[str, int, str, str], ...] | None:
    """(name, port on the Pod, protocol, appProtocol) of each Service port; None when one cannot be resolved."""
    out = []
    containers = (pod.get("spec") or {}).get("containers") or []
    for port in (service.get("spec") or {}).get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            number = next((p.get("containerPort") for c in containers for p in c.get("ports") or []
                           if p.get("name") == target), None)
        else:
            number = int(target) if target is not None else None
        if not number:
            return None
        out.append((port.get("name", ""), int(number), port.get("protocol", "TCP"), port.get("appProtocol", "")))
    return tuple(out)


def endpoint(pod: dict, publish_not_ready: bool) -> dict:
    meta = pod["metadata"]
    deleting = is_deleting(pod)
    ready = conditions.is_true(pod)  # the Ready condition, terminating or not
    out = {"addresses": [pod["status"]["podIP"]],
           "conditions": {"ready": publish_not_ready or (ready and not deleting), "serving": ready,
                          "terminating": deleting},
           "targetRef": {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"],
                         "uid": meta.get("uid", "")}}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        out["nodeName"] = node
    return out


def desired_slices(service: dict, pods: Iterable[dict]) -> list[dict]:
    """The slices a Service with a selector should have (one per way its Pods resolve its ports)."""
    meta, spec = service["metadata"], service.get("spec") or {}
    selector = spec.get("selector") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple, list[dict]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        status = pod.get("status") or {}
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if not selectors.matches({"matchLabels": selector}, pod["metadata"].get("labels")):
            continue
        ports = resolved_ports(service, pod)
        if ports is not None:
            groups.setdefault(ports, []).append(endpoint(pod, publish_not_ready))
    if not groups:
        groups[()] = []  # a Service with no endpoints still has a slice, as Kubernetes keeps one
    slices = []
    for ports, endpoints in groups.items():
        digest = hashlib.sha256(json.dumps([meta.get("uid", ""), ports]).encode()).hexdigest()[:5]
        slices.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{meta['name'][:57]}-{digest}", "namespace": meta.get("namespace", ""),
                         "labels": {SERVICE_NAME_LABEL: meta["name"], MANAGED_BY_LABEL: MANAGED_BY},
                         "ownerReferences": [owner_reference(service)]},
            "addressType": "IPv6" if ":" in (spec.get("clusterIP") or "") else "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": n, "port": p, "protocol": proto, **({"appProtocol": app} if app else {})}
                      for n, p, proto, app in ports],
        })
    return slices


def desired_endpoints(service: dict, slices: list[dict]) -> dict:
    """The Service's Endpoints, from its slices."""
    meta = service["metadata"]
    subsets = []
    for slice_ in slices:
        ready: list[dict] = []
        not_ready: list[dict] = []
        for item in slice_["endpoints"]:
            conditions = item["conditions"]
            if conditions["terminating"] and not conditions["ready"]:
                continue
            address = {"ip": item["addresses"][0], "targetRef": item["targetRef"],
                       **({"nodeName": item["nodeName"]} if item.get("nodeName") else {})}
            (ready if conditions["ready"] else not_ready).append(address)
        if ready or not_ready:
            subsets.append({**({"addresses": ready} if ready else {}),
                            **({"notReadyAddresses": not_ready} if not_ready else {}),
                            "ports": slice_["ports"]})
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace", ""),
                         "labels": dict(meta.get("labels") or {}), "ownerReferences": [owner_reference(service)]},
            "subsets": subsets}


def _endpoints_changed(current: dict, desired: dict) -> dict | None:
    if current.get("subsets", []) == desired["subsets"] and \
            (current["metadata"].get("labels") or {}) == desired["metadata"]["labels"]:
        return None
    return {**current, "subsets": desired["subsets"],
            "metadata": {**current["metadata"], "labels": desired["metadata"]["labels"]}}


def _changed(current: dict, desired: dict) -> dict | None:
    fields = ("addressType", "endpoints", "ports")
    if all(current.get(f) == desired.get(f) for f in fields) and \
            current["metadata"].get("labels") == desired["metadata"]["labels"]:
        return None
    return {**current, **{f: desired[f] for f in fields},
            "metadata": {**current["metadata"], "labels": desired["metadata"]["labels"]}}


class EndpointSliceController(Controller):
    name = "endpointslice-controller"

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("", "v1", "services")
        self.pods = registry.kinds.require("", "v1", "pods")
        self.slices = registry.kinds.require("discovery.k8s.io", "v1", "endpointslices")
        self.endpoints = registry.kinds.require("", "v1", "endpoints")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.pods, self._services_of),
                Watch(self.slices, self._service_of_slice)]

    def _services_of(self, pod: dict) -> Iterable[Key]:
        namespace = pod["metadata"].get("namespace", "")
        labels = pod["metadata"].get("labels")
        for entry in self.registry.store.entries(self.kind.resource, namespace):
            selector = (entry.obj.get("spec") or {}).get("selector")
            if selector and selectors.matches({"matchLabels": selector}, labels):
                yield namespace, entry.obj["metadata"]["name"]

    @staticmethod
    def _service_of_slice(slice_: dict) -> Iterable[Key]:
        labels = slice_["metadata"].get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(SERVICE_NAME_LABEL):
            return [(slice_["metadata"].get("namespace", ""), labels[SERVICE_NAME_LABEL])]
        return []

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        service = self.get(self.kind, namespace, name)
        if service is None or is_deleting(service) or not (service.get("spec") or {}).get("selector"):
            return None  # its slices go with it (garbage collection); without a selector they are not ours
        pods = [e.obj for e in self.registry.store.entries(self.pods.resource, namespace)]
        wanted = desired_slices(service, pods)
        names = {s["metadata"]["name"] for s in wanted}
        for desired in wanted:
            self.ensure_child(self.slices, desired, service, update=_changed)
        self.ensure_child(self.endpoints, desired_endpoints(service, wanted), service, update=_endpoints_changed)
        for stale in self.children(self.slices, namespace, service["metadata"]["uid"]):
            if stale["metadata"]["name"] not in names:
                try:
                    self.registry.delete(self.slices, namespace, stale["metadata"]["name"], {}, self.opts)
                except ApiError as err:
                    if err.code != 404:
                        raise
        return None
