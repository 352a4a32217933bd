"""What Knative's installation puts in a cluster besides its controllers, as stored objects: a
CustomResourceDefinition per Knative kind (apiextensions.k8s.io, with Knative's duck labels and categories, so
that tools discovering Knative's kinds through CRDs find them), and the aggregated ClusterRoles its
components and tests bind to (addressable-resolver, channelable-manipulator, source-observer,
podspecable-binding), each filled from the per-kind ClusterRoles that carry its label, as Knative's YAML makes
them (config/core/roles and config/channels/in-memory-channel/roles of eventing; config/core/200-roles of
serving). The rules of an aggregated role are gathered when RBAC reads it (reference/core/rbac.py).

Only missing objects are made: a restart keeps what users changed.
"""

from __future__ import annotations

from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.registry import Options, Registry
from reference.apiserver.schemas.schema import to_openapi

ADDRESSABLE = "duck.knative.dev/addressable"
CHANNELABLE = "duck.knative.dev/channelable"
SOURCE = "duck.knative.dev/source"
PODSPECABLE = "duck.knative.dev/podspecable"
BINDING = "duck.knative.dev/binding"
SUBSCRIBABLE = "messaging.knative.dev/subscribable"
EVENTING_SOURCE = "eventing.knative.dev/source"
KNATIVE_GROUPS = ("serving.knative.dev", "autoscaling.internal.knative.dev", "networking.internal.knative.dev",
                  "eventing.knative.dev", "messaging.knative.dev", "sources.knative.dev", "flows.knative.dev",
                  "sinks.knative.dev", "caching.internal.knative.dev")

# each CRD's duck labels, as Knative's YAML gives them (sources: every kind of sources.knative.dev)
_ADDRESSABLE = {"services.serving.knative.dev", "routes.serving.knative.dev", "brokers.eventing.knative.dev",
                "channels.messaging.knative.dev", "inmemorychannels.messaging.knative.dev",
                "eventtransforms.eventing.knative.dev", "jobsinks.sinks.knative.dev", "parallels.flows.knative.dev",
                "sequences.flows.knative.dev", "kafkasinks.eventing.knative.dev"}
_CHANNELS = {"channels.messaging.knative.dev", "inmemorychannels.messaging.knative.dev"}
_PODSPECABLE = {"services.serving.knative.dev", "configurations.serving.knative.dev"}

# the aggregated ClusterRoles: name -> the label whose ClusterRoles it gathers
AGGREGATED = {"addressable-resolver": ADDRESSABLE, "channelable-manipulator": CHANNELABLE,
              "source-observer": SOURCE, "podspecable-binding": PODSPECABLE,
              "knative-serving-aggregated-addressable-resolver": ADDRESSABLE}
READ = ["get", "list", "watch"]
WRITE = ["create", "get", "list", "watch", "update", "patch", "delete"]
LABELS = {"app.kubernetes.io/name": "knative", "app.kubernetes.io/part-of": "kproof"}


def crd_labels(kind: Kind) -> dict[str, str]:
    qualified = kind.qualified
    labels = {"knative.dev/crd-install": "true"}
    if qualified in _ADDRESSABLE:
        labels[ADDRESSABLE] = "true"
    if qualified in _CHANNELS:
        labels[SUBSCRIBABLE] = "true"
    if qualified in _PODSPECABLE:
        labels[PODSPECABLE] = "true"
    if kind.group == "sources.knative.dev":
        labels.update({SOURCE: "true", EVENTING_SOURCE: "true"})
        if kind.kind == "SinkBinding":
            labels[BINDING] = "true"
    return labels


def crd(kind: Kind, versions: list[Kind]) -> dict:
    """The CustomResourceDefinition of a kind served at `versions` (the first one stored)."""
    names: dict[str, object] = {"kind": kind.kind, "plural": kind.plural, "singular": kind.singular,
                                "listKind": f"{kind.kind}List"}
    if kind.short_names:
        names["shortNames"] = list(kind.short_names)
    if kind.categories:
        names["categories"] = list(kind.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.qualified, "labels": {**LABELS, **crd_labels(kind)}},
        "spec": {
            "group": kind.group, "names": names, "scope": "Namespaced" if kind.namespaced else "Cluster",
            "versions": [{"name": v.version, "served": True, "storage": v is versions[0],
                          "schema": {"openAPIV3Schema": to_openapi(v.schema)},
                          **({"subresources": {"status": {}}} if v.status_subresource else {})} for v in versions],
        },
        "status": {"acceptedNames": names, "storedVersions": [versions[0].version],
                   "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                                  {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"}]},
    }


def custom_resource_definitions(kinds: list[Kind]) -> list[dict]:
    """One CRD per Knative kind (its served versions together)."""
    by_name: dict[str, list[Kind]] = {}
    for kind in kinds:
        if kind.group in KNATIVE_GROUPS:
            by_name.setdefault(kind.qualified, []).append(kind)
    return [crd(versions[0], versions) for versions in by_name.values()]


def _role(name: str, label: str, group: str, plural: str, verbs: list[str]) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {**LABELS, label: "true"}},
            "rules": [{"apiGroups": [group], "resources": [plural, f"{plural}/status"], "verbs": verbs}]}


def cluster_roles(definitions: list[dict]) -> list[dict]:
    """The aggregated roles, then a labelled role per CRD for each duck it is (Knative's per-kind roles)."""
    out = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": dict(LABELS)},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}, "rules": []}
           for name, label in AGGREGATED.items()]
    for definition in definitions:
        labels, spec = definition["metadata"]["labels"], definition["spec"]
        plural, group = spec["names"]["plural"], spec["group"]
        if labels.get(ADDRESSABLE):
            out.append(_role(f"{plural}-{group}-addressable-resolver", ADDRESSABLE, group, plural, READ))
        if labels.get(SUBSCRIBABLE):
            out.append(_role(f"{plural}-{group}-channelable-manipulator", CHANNELABLE, group, plural, WRITE))
        if labels.get(SOURCE):
            out.append(_role(f"{plural}-{group}-source-observer", SOURCE, group, plural, READ))
        if labels.get(PODSPECABLE):
            out.append(_role(f"{plural}-{group}-podspecable-binding", PODSPECABLE, group, plural,
                             ["get", "list", "watch", "update", "patch"]))
    return out


def install(registry: Registry) -> None:
    """Creates what is missing."""
    crds = registry.kinds.require("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    roles = registry.kinds.require("rbac.authorization.k8s.io", "v1", "clusterroles")
    opts = Options(user="system:kproof")
    definitions = custom_resource_definitions(list(registry.kinds.all))
    for kind, objects in ((crds, definitions), (roles, cluster_roles(definitions))):
        for body in objects:
            try:
                created = registry.create(kind, "", {k: v for k, v in body.items() if k != "status"}, opts)
                if "status" in body:
                    registry.update(kind, "", created["metadata"]["name"], {**created, "status": body["status"]},
                                    opts, subresource="status")
            except ApiError as err:
                if err.code != 409:
                    raise
