"""Builds the upstream test binaries, the test images and gotestsum into `kproof cluster`'s build cache."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from kproof.cluster.build import BuildCache, go_command
from kproof.cluster.versions import Module
from kproof.upstream.suites import GOTESTSUM, Suite, modules


def build_all(suites: tuple[Suite, ...], cache: BuildCache, log_path: Path,
              say: Callable[[str], None] = print, jobs: int = 1) -> dict[str, float]:
    """Builds what these suites need and is not cached yet; returns the seconds each module took (0 when
    cached). `jobs` is go's -p: the machine is shared, so one package at a time by default."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("GOFLAGS")
    os.environ["GOFLAGS"] = f"{_goflags() if previous is None else previous} -p={jobs}".strip()
    timings: dict[str, float] = {}
    try:
        for module in modules(suites):
            if cache.cached(module):
                timings[module.key] = 0.0
                continue
            say(f"building {module.key} ({len(module.binaries)} binaries; about {module.cold_minutes:g} min "
                f"on two cores when Go's caches are cold; log {log_path})")
            started = time.monotonic()
            cache.build(module, log_path)
            timings[module.key] = time.monotonic() - started
            say(f"built {module.key} in {timings[module.key]:.0f} s")
    finally:
        if previous is None:
            os.environ.pop("GOFLAGS", None)
        else:
            os.environ["GOFLAGS"] = previous
    return timings


def _goflags() -> str:
    """GOFLAGS from go's own configuration (`go env -w`), which the variable would otherwise replace."""
    go = go_command()
    if go is None:
        return ""
    done = subprocess.run([go, "env", "GOFLAGS"], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def binary(cache: BuildCache, module: Module, name: str) -> Path:
    return cache.binary(module, name)


def gotestsum(cache: BuildCache) -> Path:
    return cache.binary(GOTESTSUM, "gotestsum")
