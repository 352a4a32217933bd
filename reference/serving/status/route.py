"""A Route's status: its resolved traffic, its URLs, AllTrafficAssigned, IngressReady and Ready (Knative's
route_lifecycle.go and pkg/reconciler/route/traffic)."""

from __future__ import annotations

from collections.abc import Callable

from reference.apis import conditions
from reference.apis.durations import parse_go_duration

Lookup = Callable[[str], "dict | None"]  # name -> the object in the Route's namespace, None when absent
ROLLOUT_DURATION = ("serving.knative.dev/rollout-duration", "serving.knative.dev/rolloutDuration")


def rollout_duration(route: dict, network_config: dict[str, str]) -> int:
    """Whole seconds a new revision takes to get its traffic: the Route's annotation, else config-network's
    `rollout-duration` (seconds); 0 moves the traffic at once."""
    annotations = route["metadata"].get("annotations") or {}
    for key in ROLLOUT_DURATION:
        if annotations.get(key):
            try:
                seconds = int(parse_go_duration(annotations[key]))
            except ValueError:
                seconds = 0
            if seconds:
                return seconds
            break
    try:
        return max(0, int(network_config.get("rollout-duration") or 0))
    except ValueError:
        return 0


def rollout_in_progress() -> dict:
    """IngressReady while a gradual rollout moves traffic (MarkIngressRolloutInProgress)."""
    return conditions.condition("IngressReady", None, "RolloutInProgress",
                                "A gradual rollout of the latest revision(s) is in progress.")


def resolve_traffic(route: dict, configuration: Lookup, revision: Lookup, tag_url: Callable[[str], str]
                    ) -> tuple[list[dict] | None, dict]:
    """The traffic as status.traffic, or None and the AllTrafficAssigned condition saying why. A target
    naming a Configuration follows its latest ready Revision."""
    traffic = []
    for target in route["spec"].get("traffic") or []:
        entry: dict = {"percent": target.get("percent", 0)}
        if target.get("configurationName"):
            name = target["configurationName"]
            config = configuration(name)
            if config is None:
                return None, conditions.condition("AllTrafficAssigned", False, "ConfigurationMissing",
                                                  f'Configuration "{name}" referenced in traffic not found.')
            latest = (config.get("status") or {}).get("latestReadyRevisionName")
            if not latest:
                failed = conditions.get(config)["status"] == "False"
                message = (f'Configuration "{name}" does not have any ready Revision.' if failed else
                           f'Configuration "{name}" is waiting for a Revision to become ready.')
                return None, conditions.condition("AllTrafficAssigned", False if failed else None, "RevisionMissing",
                                                  message)
            entry.update({"revisionName": latest, "latestRevision": True})
        else:
            name = target.get("revisionName", "")
            found = revision(name)
            if found is None or not conditions.is_true(found):
                failed = found is None or conditions.get(found)["status"] == "False"
                message = (f'Revision "{name}" referenced in traffic not found.' if found is None else
                           f'Revision "{name}" is not ready.')
                return None, conditions.condition("AllTrafficAssigned", False if failed else None, "RevisionMissing",
                                                  message)
            entry.update({"revisionName": name, "latestRevision": False})
        if target.get("tag"):
            entry["tag"] = target["tag"]
            entry["url"] = tag_url(target["tag"])
        traffic.append(entry)
    return traffic, conditions.condition("AllTrafficAssigned", True)


def ingress_ready(traffic: list[dict] | None, not_owned: str | None, served: bool) -> dict:
    """IngressReady: the data plane serves exactly the resolved traffic (its probe said so)."""
    if traffic is None:
        return conditions.condition("IngressReady", None, "Uninitialized", "Waiting for the traffic to be assigned.")
    if not_owned is not None:
        return conditions.condition("IngressReady", False, "NotOwned",
                                    f'There is an existing placeholder Service "{not_owned}" that we do not own.')
    if served:
        return conditions.condition("IngressReady", True)
    return conditions.condition("IngressReady", None, "Uninitialized",
                                "Waiting for the data plane to serve the new traffic.")


def route_status(route: dict, url: str, address: str, traffic: list[dict] | None, assigned: dict,
                 ingress: dict) -> dict:
    """The Route's status; traffic that cannot be resolved now leaves what was served before in place."""
    previous = route.get("status") or {}
    status = {**previous, "observedGeneration": route["metadata"]["generation"], "url": url,
              "address": {"url": address}}
    if traffic is not None:
        status["traffic"] = traffic
    certificate = conditions.condition("CertificateProvisioned", True, "TLSNotEnabled", "auto-tls is disabled",
                                       severity="Info")
    parts = [assigned, ingress]
    status["conditions"] = conditions.merge([*parts, certificate, conditions.all_of("Ready", parts)],
                                            previous.get("conditions"))
    return status

