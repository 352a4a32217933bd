"""The build cache: each module's binaries, built once per module@version with `go build`, niced.

Layout: <cache>/<module>@<version>/bin/<binary> and build.json (what was built, and how). The cache is
~/.cache/kproof/cluster (XDG_CACHE_HOME respected; KPROOF_CLUSTER_CACHE overrides). Go's own caches
(GOCACHE, GOMODCACHE) are Go's defaults, so a rebuild after a cleared kproof cache only links.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from kproof.cluster.versions import Module

CACHE_ENV = "KPROOF_CLUSTER_CACHE"
FALLBACK_GO = Path("/usr/local/go/bin/go")  # where the official tarball installs it, often not on PATH
LOG_TAIL = 25


class BuildError(RuntimeError):
    """A module could not be built; the message names it and ends with go's last words."""


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kproof" / "cluster"


def go_command() -> str | None:
    """The go command: on PATH, else where the official tarball puts it."""
    found = shutil.which("go")
    if found:
        return found
    return str(FALLBACK_GO) if FALLBACK_GO.exists() else None


def ldflags(module: Module) -> str:
    """-s -w, and for Kubernetes the version it reports: a plain `go build` says v0.0.0-master+$Format:%H$,
    which Knative's minimum-version check rejects."""
    flags = ["-s", "-w"]
    if module.stamp_kubernetes_version:
        version = module.version
        minor = version.split(".")[1]
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [f"-X {package}.{key}={value}" for key, value in (
                ("gitVersion", version), ("gitMajor", "1"), ("gitMinor", minor), ("gitTreeState", "clean"),
                ("gitCommit", "0" * 40), ("buildDate", "1970-01-01T00:00:00Z"))]
    return " ".join(flags)


def default_name(package: str) -> str:
    """The file name `go build -o DIR/` gives a main package: its last element, or the one before a /vN."""
    parts = package.split("/")
    return parts[-2] if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


class BuildCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_root()

    def entry(self, module: Module) -> Path:
        return self.root / module.key

    def binary(self, module: Module, name: str) -> Path:
        return self.entry(module) / "bin" / name

    def _recipe(self, module: Module) -> dict:
        """What a cache entry was built from: a different recipe is a rebuild."""
        recipe = {"module": module.path, "version": module.version, "binaries": module.binaries,
                  "ldflags": ldflags(module), "flags": ["-trimpath"], "cgo": False}
        if module.tests:
            recipe["flags"] = ["-c", "-tags=e2e", "-trimpath"]
        return recipe

    def cached(self, module: Module) -> bool:
        try:
            recipe = json.loads((self.entry(module) / "build.json").read_text())
        except (OSError, ValueError):
            return False
        return recipe == self._recipe(module) and all(
            os.access(self.binary(module, name), os.X_OK) for name in module.binaries)

    def missing(self, modules: Iterable[Module]) -> list[Module]:
        return [module for module in modules if not self.cached(module)]

    def build(self, module: Module, log_path: Path) -> None:
        """Builds the module's binaries into its cache entry (BuildError if go fails). One build per entry
        at a time: a second caller waits, then finds it built."""
        go = go_command()
        if go is None:
            raise BuildError("no Go toolchain: install Go (https://go.dev/dl/) or put `go` on PATH")
        entry = self.entry(module)
        entry.mkdir(parents=True, exist_ok=True)
        with open(entry / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.cached(module):
                return
            scratch = entry / f".build-{os.getpid()}"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            try:
                self._go_build(go, module, scratch, log_path)
                binaries = entry / "bin"
                binaries.mkdir(exist_ok=True)
                for name in module.binaries:
                    os.replace(scratch / name, binaries / name)
                temporary = entry / "build.json.tmp"
                temporary.write_text(json.dumps(self._recipe(module), indent=2))
                os.replace(temporary, entry / "build.json")
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

    def _go_build(self, go: str, module: Module, out: Path, log_path: Path) -> None:
        if module.tests:  # `go test -c` names its binary after the package: one invocation per binary
            for name, package in module.binaries.items():
                self._run(go, module, ["-o", str(out / name), package], log_path, verb=("test", "-c", "-tags=e2e"))
            return
        names = {name: default_name(package) for name, package in module.binaries.items()}
        if len(module.binaries) > 1 and len(set(names.values())) == len(names):
            # one invocation for all: go loads the package graph once and links in parallel
            self._run(go, module, ["-o", f"{out}/", *module.binaries.values()], log_path)
            for name, default in names.items():
                if default != name:
                    os.replace(out / default, out / name)
        else:
            for name, package in module.binaries.items():
                self._run(go, module, ["-o", str(out / name), package], log_path)

    @staticmethod
    def _run(go: str, module: Module, arguments: list[str], log_path: Path,
             verb: tuple[str, ...] = ("build",)) -> None:
        command = ["nice", "-n", "19", go, *verb, "-trimpath", "-ldflags", ldflags(module), *arguments]
        environment = {**os.environ, "CGO_ENABLED": "0"}
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(command)}  (in {module.directory})\n".encode())
            log.flush()
            done = subprocess.run(command, cwd=module.directory, env=environment, stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-LOG_TAIL:])
            raise BuildError(f"go build of {module.key} failed (exit {done.returncode}); {log_path}:\n{tail}")
