"""A pod's way to the API server, as Kubernetes gives it: its ServiceAccount's token, the cluster's CA and its
namespace at /var/run/secrets/kubernetes.io/serviceaccount, and KUBERNETES_SERVICE_HOST/PORT in its
environment (what client-go's in-cluster configuration reads).

On a cluster the ServiceAccount admission plugin adds a `kube-api-access-*` projected volume for this; the
reference's kubelet mounts the same files itself (the Pod's spec stays as it was written). The token is the
ServiceAccount's own, for the API server's audience: the API server gives it what RBAC grants that account
(nothing, until a Role is bound to it), never the platform's own access.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True)
class PodApiAccess:
    host: str  # where pods reach the API server (the pod network's gateway, or 127.0.0.1 on the host's network)
    port: int
    ca: bytes  # the CA that signed the API server's certificate (ca.crt)
    mint: Callable[[str, str], str | None]  # (namespace, account) -> its token; None when it does not exist

    def env(self) -> dict[str, str]:
        """The variables the kubelet gives every container for the `kubernetes` Service."""
        address = f"tcp://{self.host}:{self.port}"
        return {"KUBERNETES_SERVICE_HOST": self.host, "KUBERNETES_SERVICE_PORT": str(self.port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(self.port), "KUBERNETES_PORT": address,
                f"KUBERNETES_PORT_{self.port}_TCP": address, f"KUBERNETES_PORT_{self.port}_TCP_PROTO": "tcp",
                f"KUBERNETES_PORT_{self.port}_TCP_PORT": str(self.port),
                f"KUBERNETES_PORT_{self.port}_TCP_ADDR": self.host}

    def write(self, directory: Path, namespace: str, token: str) -> Path:
        """token, ca.crt and namespace in `directory` (readable by the pod's user, as mode 0644 makes them)."""
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        for name, data in (("token", token.encode()), ("ca.crt", self.ca), ("namespace", namespace.encode())):
            path = directory / name
            path.write_bytes(data)
            path.chmod(0o644)
        return directory


def account_of(pod: dict) -> str:
    spec = pod.get("spec") or {}
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_ACCOUNT


def automounts(pod: dict, account: dict | None) -> bool:
    """Whether the Pod gets its account's token: its own automountServiceAccountToken, else the account's,
    else yes; never when a container already mounts something at the path."""
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if any(m.get("mountPath", "").rstrip("/") == MOUNT_PATH for m in container.get("volumeMounts") or []):
            return False
    own = spec.get("automountServiceAccountToken")
    if isinstance(own, bool):
        return own
    theirs = (account or {}).get("automountServiceAccountToken")
    return theirs if isinstance(theirs, bool) else True
