"""Route hostnames from the config-domain ConfigMap, as Knative chooses them.

Each key of config-domain is a domain; its value is empty (the default) or a YAML `selector:` of
labels a Route must carry to use it. The most specific matching selector wins. Routes labelled
`networking.knative.dev/visibility: cluster-local` get only the cluster-local name.
"""

from __future__ import annotations

import yaml

from reference.apis.labels import CLUSTER_LOCAL, VISIBILITY

CLUSTER_DOMAIN = "svc.cluster.local"
DEFAULT_DOMAIN = "example.com"


def choose_domain(config: dict[str, str], labels: dict[str, str]) -> str:
    best, best_size = DEFAULT_DOMAIN if not config else "", -1
    for domain, value in config.items():
        if domain.startswith("_"):
            continue
        selector: dict[str, str] = {}
        if value and value.strip():
            try:
                selector = (yaml.safe_load(value) or {}).get("selector") or {}
            except yaml.YAMLError:
                continue
        if all(labels.get(k) == v for k, v in selector.items()) and len(selector) > best_size:
            best, best_size = domain, len(selector)
    return best or DEFAULT_DOMAIN


def cluster_local_host(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.{CLUSTER_DOMAIN}"


def route_host(name: str, namespace: str, labels: dict[str, str], config: dict[str, str]) -> str:
    if labels.get(VISIBILITY) == CLUSTER_LOCAL:
        return cluster_local_host(name, namespace)
    return f"{name}.{namespace}.{choose_domain(config, labels)}"


def tag_host(tag: str, name: str, namespace: str, labels: dict[str, str], config: dict[str, str]) -> str:
    return route_host(f"{tag}-{name}", namespace, labels, config)
