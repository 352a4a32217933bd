"""Legacy discovery documents (/api, /apis, /apis/<group>/<version>) built from the kinds table."""

from __future__ import annotations

from reference.apiserver.kinds import Kind, Kinds

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]


def api_versions(address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group_version(kind: Kind) -> dict:
    return {"groupVersion": kind.api_version, "version": kind.version}


def api_group(group: str, kinds: list[Kind]) -> dict:
    versions = []
    for kind in kinds:
        entry = _group_version(kind)
        if entry not in versions:
            versions.append(entry)
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def api_group_list(kinds: Kinds) -> dict:
    groups = [api_group(name, members) for name, members in kinds.groups().items() if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(group_version: str, kinds: list[Kind], extra_subresources: dict[str, list[str]]
                  ) -> dict:
    resources = []
    for kind in kinds:
        entry = {
            "name": kind.plural,
            "singularName": kind.singular,
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": VERBS,
        }
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        if kind.categories:
            entry["categories"] = list(kind.categories)
        resources.append(entry)
        subresources = (["status"] if kind.status_subresource else []) + extra_subresources.get(
            kind.resource, [])
        for sub in subresources:
            resources.append({"name": f"{kind.plural}/{sub}", "singularName": "",
                              "namespaced": kind.namespaced, "kind": kind.kind,
                              "verbs": SUBRESOURCE_VERBS if sub == "status" else ["get"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}
