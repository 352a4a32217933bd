"""Core v1 kinds: what the Kubernetes API server defaults and checks, plus their printer columns."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from reference.apis.resources import qos_class
from reference.apiserver.admission import quota
from reference.apiserver.admission.context import Context
from reference.apiserver.admission.fielderror import FieldError, combine, generic, invalid_value, within
from reference.apiserver.admission.podspec import mount_path_errors, value_from_error, volume_path_errors
from reference.apiserver.admission.resources import default_requests, validate_requirements

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MAX_DATA_BYTES = 1024 * 1024  # core.MaxSecretSize, which bounds a ConfigMap's data too


def default_namespace(obj: dict, old: dict | None, ctx: Context) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = (old or {}).get("status") or {"phase": "Active"}
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def validate_namespace(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    labels = obj["metadata"].get("labels") or {}
    if labels.get("kubernetes.io/metadata.name") != obj["metadata"]["name"]:
        return invalid_value(labels.get("kubernetes.io/metadata.name"),
                             "metadata.labels.kubernetes.io/metadata.name")
    return None


def default_pod(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    if old is None:
        quota.apply_limit_ranges(obj, ctx)
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if isinstance(container, dict):
            default_requests(container)
    if old is None:
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)


def validate_pod(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    containers = (obj.get("spec") or {}).get("containers")
    if not isinstance(containers, list) or not containers:
        return FieldError("Required value", ["spec.containers"])
    errs: list[FieldError | None] = [
        FieldError("Required value", [f"spec.containers[{i}].image"])
        for i, c in enumerate(containers) if not isinstance(c, dict) or not c.get("image")]
    errs += [within(validate_requirements(c.get("resources") or {}), f"spec.containers[{i}].resources")
             for i, c in enumerate(containers) if isinstance(c, dict) and isinstance(c.get("resources") or {}, dict)]
    errs += [within(value_from_error(env["valueFrom"]), f"spec.containers[{i}].env[{j}]")
             for i, c in enumerate(containers) if isinstance(c, dict)
             for j, env in enumerate(_items(c.get("env"))) if isinstance(env, dict) and "valueFrom" in env]
    if old is not None and (old.get("spec") or {}).get("containers") != containers:
        errs.append(generic("Forbidden: pod updates may not change fields other than "
                            "`spec.containers[*].image`", "spec"))
    errs += _pod_path_errors(obj["spec"])
    problem = combine(*errs)
    if problem is None and old is None:
        quota.check_quotas(obj, ctx)
    return problem


def _quantity_errors(values: object, path: str) -> list[FieldError]:
    return [invalid_value(value, f"{path}[{name}]", "must be a quantity")
            for name, value in (values.items() if isinstance(values, dict) else []) if quota.parse(value) is None]


def validate_resource_quota(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    return combine(*_quantity_errors((obj.get("spec") or {}).get("hard"), "spec.hard"))


def validate_limit_range(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    errs = []
    for i, item in enumerate(_items((obj.get("spec") or {}).get("limits"))):
        if not isinstance(item, dict):
            continue
        if item.get("type", "Container") not in ("Container", "Pod", "PersistentVolumeClaim"):
            errs.append(invalid_value(item.get("type"), f"spec.limits[{i}].type",
                                      'must be one of "Container", "Pod", "PersistentVolumeClaim"'))
        for section in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            errs += _quantity_errors(item.get(section), f"spec.limits[{i}].{section}")
    return combine(*errs)


def quota_requests(quota: dict) -> str:
    """kubectl's REQUEST column: used/hard for every bounded resource but limits.*."""
    return _quota_column(quota, lambda name: not name.startswith("limits."))


def quota_limits(quota: dict) -> str:
    return _quota_column(quota, lambda name: name.startswith("limits."))


def _quota_column(quota: dict, shown: Callable[[str], bool]) -> str:
    status = quota.get("status") or {}
    used = status.get("used") or {}
    return ", ".join(f"{name}: {used.get(name, '0')}/{hard}" for name, hard in sorted((status.get("hard") or (
        (quota.get("spec") or {}).get("hard") or {})).items()) if shown(name))


def _items(value: object) -> list:
    return value if isinstance(value, list) else []


def _pod_path_errors(spec: dict) -> list[FieldError]:
    """subPaths and volume item paths stay inside their volume (the kubelet writes and binds them)."""
    errs: list[FieldError] = []
    for field in ("containers", "initContainers"):
        for i, container in enumerate(_items(spec.get(field))):
            mounts = container.get("volumeMounts") if isinstance(container, dict) else None
            for j, mount in enumerate(_items(mounts)):
                errs.extend(e.via(f"spec.{field}[{i}].volumeMounts[{j}]") for e in mount_path_errors(mount))
    for i, volume in enumerate(_items(spec.get("volumes"))):
        errs.extend(e.via(f"spec.volumes[{i}]") for e in volume_path_errors(volume))
    return errs


def _validate_keys(obj: dict, *fields: str) -> FieldError | None:
    errs = []
    for name in fields:
        for key in obj.get(name) or {}:
            if not _CONFIG_KEY.fullmatch(key) or len(key) > 253:
                errs.append(invalid_value(key, f"{name}[{key}]",
                                          "a valid config key must consist of alphanumeric characters, "
                                          "'-', '_' or '.'"))
    return combine(*errs)


def _validate_immutable(obj: dict, old: dict | None, *fields: str) -> FieldError | None:
    if old is None or not old.get("immutable"):
        return None
    if any(obj.get(f) != old.get(f) for f in (*fields, "immutable")):
        return generic("Forbidden: field is immutable when `immutable` is set", "data")
    return None


def _bytes(text: str) -> int:
    return len(text.encode(errors="surrogatepass"))


def _decoded(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _too_long(total: int) -> FieldError | None:
    if total <= MAX_DATA_BYTES:
        return None
    return FieldError(f"Too long: must have at most {MAX_DATA_BYTES} bytes", ["data"])


def validate_config_map(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    """Keys, base64 binaryData, and keys plus values together at most 1 MiB (Kubernetes' ValidateConfigMap)."""
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    errs = [_validate_keys(obj, "data", "binaryData"), _validate_immutable(obj, old, "data", "binaryData")]
    total = sum(_bytes(k) + _bytes(v) for k, v in data.items())
    for key, value in binary.items():
        decoded = _decoded(value)
        if decoded is None:
            errs.append(invalid_value("<binary data>", f"binaryData[{key}]", "illegal base64 data"))
        total += _bytes(key) + (len(decoded) if decoded is not None else _bytes(value))
    errs.append(_too_long(total))
    return combine(*errs)


def default_secret(obj: dict, old: dict | None, ctx: Context) -> None:
    """stringData is write-only: it lands base64-encoded in data, as the API server does it."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(value.encode()).decode()


def validate_secret(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    errs = [_validate_keys(obj, "data"), _validate_immutable(obj, old, "data", "type")]
    total = 0
    for key, value in (obj.get("data") or {}).items():
        decoded = _decoded(value)
        if decoded is None:
            errs.append(invalid_value("<secret contents redacted>", f"data[{key}]",
                                      "illegal base64 data"))
        total += len(decoded) if decoded is not None else _bytes(value)
    errs.append(_too_long(total))  # Kubernetes' ValidateSecret counts the decoded values only
    if old is not None and old.get("type") != obj.get("type"):
        errs.append(generic("field is immutable", "type"))
    return combine(*errs)


def default_pvc(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    if old is None:
        obj["status"] = {"phase": "Pending"}


def validate_pvc(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs = []
    if not spec.get("accessModes"):
        errs.append(FieldError("Required value: at least 1 access mode is required", ["spec.accessModes"]))
    if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
        errs.append(FieldError("Required value", ["spec.resources[storage]"]))
    return combine(*errs)


# Printer columns ----------------------------------------------------------------------------------

def pod_ready_column(pod: dict) -> str:
    """kubectl's READY column: ready containers / containers."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or []) or len(statuses)
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def pod_status(pod: dict) -> str:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        for key in ("waiting", "terminated"):
            reason = (state.get(key) or {}).get("reason")
            if reason:
                return reason
    return status.get("reason") or status.get("phase") or "Pending"


def pod_restarts(pod: dict) -> str:
    return str(sum(s.get("restartCount", 0) for s in (pod.get("status") or {}).get("containerStatuses") or []))


def data_count(obj: dict) -> int:
    return len(obj.get("data") or {}) + len(obj.get("binaryData") or {})


def event_last_seen(event: dict) -> str | None:
    return event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")


def event_object(event: dict) -> str:
    ref = event.get("involvedObject") or {}
    return f"{(ref.get('kind') or '').lower()}/{ref.get('name', '')}"


def node_status(node: dict) -> str:
    """`Ready`, `NotReady` or `Unknown`, with `,SchedulingDisabled` for a cordoned node (kubectl's printer)."""
    ready = next((c.get("status") for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), None)
    text = {"True": "Ready", "False": "NotReady"}.get(ready or "", "Unknown")
    return text + (",SchedulingDisabled" if (node.get("spec") or {}).get("unschedulable") else "")


def node_roles(node: dict) -> str:
    roles = sorted(key.split("/", 1)[1] for key in node["metadata"].get("labels") or {}
                   if key.startswith("node-role.kubernetes.io/") and key.split("/", 1)[1])
    return ",".join(roles) or "<none>"


def _node_address(node: dict, kind: str) -> str:
    return next((a.get("address", "") for a in (node.get("status") or {}).get("addresses") or []
                 if a.get("type") == kind), "<none>")


def node_internal_ip(node: dict) -> str:
    return _node_address(node, "InternalIP")


def node_external_ip(node: dict) -> str:
    return _node_address(node, "ExternalIP")
