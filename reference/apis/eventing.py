"""Where eventing objects answer, as Knative names them (cluster-local hostnames)."""

from __future__ import annotations

BROKER_INGRESS_HOST = "broker-ingress.knative-eventing.svc.cluster.local"
KAFKA_BROKER_INGRESS_HOST = "kafka-broker-ingress.knative-eventing.svc.cluster.local"
KAFKA_SINK_INGRESS_HOST = "kafka-sink-ingress.knative-eventing.svc.cluster.local"
CHANNEL_SUFFIX = "-kn-channel"
CLUSTER_DOMAIN = "svc.cluster.local"


def broker_url(namespace: str, name: str, kafka: bool = False) -> str:
    return f"http://{KAFKA_BROKER_INGRESS_HOST if kafka else BROKER_INGRESS_HOST}/{namespace}/{name}"


def kafka_sink_url(namespace: str, name: str) -> str:
    return f"http://{KAFKA_SINK_INGRESS_HOST}/{namespace}/{name}"


def channel_host(namespace: str, name: str) -> str:
    return f"{name}{CHANNEL_SUFFIX}.{namespace}.{CLUSTER_DOMAIN}"


def channel_url(namespace: str, name: str) -> str:
    return f"http://{channel_host(namespace, name)}"


def parse_channel_host(host: str) -> tuple[str, str] | None:
    """(namespace, channel) for `<name>-kn-channel.<ns>.svc.cluster.local`, else None."""
    name, _, rest = host.partition(".")
    namespace, _, domain = rest.partition(".")
    if name.endswith(CHANNEL_SUFFIX) and domain == CLUSTER_DOMAIN:
        return namespace, name[: -len(CHANNEL_SUFFIX)]
    return None

JOB_SINK_HOST = "job-sink.knative-eventing.svc.cluster.local"


def job_sink_url(namespace: str, name: str) -> str:
    return f"http://{JOB_SINK_HOST}/{namespace}/{name}"


# RequestReply's data plane answers every RequestReply at `/<namespace>/<name>` (replies at `.../reply`).
REQUEST_REPLY_HOST = "request-reply.knative-eventing.svc.cluster.local"
# An EventTransform answers on its JSONata Service, `<name>-jsonata.<namespace>.svc.cluster.local`.
JSONATA_SUFFIX = "-jsonata"


def request_reply_url(namespace: str, name: str) -> str:
    return f"http://{REQUEST_REPLY_HOST}/{namespace}/{name}"


def service_host(namespace: str, service: str) -> str:
    """A Kubernetes Service's cluster-local name."""
    return f"{service}.{namespace}.{CLUSTER_DOMAIN}"
