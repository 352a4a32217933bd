"""A pod's volumes as directories under the state directory, ready to bind at their mountPath.

configMap and secret volumes are written out as files (one per key, or per `items` entry); emptyDir
is a fresh directory per pod; a persistentVolumeClaim is a directory per claim that outlives pods.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path

from reference.runtime.sandbox import Mount

# (namespace, kind, name) -> the object, or None when it does not exist
Lookup = Callable[[str, str, str], "dict | None"]


WRITABLE = 0o777  # emptyDir and claim directories, as Kubernetes makes them: the replica's user writes


class VolumeError(RuntimeError):
    """A volume cannot be prepared (missing config map, secret or claim); the message says which."""


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
    """The files of a configMap or secret volume (None when it is optional and absent)."""
    is_secret = "secret" in volume
    source = volume["secret"] if is_secret else volume["configMap"]
    name = source.get("secretName" if is_secret else "name", "")
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
            raise VolumeError(f'volume "{name}" has a source the reference does not support')
        out[name] = target
    return out


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
