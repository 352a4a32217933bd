"""The four PATCH flavours Kubernetes accepts.

- JSON merge patch (RFC 7386) and JSON patch (RFC 6902, via `jsonpatch`) are exact.
- Strategic merge patch is what kubectl sends for built-in kinds: merge patch plus list merging by
  key and the `$patch` / `$setElementOrder` / `$retainKeys` / `$deleteFromPrimitiveList` directives.
- Apply patch (server-side apply) with one owner per field set: a manager's later apply removes the
  fields its earlier apply set and this one omits; lists are atomic. Conflicts between managers are
  not tracked.
"""

from __future__ import annotations

import copy
import json

import jsonpatch
import jsonpointer

from reference.apis import times
from reference.apiserver.errors import ApiError, bad_request

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Kubernetes' bounds on a JSON patch: how many operations, and how much `copy` may duplicate in all
# (a copy of a copy doubles the object each time).
MAX_JSON_PATCH_OPERATIONS = 10000
MAX_COPIED_BYTES = 3 * 1024 * 1024


def json_patch(target: dict, operations: object) -> object:
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    if not all(isinstance(op, dict) for op in operations):
        raise bad_request("json patch operations must be objects")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise ApiError(413, "RequestEntityTooLarge", f"The allowed maximum operations in a JSON patch is "
                       f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}")
    doc: object = copy.deepcopy(target)
    copied = 0
    try:
        for op in operations:
            if op.get("op") == "copy" and isinstance(op.get("from"), str):
                copied += len(json.dumps(jsonpointer.resolve_pointer(doc, op["from"])))
                if copied > MAX_COPIED_BYTES:
                    raise jsonpatch.JsonPatchException(
                        f"Unable to copy, would use {copied} bytes which exceeds the limit of {MAX_COPIED_BYTES}")
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, RecursionError) as err:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                       f"request: {err}") from err
    return doc


# Lists that Kubernetes' built-in types merge by a key instead of replacing.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
}
_MERGED_PRIMITIVE_LISTS = {"finalizers"}


def _merge_key(name: str, items: list) -> str:
    """A container's `ports` merge by containerPort, a Service's by port (one field name, two types)."""
    key = _MERGE_KEYS[name]
    if name == "ports" and any(isinstance(i, dict) and "port" in i and key not in i for i in items):
        return "port"
    return key


def _check_directives(patch: dict) -> None:
    """The directive keys' values have the shapes Kubernetes' strategicpatch requires (else 400)."""
    directive = patch.get("$patch")
    if directive is not None and directive not in ("delete", "replace", "merge"):
        raise bad_request(f"unknown patch type: {directive} in map: {patch}")
    for key, value in patch.items():
        if key == "$retainKeys" and not _strings(value):
            raise bad_request("invalid patch format of retainKeys")
        if key.startswith("$deleteFromPrimitiveList/") and not isinstance(value, list):
            raise bad_request("invalid patch format of primitive list")
        if key.startswith("$setElementOrder/") and not isinstance(value, list):
            raise bad_request("invalid patch format of setElementOrder list")


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def strategic_merge_patch(target: object, patch: object) -> object:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    _check_directives(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if not k.startswith("$")}
    if directive == "replace":
        return copy.deepcopy(body)
    result = dict(target) if isinstance(target, dict) else {}
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"]) | set(body)
        result = {k: v for k, v in result.items() if k in keep}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in value]
    for key, value in body.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in _MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_keyed_list(result[key], value, _merge_key(key, value))
        elif isinstance(value, list) and key in _MERGED_PRIMITIVE_LISTS:
            existing = list(result.get(key) or [])
            result[key] = existing + [v for v in value if v not in existing]
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_keyed_list(current: list, patch: list, key: str) -> list:
    result = [copy.deepcopy(item) for item in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            return copy.deepcopy(patch)
        _check_directives(item)
        index = next((i for i, have in enumerate(result)
                      if isinstance(have, dict) and have.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


# Server-side apply --------------------------------------------------------------------------------

def field_set(value: object) -> dict:
    """The fieldsV1 form of the fields an applied configuration sets (lists count as one field)."""
    if not isinstance(value, dict):
        return {}
    return {f"f:{key}": field_set(child) for key, child in value.items()}


def _remove_fields(live: dict, previous: dict, current: dict) -> None:
    """Removes from `live` the fields in `previous` that `current` no longer names."""
    for key, sub in previous.items():
        name = key[2:]
        if key not in current:
            live.pop(name, None)
        elif isinstance(sub, dict) and sub and isinstance(live.get(name), dict):
            _remove_fields(live[name], sub, current[key])


def _apply_merge(live: object, applied: object) -> object:
    if not isinstance(applied, dict) or not isinstance(live, dict):
        return copy.deepcopy(applied)
    return _apply_merge_maps(live, applied)


def _apply_merge_maps(live: dict, applied: dict) -> dict:
    result = dict(live)
    for key, value in applied.items():
        result[key] = _apply_merge(result.get(key), value)
    return result


_SKIP_FIELDS = {"apiVersion", "kind", "status"}
_SKIP_META = {"resourceVersion", "managedFields", "uid", "creationTimestamp", "generation"}


def apply(live: dict | None, applied: object, manager: str, api_version: str) -> dict:
    """Server-side apply of `applied` by `manager` onto `live` (None when the object is new)."""
    if not manager:
        raise bad_request("fieldManager is required for apply requests")
    if not isinstance(applied, dict) or not isinstance(applied.get("metadata") or {}, dict):
        raise bad_request("an applied configuration must be an object, and so must its metadata")
    config = {k: v for k, v in applied.items() if k not in _SKIP_FIELDS}
    config["metadata"] = {k: v for k, v in (applied.get("metadata") or {}).items() if k not in _SKIP_META}
    fields = field_set(config)
    result = copy.deepcopy(live) if live else {}
    managed = [m for m in (result.get("metadata", {}).get("managedFields") or [])
               if not (m.get("manager") == manager and m.get("operation") == "Apply")]
    previous = next((m for m in (live or {}).get("metadata", {}).get("managedFields") or []
                     if m.get("manager") == manager and m.get("operation") == "Apply"), None)
    if previous:
        _remove_fields(result, previous.get("fieldsV1") or {}, fields)
    result = _apply_merge_maps(result, config)
    result["apiVersion"] = applied.get("apiVersion", api_version)
    result["kind"] = applied.get("kind", result.get("kind"))
    managed.append({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": times.now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    })
    result.setdefault("metadata", {})["managedFields"] = managed
    return result
