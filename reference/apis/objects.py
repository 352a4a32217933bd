"""Accessors over API objects that every area reads the same way: owner references, deletion, a Pod's
readiness and activity, a revision's user container, its declared port and protocol, reserved instances.

Objects are the API server's JSON (dicts); these functions never change them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reference.apis import conditions
from reference.apis.labels import NOT_PROPAGATED, RESERVED_LABEL

Obj = dict[str, Any]  # an API object as the API server stores it
DEFAULT_PORT = 8080  # Knative's user port when the container declares none


def owner_reference(obj: Obj) -> dict[str, Any]:
    """A controller reference to `obj` (blocking its deletion until the child is gone)."""
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj: Obj, owner_uid: str) -> bool:
    """Whether any of the object's owner references names `owner_uid`."""
    return any(r.get("uid") == owner_uid for r in obj["metadata"].get("ownerReferences") or [])


def controlled_by(obj: Obj, owner: Obj) -> bool:
    """metav1.IsControlledBy: the object's controller reference names `owner`."""
    uid = owner["metadata"]["uid"]
    return any(r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


def propagated(annotations: dict[str, str] | None) -> dict[str, str]:
    """The annotations a parent hands down to what it creates."""
    return {k: v for k, v in (annotations or {}).items() if k not in NOT_PROPAGATED}


def is_deleting(obj: Obj | None) -> bool:
    return bool(obj and obj["metadata"].get("deletionTimestamp"))


def pod_ready(pod: Obj) -> bool:
    """Ready=True and not being deleted: a Pod that may take traffic."""
    return conditions.is_true(pod) and not is_deleting(pod)


def pod_active(pod: Obj) -> bool:
    """A Pod that counts as a replica (the ReplicaSet's FilterActivePods): not being deleted, not ended (an
    evicted Pod is Failed and stays; its replacement is another Pod)."""
    return not is_deleting(pod) and (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded")


def is_reserved(pod: Obj) -> bool:
    """ACK's reserved instance (reference.serving.reserve): kept at zero, not a ready replica for the KPA."""
    return (pod["metadata"].get("labels") or {}).get(RESERVED_LABEL) == "true"


def user_container_index(containers: list[dict[str, Any]]) -> int:
    """Knative's user container: the only one, or the one that declares a port."""
    if len(containers) == 1:
        return 0
    return next((i for i, c in enumerate(containers) if c.get("ports")), 0)


def user_container(spec: dict[str, Any]) -> dict[str, Any]:
    """A revision (or pod) spec's user container, {} when it has none."""
    containers: list[dict[str, Any]] = spec.get("containers") or []
    return containers[user_container_index(containers)] if containers else {}


def first_port(spec: dict[str, Any]) -> dict[str, Any]:
    """The user container's declared port (Knative takes the first), {} when it declares none."""
    ports: list[dict[str, Any]] = user_container(spec).get("ports") or [{}]
    return ports[0]


def declared_port(revision: Obj) -> int:
    """The user container's containerPort, 8080 when it declares none (Knative's default)."""
    return int(first_port(revision.get("spec") or {}).get("containerPort") or DEFAULT_PORT)


def protocol_type(revision: Obj) -> str:
    """`h2c` when the user container's first port is named so, else `http1` (Knative's Revision.GetProtocol):
    the protocol the data plane speaks to the replica."""
    return "h2c" if first_port(revision.get("spec") or {}).get("name") == "h2c" else "http1"


def ready_hosts(endpoint_slice: Obj) -> Iterator[tuple[dict[str, Any], str]]:
    """Each endpoint of an EndpointSlice not marked unready, once per address, with the address as a URL's
    host takes it (an IPv6 one in brackets)."""
    for endpoint in endpoint_slice.get("endpoints") or []:
        if (endpoint.get("conditions") or {}).get("ready") is False:
            continue
        for address in endpoint.get("addresses") or []:
            yield endpoint, f"[{address}]" if ":" in address else address
