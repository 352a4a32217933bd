"""The image catalog: which local command runs a container image (fixtures/images.yaml + user files)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "fixtures" / "images.yaml"
DOCKER_HUB = "docker.io"


class CatalogError(ValueError):
    """An image catalog that cannot be read: the message names the file and what is wrong."""


class ImageNotFound(LookupError):
    """No entry for the image: the pod waits with ErrImagePull / ImagePullBackOff."""


class ImageUnavailable(LookupError):
    """The catalog knows the image but cannot run it here."""


@dataclass(frozen=True)
class Reference:
    host: str
    path: str
    tag: str

    @property
    def repository(self) -> str:
        return f"{self.host}/{self.path}"


def parse_reference(image: str) -> Reference:
    """`gcr.io/a/b:tag@sha256:...` -> host gcr.io, path a/b, tag tag (Docker Hub rules for short names)."""
    name = image.split("@", 1)[0]
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, name
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return Reference(host, path, tag or "latest")


@dataclass(frozen=True)
class Entry:
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    tag: str = ""
    passthrough: bool = False
    builtin: bool = False
    unavailable: str = ""
    annotations: dict[str, str] = field(default_factory=dict)  # Pod annotation -> env variable
    executables: dict[str, str] = field(default_factory=dict)  # passthrough: the image's program -> ours
    files: dict[str, str] = field(default_factory=dict)  # the image's files: path in it -> file on this machine
    user: str = ""  # the image's USER, uid[:gid]: who its containers run as when the pod names no one

    def matches(self, ref: Reference) -> bool:
        own = parse_reference(self.image)
        return own.path == ref.path and (not self.tag or self.tag == ref.tag)


@dataclass(frozen=True)
class Launch:
    """How to start a container: argv and extra environment (builtin: the platform plays it)."""

    argv: list[str]
    env: dict[str, str]
    builtin: bool = False
    annotations: dict[str, str] = field(default_factory=dict)  # Pod annotation -> env variable
    files: dict[str, str] = field(default_factory=dict)  # path in the container -> file on this machine
    uid: int | None = None  # the image's user and group, when it names them
    gid: int | None = None


def _user(text: str) -> tuple[int | None, int | None]:
    """`uid[:gid]` -> the ids (ValueError for anything else)."""
    if not text:
        return None, None
    uid, _, gid = str(text).partition(":")
    return int(uid), int(gid) if gid else None


def _entry(item: dict) -> Entry:
    return Entry(
        image=item["image"], command=tuple(item.get("command") or ()),
        args=tuple(item.get("args") or ()), env=dict(item.get("env") or {}),
        tag=item.get("tag", ""), passthrough=bool(item.get("passthrough")),
        builtin=bool(item.get("builtin")),
        unavailable=item.get("unavailable", ""), annotations=dict(item.get("annotations") or {}),
        executables=dict(item.get("executables") or {}),
        files={str(k): str(v) for k, v in (item.get("files") or {}).items()}, user=str(item.get("user") or ""),
    )


def _read_catalog(path: Path) -> list[Entry]:
    """The entries of one catalog file, in order."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise CatalogError(f"{path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise CatalogError(f"{path}: not YAML: {err}") from err
    items = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise CatalogError(f"{path}: no `images:` list (see fixtures/images.yaml)")
    entries = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("image"), str) or not item["image"]:
            raise CatalogError(f"{path}: entry {number} names no `image`")
        try:
            entries.append(_entry(item))
            _user(entries[-1].user)
        except (TypeError, ValueError) as err:
            raise CatalogError(f"{path}: entry {number} ({item['image']}): {err}") from err
    return entries


class Catalog:
    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = list(entries)

    @classmethod
    def load(cls, *extra: Path) -> Catalog:
        """User files first (their entries win), then the built-in catalog (CatalogError if one cannot
        be read)."""
        entries: list[Entry] = []
        for path in [*extra, DEFAULT_CATALOG]:
            entries += _read_catalog(Path(path))
        return cls(entries)

    def find(self, image: str) -> Entry:
        ref = parse_reference(image)
        for entry in self.entries:
            if entry.matches(ref):
                if entry.unavailable:
                    raise ImageUnavailable(entry.unavailable)
                return entry
        raise ImageNotFound(f"image {image!r} is not in the kproof image catalog; add it with "
                            f"`kproof up --images FILE` (see fixtures/images.yaml)")

    def warm_argv(self, image: str) -> list[str] | None:
        """What warms `image` ahead of its first Pod, as a node pulls an image before it is needed: for an
        image run as a Python module, importing it (its code and libraries read and compiled once); None
        when there is nothing to fetch (the platform plays it, or it runs a program already on disk).
        ImageNotFound / ImageUnavailable as for a Pod."""
        entry = self.find(image)
        command = [c.replace("{python}", sys.executable) for c in entry.command]
        if entry.builtin or entry.passthrough or len(command) < 3 or command[1] != "-m":
            return None
        return [command[0], "-c", f"import {command[2]}"]

    def launch(self, container: dict) -> Launch:
        """The argv and environment for a pod's container (ImageNotFound / ImageUnavailable if none)."""
        entry = self.find(container.get("image", ""))
        if entry.builtin:
            return Launch([], dict(entry.env), builtin=True)
        command = [c.replace("{python}", sys.executable) for c in entry.command]
        args = list(container.get("args") or entry.args)
        if entry.passthrough:
            argv = list(container.get("command") or []) + list(container.get("args") or [])
            if not argv:
                raise ImageNotFound(f"image {container.get('image')!r} runs the container's own command, "
                                    f"and the container names none")
            program = entry.executables.get(argv[0])
            if program is not None:
                argv[0] = program.replace("{python}", sys.executable)
        elif entry.files and container.get("command"):
            # the container's command replaces the image's entrypoint and may name the image's files
            argv = list(container["command"]) + list(container.get("args") or [])
        else:
            argv = command + args
        uid, gid = _user(entry.user)
        return Launch(argv, dict(entry.env), annotations=dict(entry.annotations), files=dict(entry.files),
                      uid=uid, gid=gid)
