"""What `kproof cluster` builds: published Go modules at the versions their wrapper modules pin.

Each wrapper module under go/ (our own go.mod, go.sum and tools.go, no other project's source) requires one
or two published modules; the version pinned there is the one built, and the build cache is keyed by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

GO_DIR = Path(__file__).resolve().parent / "go"


@dataclass(frozen=True)
class Module:
    wrapper: str  # the folder under go/ whose go.mod pins it
    path: str  # the published module
    binaries: dict[str, str]  # our name for each binary -> its main package
    cold_minutes: float  # how long a first build takes on two cores (for the progress display)
    stamp_kubernetes_version: bool = False  # -X the version packages (Knative refuses "v0.0.0-master")
    tests: bool = False  # the packages are test packages, built with `go test -c -tags=e2e`
    variant: str = ""  # names a second set of binaries from the same module@version (its own cache entry)

    @property
    def directory(self) -> Path:
        return GO_DIR / self.wrapper

    @property
    def version(self) -> str:
        return pinned_version(self.directory / "go.mod", self.path)

    @property
    def key(self) -> str:
        """The build cache's key: module@version, and +variant for a second set of binaries."""
        return f"{self.path}@{self.version}" + (f"+{self.variant}" if self.variant else "")

    def image(self, name: str) -> str:
        """The ko:// image reference Knative's YAML gives this binary."""
        return f"ko://{self.binaries[name]}"


def pinned_version(go_mod: Path, module: str) -> str:
    """The version `go_mod` requires of `module` (LookupError if it requires none)."""
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.MULTILINE)
    if not found:
        raise LookupError(f"{go_mod} does not require {module}")
    return found[1]


KUBERNETES = Module(
    "kube", "k8s.io/kubernetes",
    {name: f"k8s.io/kubernetes/cmd/{name}"
     for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")},
    cold_minutes=5, stamp_kubernetes_version=True)
ETCD = Module("etcd", "go.etcd.io/etcd/server/v3", {"etcd": "go.etcd.io/etcd/server/v3"}, cold_minutes=0.5)
COREDNS = Module("coredns", "github.com/coredns/coredns", {"coredns": "github.com/coredns/coredns"},
                 cold_minutes=2)
SERVING = Module(
    "knative", "knative.dev/serving",
    {name: f"knative.dev/serving/cmd/{name}" for name in ("controller", "webhook", "activator", "autoscaler", "queue")},
    cold_minutes=3)
EVENTING = Module(
    "knative", "knative.dev/eventing",
    {path.replace("/", "-"): f"knative.dev/eventing/cmd/{path}"
     for path in ("controller", "webhook", "broker/ingress", "broker/filter", "mtchannel_broker",
                  "in_memory/channel_controller", "in_memory/channel_dispatcher", "mtping",
                  "apiserver_receive_adapter", "jobsink", "requestreply")},
    cold_minutes=1)

MODULES = (ETCD, KUBERNETES, COREDNS, SERVING, EVENTING)
KNATIVE = (SERVING, EVENTING)
