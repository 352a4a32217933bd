"""make_*: the Kubernetes Services (core v1) Knative's controllers create, as Knative shapes them.

- For a Route, and for each of its traffic tags, a placeholder Service named after the host's first label
  (`<route>`, `<tag>-<route>`; knative.dev/serving pkg/reconciler/route/resources/service.go), which gives
  the cluster-local name `<name>.<namespace>.svc.cluster.local` its DNS record. Knative points it at the
  networking layer's local gateway once the Ingress reports one; here the ingress answers on the Route's
  own host, so the Service keeps the placeholder's externalName, that host.
- For a Revision, the public `<rev>` and the private `<rev>-private` Services its ServerlessService owns
  (pkg/reconciler/serverlessservice/resources/services.go). The reference has no ServerlessService
  kind: the Revision owns them (Knative's chain is Revision -> PodAutoscaler -> ServerlessService).
"""

from __future__ import annotations

import hashlib

from reference.apis.labels import (
    APP,
    REVISION,
    REVISION_UID,
    ROUTE,
    ROUTES_ANNOTATION,
    ROUTING_STATE,
    SERVERLESS_SERVICE,
    SERVICE_TYPE,
    VISIBILITY,
)
from reference.apis.objects import owner_reference
from reference.serving.resources import domain

H2C = "h2c"
APP_PROTOCOL_H2C = "kubernetes.io/h2c"
BACKEND_HTTP_PORT, BACKEND_HTTP2_PORT, BACKEND_HTTPS_PORT = 8012, 8013, 8112
AUTOSCALING_METRICS_PORT, USER_METRICS_PORT = 9090, 9091
# What a revision's Services do not inherit from it (revision resources' makeLabels, excludeAnnotations; the
# ServerlessService also leaves out the metric annotation).
EXCLUDED_LABELS = (ROUTE, ROUTING_STATE)
EXCLUDED_ANNOTATIONS = ("serving.knative.dev/lastPinned", "serving.knative.dev/no-gc",
                        "serving.knative.dev/routingStateModified", ROUTES_ANNOTATION, "autoscaling.knative.dev/metric")
MAX_NAME = 63


def child_name(parent: str, suffix: str) -> str:
    """kmeta.ChildName: `parent + suffix`, with the parent cut and hashed when the whole would pass 63."""
    if len(parent) + len(suffix) <= MAX_NAME:
        return parent + suffix
    head = MAX_NAME - 32 - len(suffix)
    return parent[:head] + hashlib.md5(parent.encode(), usedforsecurity=False).hexdigest() + suffix


def _service(name: str, namespace: str, labels: dict, annotations: dict, owner: dict, spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations,
                         "ownerReferences": [owner_reference(owner)]},
            "spec": spec}


# Routes -------------------------------------------------------------------------------------------

def route_service_name(route_name: str, tag: str = "") -> str:
    return f"{tag}-{route_name}" if tag else route_name


def route_service(route: dict, tag: str, domain_config: dict[str, str]) -> dict:
    """MakeK8sPlaceholderService: an ExternalName Service on the Route's (or the tag's) host."""
    meta = route["metadata"]
    route_labels = meta.get("labels") or {}
    name = route_service_name(meta["name"], tag)
    # The visibility label stays on the Route: set on a tag's Service, it would be that tag's own.
    labels = {**{k: v for k, v in route_labels.items() if k != VISIBILITY}, ROUTE: meta["name"]}
    host = domain.route_host(name, meta["namespace"], route_labels, domain_config)
    spec = {"type": "ExternalName", "externalName": host, "sessionAffinity": "None",
            "ports": [{"name": "http2", "appProtocol": APP_PROTOCOL_H2C, "protocol": "TCP", "port": 80,
                       "targetPort": 80}]}
    return _service(name, meta["namespace"], labels, dict(meta.get("annotations") or {}), route, spec)


def make_route_services(route: dict, traffic: list[dict], domain_config: dict[str, str]) -> list[dict]:
    """The Route's Service and one per traffic tag."""
    tags = sorted({t["tag"] for t in traffic if t.get("tag")})
    return [route_service(route, tag, domain_config) for tag in ["", *tags]]


# Revisions ----------------------------------------------------------------------------------------

def private_service_name(revision_name: str) -> str:
    return child_name(revision_name, "-private")


def _revision_meta(revision: dict, service_type: str) -> tuple[dict, dict]:
    meta = revision["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in EXCLUDED_LABELS}
    labels.update({REVISION: meta["name"], REVISION_UID: meta["uid"]})
    labels.setdefault(APP, meta["name"])
    labels.update({SERVERLESS_SERVICE: meta["name"], SERVICE_TYPE: service_type})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in EXCLUDED_ANNOTATIONS}
    return labels, annotations


def _serving_port(protocol: str, port: int) -> dict:
    """The port that carries requests: `http` to queue-proxy's 8012, or `http2` (h2c) to 8013."""
    h2c = protocol == H2C
    entry = {"name": "http2" if h2c else "http", "protocol": "TCP", "port": port,
             "targetPort": BACKEND_HTTP2_PORT if h2c else BACKEND_HTTP_PORT}
    if h2c:
        entry["appProtocol"] = APP_PROTOCOL_H2C
    return entry


HTTPS_PORT = {"name": "https", "protocol": "TCP", "port": 443, "targetPort": BACKEND_HTTPS_PORT}


def public_service(revision: dict, protocol: str = "http1") -> dict:
    """MakePublicService: no selector (Knative fills its endpoints: the activator's or the pods')."""
    labels, annotations = _revision_meta(revision, "Public")
    spec = {"ports": [_serving_port(protocol, 81 if protocol == H2C else 80), dict(HTTPS_PORT)]}
    meta = revision["metadata"]
    return _service(meta["name"], meta["namespace"], labels, annotations, revision, spec)


def private_service(revision: dict, protocol: str = "http1") -> dict:
    """MakePrivateService: the revision's pods, by the revisionUID label their Deployment selects on."""
    labels, annotations = _revision_meta(revision, "Private")
    serving = _serving_port(protocol, 80)
    spec = {"ports": [serving, dict(HTTPS_PORT),
                      {"name": "http-autometric", "protocol": "TCP", "port": AUTOSCALING_METRICS_PORT,
                       "targetPort": "http-autometric"},
                      {"name": "http-usermetric", "protocol": "TCP", "port": USER_METRICS_PORT,
                       "targetPort": "http-usermetric"},
                      {"name": f"{serving['name']}-istio", "protocol": "TCP", "port": serving["targetPort"],
                       "targetPort": serving["targetPort"]}],
            "selector": {REVISION_UID: revision["metadata"]["uid"]}}
    meta = revision["metadata"]
    return _service(private_service_name(meta["name"]), meta["namespace"], labels, annotations, revision, spec)


def make_revision_services(revision: dict, protocol: str = "http1") -> list[dict]:
    return [public_service(revision, protocol), private_service(revision, protocol)]
