"""apps/v1 Deployment: keeps `spec.replicas` Pods of the current template running, as the Deployment and
ReplicaSet controllers do together (the reference keeps no ReplicaSet objects: the Deployment owns its Pods,
named `<deployment>-<pod-template-hash>-<random>` as a ReplicaSet's are). A changed template rolls: Pods of the
new template are made, those of the old one go once the new ones are ready. Scale-in removes Pods in the
ReplicaSet's order. Status: replicas, updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas
and the conditions Available and Progressing with Kubernetes' reasons."""

from __future__ import annotations

from reference.apis import conditions
from reference.apis.objects import is_deleting, owner_reference, pod_ready
from reference.reconciler.controller import Controller, Key, Watch, own_key, owner_keys
from reference.reconciler.podset import HASH_LABEL, deletion_order, template_hash


def make_pod(deployment: dict, digest: str) -> dict:
    """A Pod of the Deployment's current template, named through generateName."""
    meta = deployment["metadata"]
    template = (deployment.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": f"{meta['name']}-{digest}-", "namespace": meta["namespace"],
                         "labels": {**(template_meta.get("labels") or {}), HASH_LABEL: digest},
                         "annotations": dict(template_meta.get("annotations") or {}),
                         "ownerReferences": [owner_reference(deployment)]},
            "spec": template.get("spec") or {}}


def _max_unavailable(deployment: dict, replicas: int) -> int:
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return int(replicas * int(value[:-1] or 0) / 100)
    return int(value) if str(value).isdigit() else 0


def deployment_status(deployment: dict, pods: list[dict], digest: str) -> dict:
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    current = [p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == digest]
    ready = sum(1 for p in pods if pod_ready(p))
    name = f"{deployment['metadata']['name']}-{digest}"
    status: dict = {"observedGeneration": deployment["metadata"].get("generation"), "replicas": len(pods),
                    "updatedReplicas": len(current), "readyReplicas": ready, "availableReplicas": ready}
    if replicas - ready > 0:
        status["unavailableReplicas"] = replicas - ready
    status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
    if ready >= replicas - _max_unavailable(deployment, replicas):
        available = conditions.condition("Available", True, "MinimumReplicasAvailable",
                                         "Deployment has minimum availability.")
    else:
        available = conditions.condition("Available", False, "MinimumReplicasUnavailable",
                                         "Deployment does not have minimum availability.")
    if len(current) >= replicas and len(pods) == len(current) and sum(pod_ready(p) for p in current) >= replicas:
        progressing = conditions.condition("Progressing", True, "NewReplicaSetAvailable",
                                           f'ReplicaSet "{name}" has successfully progressed.')
    else:
        progressing = conditions.condition("Progressing", True, "ReplicaSetUpdated",
                                           f'ReplicaSet "{name}" is progressing.')
    status["conditions"] = conditions.merge([available, progressing], (deployment.get("status") or {})
                                            .get("conditions"))
    return status


class DeploymentController(Controller):
    name = "deployment-controller"

    def __init__(self, registry) -> None:
        super().__init__(registry)
        self.kind = registry.kinds.require("apps", "v1", "deployments")
        self.pods = registry.kinds.require("", "v1", "pods")

    def watches(self) -> list[Watch]:
        return [Watch(self.kind, own_key), Watch(self.pods, owner_keys("Deployment"))]

    def _delete(self, pods: list[dict]) -> None:
        for pod in pods:
            self.registry.delete(self.pods, pod["metadata"]["namespace"], pod["metadata"]["name"], {}, self.opts)

    async def reconcile(self, key: Key) -> float | None:
        deployment = self.get(self.kind, *key)
        if deployment is None or is_deleting(deployment):
            return None  # its Pods go with it (ownerReferences)
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        digest = template_hash(spec.get("template") or {})
        children = [p for p in self.children(self.pods, key[0], deployment["metadata"]["uid"]) if not is_deleting(p)]
        # A Pod that ended (evicted, say) is replaced, as a ReplicaSet replaces it.
        ended = [p for p in children if (p.get("status") or {}).get("phase") in ("Failed", "Succeeded")]
        self._delete(ended)
        pods = [p for p in children if p not in ended]
        current = [p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == digest]
        old = [p for p in pods if p not in current]
        if len(current) < replicas:
            for _ in range(replicas - len(current)):
                current.append(self.registry.create(self.pods, key[0], make_pod(deployment, digest), self.opts))
        elif len(current) > replicas:
            extra = sorted(current, key=deletion_order)[:len(current) - replicas]
            self._delete(extra)
            current = [p for p in current if p not in extra]
        if old and sum(pod_ready(p) for p in current) >= replicas:
            self._delete(old)
            old = []
        self.write_status(self.kind, deployment, deployment_status(deployment, current + old, digest))
        return None
