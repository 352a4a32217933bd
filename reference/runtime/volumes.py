"""A pod's volumes as directories under the state directory, ready to bind at their mountPath.

configMap and secret volumes are written out as files (one per key, or per `items` entry); emptyDir
is a fresh directory per pod; a persistentVolumeClaim is a directory per claim that outlives pods.
A projected volume is one directory holding the files of each of its sources (configMap, secret,
downwardAPI fieldRefs, serviceAccountToken). The token is a placeholder, never the platform's own:
replicas must not reach the API server with the platform's rights, and the API server refuses it.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from reference.runtime.sandbox import Mount

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
        if item_mode is not None or mode is not None:
            file.chmod(item_mode if item_mode is not None else mode)


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


def prepare(pod: dict, pod_dir: Path, state_dir: Path, lookup: Lookup) -> dict[str, Path]:
    """Materialises every volume of `pod`; returns volume name -> host directory."""
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
            _write_projected(pod, volume["projected"], target, lookup)
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


def _write_projected(pod: dict, projected: dict, target: Path, lookup: Lookup) -> None:
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
            token = source["serviceAccountToken"]
            _write_items(target, {"token": placeholder_token(pod, token)},
                         [{"key": "token", "path": token.get("path", "token")}], mode)
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


def mounts(container: dict, volumes: dict[str, Path], read_only_claims: set[str]) -> list[Mount]:
    result = []
    for mount in container.get("volumeMounts") or []:
        source = volumes.get(mount.get("name", ""))
        if source is None:
            raise VolumeError(f'volume "{mount.get("name")}" is not defined')
        if mount.get("subPath"):
            source = inside(source, mount["subPath"])
            source.mkdir(parents=True, exist_ok=True)
            source.chmod(WRITABLE)
        read_only = bool(mount.get("readOnly")) or mount.get("name") in read_only_claims
        result.append(Mount(source, mount["mountPath"], read_only))
    return result
