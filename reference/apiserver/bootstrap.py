"""What exists from the start: Knative's namespaces and config maps, holding Knative's defaults, and what its
installation adds (CustomResourceDefinitions, aggregated ClusterRoles: installation.py).

Only missing objects are created, so a restart keeps what users changed.
"""

from __future__ import annotations

from reference.apiserver import installation
from reference.apiserver.errors import ApiError
from reference.apiserver.registry import Options, Registry

NAMESPACES = ("default", "kube-system", "kube-node-lease", "knative-serving", "knative-eventing")

REQUEST_LOG_TEMPLATE = (
    '{"httpRequest": {"requestMethod": "{{.Request.Method}}", "requestUrl": "{{js .Request.RequestURI}}", '
    '"requestSize": "{{.Request.ContentLength}}", "status": {{.Response.Code}}, "responseSize": '
    '"{{.Response.Size}}", "userAgent": "{{js .Request.UserAgent}}", "remoteIp": '
    '"{{js .Request.RemoteAddr}}", "serverIp": "{{.Revision.PodIP}}", "referer": "{{js .Request.Referer}}", '
    '"latency": "{{.Response.Latency}}s", "protocol": "{{.Request.Proto}}"}, "traceId": '
    '"{{index .Request.Header "X-B3-Traceid"}}"}'
)

ZAP_LOGGER_CONFIG = """{
  "level": "info",
  "development": false,
  "outputPaths": ["stdout"],
  "errorOutputPaths": ["stderr"],
  "encoding": "json",
  "encoderConfig": {
    "timeKey": "ts",
    "levelKey": "level",
    "nameKey": "logger",
    "callerKey": "caller",
    "messageKey": "msg",
    "stacktraceKey": "stacktrace",
    "lineEnding": "",
    "levelEncoder": "",
    "timeEncoder": "iso8601",
    "durationEncoder": "",
    "callerEncoder": ""
  }
}
"""

CONFIG_MAPS: dict[tuple[str, str], dict[str, str]] = {
    ("knative-serving", "config-autoscaler"): {
        "container-concurrency-target-percentage": "70",
        "container-concurrency-target-default": "100",
        "requests-per-second-target-default": "200",
        "target-burst-capacity": "211",
        "stable-window": "60s",
        "panic-window-percentage": "10.0",
        "panic-threshold-percentage": "200.0",
        "max-scale-up-rate": "1000.0",
        "max-scale-down-rate": "2.0",
        "enable-scale-to-zero": "true",
        "scale-to-zero-grace-period": "30s",
        "scale-to-zero-pod-retention-period": "0s",
        "pod-autoscaler-class": "kpa.autoscaling.knative.dev",
        "activator-capacity": "100.0",
        "initial-scale": "1",
        "allow-zero-initial-scale": "false",
        "min-scale": "0",
        "max-scale": "0",
        "max-scale-limit": "0",
        "scale-down-delay": "0s",
    },
    ("knative-serving", "config-defaults"): {
        "revision-timeout-seconds": "300",
        "max-revision-timeout-seconds": "600",
        "revision-idle-timeout-seconds": "0",
        "container-concurrency": "0",
        "container-concurrency-max-limit": "1000",
        "allow-container-concurrency-zero": "true",
        "container-name-template": "user-container",
        "enable-service-links": "false",
    },
    ("knative-serving", "config-domain"): {"example.com": ""},
    ("knative-serving", "config-deployment"): {
        "progress-deadline": "600s",
        "pod-is-always-schedulable": "false",
    },
    ("knative-serving", "config-observability"): {
        "logging.enable-request-log": "false",
        "logging.enable-probe-request-log": "false",
        "logging.request-log-template": REQUEST_LOG_TEMPLATE,
        "metrics.backend-destination": "prometheus",
        "metrics.request-metrics-backend-destination": "prometheus",
    },
    ("knative-serving", "config-features"): {
        "multi-container": "enabled",
        "multi-container-probing": "disabled",
        "kubernetes.podspec-affinity": "disabled",
        "kubernetes.podspec-fieldref": "disabled",
        "kubernetes.podspec-nodeselector": "disabled",
        "kubernetes.podspec-tolerations": "disabled",
        "kubernetes.podspec-securitycontext": "disabled",
        "kubernetes.podspec-init-containers": "disabled",
        "kubernetes.podspec-persistent-volume-claim": "disabled",
        "kubernetes.podspec-persistent-volume-write": "disabled",
        "kubernetes.podspec-volumes-emptydir": "enabled",
        "kubernetes.podspec-dryrun": "allowed",
        "tag-header-based-routing": "disabled",
        "secure-pod-defaults": "disabled",
    },
    ("knative-eventing", "config-br-defaults"): {
        "default-br-config": (
            "clusterDefault:\n"
            "  brokerClass: MTChannelBasedBroker\n"
            "  apiVersion: v1\n"
            "  kind: ConfigMap\n"
            "  name: config-br-default-channel\n"
            "  namespace: knative-eventing\n"
            "  brokerClasses:\n"
            "    Kafka:\n"
            "      apiVersion: v1\n"
            "      kind: ConfigMap\n"
            "      name: kafka-broker-config\n"
            "      namespace: knative-eventing\n"
            "  delivery:\n"
            "    retry: 10\n"
            "    backoffPolicy: exponential\n"
            "    backoffDelay: PT0.2S\n"
        ),
    },
    # Kafka-class Brokers: an empty bootstrap.servers means the platform's own Kafka.
    ("knative-eventing", "kafka-broker-config"): {
        "bootstrap.servers": "",
        "default.topic.partitions": "3",
        "default.topic.replication.factor": "1",
    },
    ("knative-eventing", "config-br-default-channel"): {
        "channel-template-spec": "apiVersion: messaging.knative.dev/v1\nkind: InMemoryChannel\n",
    },
    ("knative-eventing", "default-ch-webhook"): {
        "default-ch-config": (
            "clusterDefault:\n"
            "  apiVersion: messaging.knative.dev/v1\n"
            "  kind: InMemoryChannel\n"
        ),
    },
    ("knative-eventing", "config-features"): {
        "kreference-group": "disabled",
        "delivery-retryafter": "disabled",
        "delivery-timeout": "enabled",
        "new-trigger-filters": "enabled",
        "cross-namespace-event-links": "disabled",
    },
    ("knative-eventing", "config-observability"): {
        "metrics.backend-destination": "prometheus",
    },
    # Knative's logging settings (config/core/configmaps/logging.yaml of each release): rekt's environment
    # reads eventing's and hands it to the pods it makes
    ("knative-eventing", "config-logging"): {
        "zap-logger-config": ZAP_LOGGER_CONFIG,
        "loglevel.controller": "info",
        "loglevel.webhook": "info",
    },
    ("knative-serving", "config-logging"): {
        "zap-logger-config": ZAP_LOGGER_CONFIG,
        "loglevel.controller": "info",
        "loglevel.autoscaler": "info",
        "loglevel.queueproxy": "info",
        "loglevel.webhook": "info",
        "loglevel.activator": "info",
        "loglevel.hpaautoscaler": "info",
        "loglevel.net-certmanager-controller": "info",
        "loglevel.net-istio-controller": "info",
        "loglevel.net-contour-controller": "info",
    },
    # The reference's own settings (reference/apiserver/admission/ack.py): "true" refuses ACK's xpa class as
    # upstream Knative does; ACK's forms are accepted with a warning otherwise.
    # Knative's networking settings the reference reads: rollout-duration (seconds; 0: no gradual rollout)
    ("knative-serving", "config-network"): {
        "rollout-duration": "0",
    },
    ("knative-serving", "config-kproof"): {
        "upstream-strict": "false",
    },
}


def bootstrap(registry: Registry) -> None:
    namespaces = registry.kinds.require("", "v1", "namespaces")
    config_maps = registry.kinds.require("", "v1", "configmaps")
    opts = Options(user="system:kproof")
    for name in NAMESPACES:
        _ensure(lambda n=name: registry.create(namespaces, "", {"metadata": {"name": n}}, opts))
    for (namespace, name), data in CONFIG_MAPS.items():
        body = {"metadata": {"name": name, "namespace": namespace,
                             "labels": {"app.kubernetes.io/part-of": "kproof"}}, "data": data}
        _ensure(lambda b=body, ns=namespace: registry.create(config_maps, ns, b, opts))
    installation.install(registry)


def set_config(registry: Registry, namespace: str, name: str, key: str, value: str) -> None:
    """Sets one key of a bootstrapped config map (a start-up flag that overrides what is stored)."""
    config_maps = registry.kinds.require("", "v1", "configmaps")
    current = registry.get(config_maps, namespace, name)
    if (current.get("data") or {}).get(key) != value:
        current.setdefault("data", {})[key] = value
        registry.update(config_maps, namespace, name, current, Options(user="system:kproof"))


def _ensure(create) -> None:
    try:
        create()
    except ApiError as err:
        if err.code != 409:
            raise
