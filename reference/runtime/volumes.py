"""A pod's volumes as directories under the state directory, ready to bind at their mountPath.

configMap and secret volumes are written out as files (one per key, or per `items` entry); emptyDir
is a fresh directory per pod; a persistentVolumeClaim is a directory per claim that outlives pods.
A projected volume is one directory holding the files of each of its sources (configMap, secret,
downwardAPI fieldRefs, serviceAccountToken). The token is a placeholder, never the platform's own:
replicas must not reach the API server with the platform's rights, and the API server refuses it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from reference.apis.resources import QuantityError, quantity
from reference.runtime.sandbox import Mount
from reference.runtime.subpath import SubPathError, components

# (namespace, kind, name) -> the object, or None when it does not exist
Lookup = Callable[[str, str, str], "dict | None"]


WRITABLE = 0o777  # emptyDir and claim directories, as Kubernetes makes them: the replica's user writes


class VolumeError(RuntimeError):
    """A volume cannot be prepared (missing config map, secret or claim); the message says which."""


class UnsupportedVolume(VolumeError):
    """A volume source the reference cannot provide: retrying will not help, so the pod fails."""


def inside(directory: Path, relative: str) -> Path:
    """`directory / relative`, refused unless it stays inside `directory` (admission already refuses
    absolute paths and `..`; this holds for objects stored before it did, and for symlinks)."""
    path = (directory / relative).resolve()
    if relative.startswith("/") or not path.is_relative_to(directory.resolve()):
        raise VolumeError(f"path {relative!r} leaves its volume")
    return path


def claim_directory(state_dir: Path, namespace: str, claim: str) -> Path:
    return state_dir / "volumes" / namespace / claim


def _write_items(target: Path, data: dict[str, bytes], items: list[dict] | None, mode: int | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    selected = [(i["key"], i.get("path") or i["key"], i.get("mode")) for i in items] if items else \
        [(key, key, None) for key in data]
    for key, path, item_mode in selected:
        if key not in data:
            raise VolumeError(f'key "{key}" not found')
        file = inside(target, path)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data[key])
        chosen = item_mode if item_mode is not None else mode
        if chosen is not None:
            file.chmod(chosen)


def _key_data(volume: dict, namespace: str, lookup: Lookup) -> dict[str, bytes] | None:
    """The files of a configMap or secret volume or projection (None when it is optional and absent)."""
    is_secret = "secret" in volume
    source = volume["secret"] if is_secret else volume["configMap"]
    name = source.get("secretName", source.get("name", "")) if is_secret else source.get("name", "")
    found = lookup(namespace, "Secret" if is_secret else "ConfigMap", name)
    if found is None:
        if source.get("optional"):
            return None
        raise VolumeError(f'{"secret" if is_secret else "configmap"} "{name}" not found')
    if is_secret:
        return {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}
    data = {k: v.encode() for k, v in (found.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (found.get("binaryData") or {}).items()})
    return data


# a projected serviceAccountToken source -> the token to write (the kubelet asks the API for it)
TokenSource = Callable[[dict, dict], bytes]


def prepare(pod: dict, pod_dir: Path, state_dir: Path, lookup: Lookup, token: TokenSource | None = None
            ) -> dict[str, Path]:
    """Materialises every volume of `pod`; returns volume name -> host directory. `token` gives a projected
    serviceAccountToken its token (an unsigned placeholder by default)."""
    namespace = pod["metadata"].get("namespace", "default")
    out: dict[str, Path] = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        name = volume["name"]
        target = pod_dir / "volumes" / name
        if "configMap" in volume or "secret" in volume:
            data = _key_data(volume, namespace, lookup)
            if data is None:  # optional and absent: an empty directory
                target.mkdir(parents=True, exist_ok=True)
                out[name] = target
                continue
            source = volume.get("configMap") or volume["secret"]
            shutil.rmtree(target, ignore_errors=True)
            _write_items(target, data, source.get("items"), source.get("defaultMode"))
        elif "projected" in volume:
            shutil.rmtree(target, ignore_errors=True)
            _write_projected(pod, volume["projected"], target, lookup, token or placeholder_token)
        elif "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(WRITABLE)
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"].get("claimName", "")
            if lookup(namespace, "PersistentVolumeClaim", claim) is None:
                raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
            target = claim_directory(state_dir, namespace, claim)
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(WRITABLE)
        else:
            raise UnsupportedVolume(f'volume "{name}" has a source the reference does not support')
        out[name] = target
    return out


def _write_projected(pod: dict, projected: dict, target: Path, lookup: Lookup, token: TokenSource) -> None:
    """Each source's files into one directory, in order (a later source's file replaces an earlier one's)."""
    target.mkdir(parents=True, exist_ok=True)
    namespace = pod["metadata"].get("namespace", "default")
    mode = projected.get("defaultMode")
    for source in projected.get("sources") or []:
        if "configMap" in source or "secret" in source:
            data = _key_data(source, namespace, lookup)
            if data is not None:
                _write_items(target, data, (source.get("configMap") or source["secret"]).get("items"), mode)
        elif "downwardAPI" in source:
            items = source["downwardAPI"].get("items") or []
            data = {item["path"]: _downward_value(pod, item) for item in items}
            _write_items(target, data, [{"key": i["path"], "mode": i.get("mode")} for i in items], mode)
        elif "serviceAccountToken" in source:
            requested = source["serviceAccountToken"]
            _write_items(target, {"token": token(pod, requested)},
                         [{"key": "token", "path": requested.get("path", "token")}], mode)
        else:
            kinds = ", ".join(sorted(source)) or "an empty source"
            raise UnsupportedVolume(f"projected {kinds} is not supported by the reference")


def _downward_value(pod: dict, item: dict) -> bytes:
    """A downwardAPI file: the pod's own metadata (fieldRef); resourceFieldRef is not provided."""
    path = (item.get("fieldRef") or {}).get("fieldPath", "")
    meta = pod["metadata"]
    plain = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
             "metadata.uid": meta.get("uid", "")}
    if path in plain:
        return plain[path].encode()
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(values.items())).encode()
    raise UnsupportedVolume(f"downwardAPI {path or 'resourceFieldRef'} is not supported by the reference")


def _b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def placeholder_token(pod: dict, token: dict) -> bytes:
    """An unsigned JWT with a service account token's claims, for code that reads them; it grants
    nothing (alg none, no signature: the API server accepts only the platform's own token)."""
    meta = pod["metadata"]
    account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    namespace = meta.get("namespace", "default")
    now = int(time.time())
    claims = {"iss": "https://kubernetes.default.svc", "aud": [token.get("audience") or "kproof"],
              "sub": f"system:serviceaccount:{namespace}:{account}", "iat": now, "nbf": now,
              "exp": now + int(token.get("expirationSeconds") or 3600),
              "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account},
                                "pod": {"name": meta.get("name", ""), "uid": meta.get("uid", "")}}}
    return f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}.".encode()


# Sources the kubelet always mounts read-only (Kubernetes 1.10 and later): the platform writes them.
PLATFORM_WRITTEN = ("configMap", "secret", "projected", "downwardAPI")


def read_only_volumes(spec: dict) -> set[str]:
    """Volumes no container may write: the platform-written ones and claims marked readOnly."""
    return {v["name"] for v in spec.get("volumes") or []
            if any(source in v for source in PLATFORM_WRITTEN)
            or (v.get("persistentVolumeClaim") or {}).get("readOnly")}


def memory_volumes(spec: dict, pod_memory: int | None, default: int) -> dict[str, int]:
    """emptyDirs of medium Memory -> their tmpfs size: sizeLimit, at most the pod's memory limit (the
    kubelet's rule; tmpfs pages count against the container's memory), `default` when neither is set."""
    sizes = {}
    for volume in spec.get("volumes") or []:
        empty = volume.get("emptyDir")
        if isinstance(empty, dict) and empty.get("medium") == "Memory":
            limit = size_limit(empty)
            bounds = [b for b in (limit, pod_memory) if b]
            sizes[volume["name"]] = min(bounds) if bounds else default
    return sizes


def size_limit(empty_dir: dict) -> int | None:
    """An emptyDir's sizeLimit in bytes (admission has checked it; a bad one counts as unset)."""
    if empty_dir.get("sizeLimit") in (None, ""):
        return None
    try:
        return max(1, int(quantity(empty_dir["sizeLimit"])))
    except QuantityError:
        return None


def size_limited(spec: dict) -> dict[str, tuple[int, str]]:
    """emptyDirs on disk with a sizeLimit -> (bytes, the limit as written), for the eviction manager."""
    out = {}
    for volume in spec.get("volumes") or []:
        empty = volume.get("emptyDir")
        if isinstance(empty, dict) and empty.get("medium") != "Memory" and size_limit(empty):
            out[volume["name"]] = (size_limit(empty) or 0, str(empty["sizeLimit"]))
    return out


def usage(directory: Path) -> int:
    """Bytes a directory's files take on disk (du's count: allocated blocks), never following links."""
    total = 0
    for root, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def mounts(container: dict, volumes: dict[str, Path], read_only: set[str], memory: dict[str, int] | None = None,
           staging: Path | None = None) -> list[Mount]:
    """The container's volumeMounts as sandbox mounts. A subPath is not resolved here: the sandbox resolves
    it at every start (reference.runtime.subpath), staged below `staging`."""
    memory = memory or {}
    result = []
    for index, mount in enumerate(container.get("volumeMounts") or []):
        name = mount.get("name", "")
        source = volumes.get(name)
        if source is None:
            raise VolumeError(f'volume "{name}" is not defined')
        locked = bool(mount.get("readOnly")) or name in read_only
        if name in memory:
            result.append(Mount(source, mount["mountPath"], locked, memory=memory[name]))
            continue
        sub = mount.get("subPath") or ""
        if sub:
            try:
                components(sub)
            except SubPathError as err:
                raise UnsupportedVolume(str(err)) from err
        result.append(Mount(source, mount["mountPath"], locked, subpath=sub,
                            staging=staging / f"{container.get('name', '')}-{index}" if sub and staging else None))
    return result
