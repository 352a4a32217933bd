"""The rules `kproof lint` checks: an id, a severity, what each checks and where the practice comes from.

The checks themselves are pure functions of one document and the options (practices.py for seed
004's practices, forms.py for invalid and deprecated forms, admission.py for Knative's validation);
each returns Findings that name a rule and the field they point at.
"""

from __future__ import annotations

from dataclasses import dataclass

from kproof.lint.manifests import FieldPath

SEED_004 = "https://www.alibabacloud.com/blog/best-practices-for-ai-model-inference-configuration-in-knative_601454"
KNATIVE_DOCS = "https://knative.dev/docs"
CONCURRENCY_DOC = f"{KNATIVE_DOCS}/serving/autoscaling/concurrency/"
SCALE_BOUNDS_DOC = f"{KNATIVE_DOCS}/serving/autoscaling/scale-bounds/"
KPA_DOC = f"{KNATIVE_DOCS}/serving/autoscaling/kpa-specific/"
PROBING_DOC = f"{KNATIVE_DOCS}/serving/services/configure-probing/"
KAFKA_SOURCE_DOC = f"{KNATIVE_DOCS}/eventing/sources/kafka-source/"
FEATURES_DOC = f"{KNATIVE_DOCS}/serving/configuration/feature-flags/"
SERVING_SPEC = "https://github.com/knative/specs/blob/main/specs/serving/knative-api-specification-1.0.md"
AUTOSCALING_KEYS = "https://pkg.go.dev/knative.dev/serving/pkg/apis/autoscaling"
KUBERNETES_OBJECTS = "https://kubernetes.io/docs/concepts/overview/working-with-objects/"
YAML_SPEC = "https://yaml.org/spec/1.2.2/"
SEED_000 = "https://www.alibabacloud.com/blog/knative-serverless-practices-in-ai-event-driven-scenarios_600046"
AUTOSCALING_VALIDATION = ("https://github.com/knative/serving/blob/main/pkg/apis/autoscaling/"
                          "annotation_validation.go")
FLUID_DOC = "https://github.com/fluid-cloudnative/fluid"

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str  # error | warning | info
    summary: str  # what a manifest that passes does
    source: str  # the seed passage or Knative document it comes from
    help_uri: str


@dataclass(frozen=True)
class Finding:
    rule: Rule
    path: FieldPath  # the field it points at; () for the whole document or file
    message: str
    file: str = ""
    line: int = 1
    column: int = 1
    document: int = 0  # which document of the file, from 0
    object: str = ""  # Kind/name


@dataclass(frozen=True)
class Options:
    startup: float | None = None  # measured pod start-up, seconds (--startup)
    response_seconds: float | None = None  # longest expected response, seconds (--response-seconds)


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


RULES = _rules(
    # seed 004's practices
    Rule("KP001", "gpu-container-concurrency", "warning",
         "A GPU Service takes one request at a time: containerConcurrency: 1.",
         "seed 004, concurrency: for GPU-intensive tasks set containerConcurrency to 1", SEED_004),
    Rule("KP002", "gpu-target-above-concurrency", "warning",
         "A GPU Service's autoscaling target is not above its containerConcurrency.",
         "seed 004, concurrency: with containerConcurrency 1, target must also be 1", SEED_004),
    Rule("KP003", "gpu-metric", "warning",
         "A GPU Service scales on the concurrency metric.",
         "seed 004, auto scaling: use the concurrency metric for GPU-based services", SEED_004),
    Rule("KP004", "gpu-max-scale", "warning",
         "A GPU Service sets autoscaling.knative.dev/max-scale.",
         "seed 004, scale bounds: max-scale cannot exceed available resources and limits cost", SCALE_BOUNDS_DOC),
    Rule("KP005", "target-matches-concurrency", "info",
         "The autoscaling target equals containerConcurrency when both are set (concurrency metric).",
         "seed 004, concurrency: the target value must match containerConcurrency", CONCURRENCY_DOC),
    Rule("KP006", "model-server-readiness", "warning",
         "A model server has a readiness probe.",
         "seed 004, probes: do not report ready until the model can serve requests", PROBING_DOC),
    Rule("KP007", "model-on-volume", "warning",
         "A model server reads its model from a mounted volume, not from its image.",
         "seed 004, model deployment: keep models out of images, mount them from a PVC", SEED_004),
    Rule("KP008", "window-vs-startup", "warning",
         "The stable window is at least twice the pod start-up time (--startup).",
         "seed 004, autoscaler windows: twice the average start-up time is a good stable window", KPA_DOC),
    Rule("KP009", "panic-window-vs-startup", "warning",
         "The panic window is longer than the pod start-up time (--startup).",
         "seed 004, panic window: at or below the start-up time it over-scales", KPA_DOC),
    Rule("KP010", "timeout-vs-response", "warning",
         "timeoutSeconds is at least 1.2 times the longest expected response (--response-seconds).",
         "seed 004, graceful shutdown: timeoutSeconds = 1.2 x the maximum response time", SEED_004),
    # invalid and deprecated forms
    Rule("KP011", "removed-api-version", "error",
         "Objects use API versions Knative still serves.",
         "Knative API specification: serving.knative.dev/v1, eventing and messaging v1", SERVING_SPEC),
    Rule("KP012", "v1alpha1-service-form", "error",
         "No v1alpha1 forms: runLatest, release, pinned, manual, revisionTemplate, container.",
         "seed 003 writes runLatest; serving.knative.dev/v1 has spec.template and spec.traffic", SERVING_SPEC),
    Rule("KP013", "kafkasource-v1alpha1", "warning",
         "KafkaSource is sources.knative.dev/v1beta1, with bootstrapServers and topics as lists.",
         "seeds 000 and 001 write v1alpha1, which upstream Knative no longer serves", KAFKA_SOURCE_DOC),
    Rule("KP014", "annotation-twins", "error",
         "An autoscaling annotation is not given in both camelCase and kebab-case.",
         "Knative's webhook: expected exactly one, got both", AUTOSCALING_KEYS),
    Rule("KP015", "annotation-camel-case", "warning",
         "Autoscaling annotations use their kebab-case names.",
         "Knative: camelCase keys such as minScale and maxScale are deprecated aliases", AUTOSCALING_KEYS),
    Rule("KP016", "annotation-not-string", "error",
         "Annotation and label values are strings.",
         "seed 004 writes `autoscaling.knative.dev/target: 1`; the API server refuses a number", KUBERNETES_OBJECTS),
    Rule("KP017", "yaml-syntax", "error",
         "The file is YAML.",
         "YAML 1.2", YAML_SPEC),
    Rule("KP018", "not-an-object", "error",
         "Every document is an object with apiVersion and kind.",
         "Kubernetes objects: apiVersion, kind and metadata are required", KUBERNETES_OBJECTS),
    Rule("KP019", "admission", "error",
         "Knative's and Kubernetes' validation accept the object.",
         "Knative's webhooks, as reference/apiserver/admission implements them", SERVING_SPEC),
    Rule("KP020", "feature-flag", "info",
         "Fields that Knative only accepts with a config-features flag enabled.",
         "Knative feature flags in config-features", FEATURES_DOC),
    Rule("KP021", "ack-only-form", "warning",
         "Only forms upstream Knative accepts: no xpa class, k8s.aliyun.com annotations or ACK kinds.",
         "seeds 000, 001 and 004 ran on ACK: upstream Knative refuses the xpa class and ignores ACK's annotations",
         AUTOSCALING_VALIDATION),
    Rule("KP022", "needs-component", "warning",
         "Kinds outside Knative and Kubernetes name the component a cluster must install to serve them.",
         "seed 004 declares its models with Fluid's Dataset and JindoRuntime, ACK's ack-fluid component", FLUID_DOC),
)


def finding(rule_id: str, path: FieldPath, message: str) -> Finding:
    return Finding(RULES[rule_id], tuple(path), message)
