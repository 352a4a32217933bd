"""What `kproof cluster status` reports: whether a supervisor runs, where the cluster listens, and the health
of each component and of Knative's Deployments."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from kproof.cluster.build import BuildCache
from kproof.cluster.components import Components
from kproof.cluster.kube import Admin
from kproof.cluster.state import Layout, read_json
from kproof.cluster.supervisor import unavailable_deployments
from reference.host.processes import process_alive, start_time


def running(layout: Layout) -> dict | None:
    """cluster.json of the supervisor that runs on this state directory, None when none does."""
    data = read_json(layout.cluster_json)
    pid = int(data.get("pid") or 0)
    if not pid or not process_alive(pid) or (data.get("pid_start") and start_time(pid) != data["pid_start"]):
        return None
    return data


def status_of(layout: Layout, cache: BuildCache | None = None) -> dict:
    data = running(layout)
    report: dict = {"running": data is not None, "phase": data.get("phase") if data else None,
                    "state_dir": str(layout.root), "pid": data.get("pid") if data else None,
                    "kubeconfig": str(layout.kubeconfig) if data else None,
                    "api": data.get("api") if data else None, "ingress": data.get("ingress") if data else None,
                    "dns": data.get("dns") if data else None, "catalog": data.get("catalog") if data else None,
                    "bridge": data.get("bridge") if data else None, "pod_cidr": data.get("pod_cidr") if data else None,
                    "gateway": data.get("gateway") if data else None, "components": {}, "knative": None}
    if data is None or not data.get("pod_cidr"):
        return report
    components = Components(layout, cache or BuildCache(), ipaddress.IPv4Network(data["pod_cidr"]),
                            data["gateway"], data["bridge"])
    checks = components.checks()
    for name, process in (data.get("components") or {}).items():
        problem = None if process_alive(int(process.get("pid") or 0)) else "not running"
        if problem is None and name in checks:
            problem = checks[name]()
        restarts = int(process.get("restarts") or 0)
        report["components"][name] = (problem or "ok") + (f" ({restarts} restarts)" if restarts else "")
    if "kube-apiserver" in report["components"]:
        waiting = unavailable_deployments(Admin(layout))
        report["knative"] = "ok" if not waiting else "not available: " + ", ".join(waiting)
    return report


def healthy(report: dict) -> bool:
    return bool(report["running"]) and report["phase"] == "ready" and all(
        health.startswith("ok") for health in report["components"].values()) and report["knative"] == "ok"



def target_of(state_dir: Path) -> tuple[Path, str]:
    """The kubeconfig and ingress URL of the ready cluster on `state_dir` (`kproof run --cluster`); LookupError
    saying why when there is none."""
    data = running(Layout(state_dir.resolve()))
    if data is None:
        raise LookupError(f"no cluster runs on {state_dir}: start one with `kproof cluster up --detach`")
    if data.get("phase") != "ready" or not data.get("ingress"):
        raise LookupError(f"the cluster on {state_dir} is not ready yet ({data.get('phase')}): "
                          "`kproof cluster status` says how far it is")
    return Path(str(data["kubeconfig"])), str(data["ingress"])
