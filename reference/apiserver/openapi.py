"""A minimal /openapi/v3: one document per group-version, enough for kubectl.

kubectl reads it to learn that the server validates fields itself (the `fieldValidation` query
parameter on each write operation) and which patch types a kind accepts. Schemas come from the kinds
table, so `kubectl explain` shows the real fields.
"""

from __future__ import annotations

import hashlib
import json

from reference.apiserver.kinds import Kind, Kinds
from reference.apiserver.schemas.schema import to_openapi

_META_REF = {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
_OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer", "format": "int64"},
        "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "managedFields": {"type": "array", "items": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    },
}

_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
                "application/apply-patch+yaml"]


def schema_name(kind: Kind) -> str:
    """`dev.knative.serving.v1.Service`, `io.k8s.api.core.v1.Pod` (Kubernetes' naming)."""
    if not kind.group:
        return f"io.k8s.api.core.v1.{kind.kind}"
    reversed_group = ".".join(reversed(kind.group.split(".")))
    return f"{reversed_group}.{kind.version}.{kind.kind}"


def _gvk(kind: Kind) -> dict:
    return {"group": kind.group, "version": kind.version, "kind": kind.kind}


def _parameter(name: str, where: str = "query", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required, "schema": {"type": "string"},
            "description": name}


def _operation(kind: Kind, action: str, ref: dict, body_types: list[str] | None = None) -> dict:
    op: dict = {
        "operationId": f"{action}{kind.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(kind),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}},
        "parameters": [],
    }
    if action in ("post", "put", "patch"):
        op["parameters"] = [_parameter("dryRun"), _parameter("fieldManager"),
                            _parameter("fieldValidation")]
        op["requestBody"] = {"content": {t: {"schema": ref if action != "patch" else {"type": "object"}}
                                         for t in body_types or ["application/json"]}}
    if action == "patch":
        op["parameters"].append(_parameter("force"))
    return op


def group_version_document(kinds: list[Kind]) -> dict:
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": _OBJECT_META}
    for kind in kinds:
        ref = {"$ref": f"#/components/schemas/{schema_name(kind)}"}
        body = to_openapi(kind.schema)
        body.setdefault("properties", {}).update({
            "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": _META_REF,
        })
        body["type"] = "object"
        # No x-kubernetes-group-version-kind here: with it kubectl would compute strategic merge
        # patches from these (partial) schemas. The operations carry the GVK instead.
        schemas[schema_name(kind)] = body
        root = f"/{'apis/' + kind.group if kind.group else 'api'}/{kind.version}"
        scope = f"{root}/namespaces/{{namespace}}/{kind.plural}" if kind.namespaced else \
            f"{root}/{kind.plural}"
        name_param = [_parameter("name", "path", True)]
        ns_param = [_parameter("namespace", "path", True)] if kind.namespaced else []
        paths[scope] = {
            "parameters": ns_param,
            "get": _operation(kind, "list", ref),
            "post": _operation(kind, "post", ref, ["application/json", "application/yaml"]),
            "delete": _operation(kind, "deletecollection", ref),
        }
        paths[f"{scope}/{{name}}"] = {
            "parameters": ns_param + name_param,
            "get": _operation(kind, "get", ref),
            "put": _operation(kind, "put", ref, ["application/json", "application/yaml"]),
            "patch": _operation(kind, "patch", ref, _PATCH_TYPES),
            "delete": _operation(kind, "delete", ref),
        }
        if kind.status_subresource:
            paths[f"{scope}/{{name}}/status"] = {
                "parameters": ns_param + name_param,
                "get": _operation(kind, "get", ref),
                "put": _operation(kind, "put", ref, ["application/json"]),
                "patch": _operation(kind, "patch", ref, _PATCH_TYPES),
            }
    return {
        "openapi": "3.0.0",
        "info": {"title": "kproof reference", "version": kinds[0].api_version if kinds else ""},
        "paths": paths,
        "components": {"schemas": schemas},
    }


class OpenAPI:
    """Documents built once at start-up, with the content hashes kubectl caches them by."""

    def __init__(self, kinds: Kinds) -> None:
        by_group_version: dict[str, list[Kind]] = {}
        for kind in kinds.all:
            key = f"apis/{kind.group}/{kind.version}" if kind.group else f"api/{kind.version}"
            by_group_version.setdefault(key, []).append(kind)
        self.documents: dict[str, bytes] = {
            key: json.dumps(group_version_document(members)).encode()
            for key, members in by_group_version.items()
        }
        self.hashes = {key: hashlib.sha512(doc).hexdigest().upper() for key, doc in self.documents.items()}

    def root(self) -> dict:
        return {"paths": {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
                          for key, digest in self.hashes.items()}}
