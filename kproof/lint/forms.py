"""Invalid and deprecated forms: documents that are not objects, API versions Knative no longer serves,
v1alpha1 Service forms, the v1alpha1 KafkaSource, and annotations written the old or the wrong way."""

from __future__ import annotations

from collections.abc import Iterator

from kproof.lint.rules import Finding, Options, finding
from reference.apiserver.admission import ack, autoscaling

KAFKA_SOURCE_V1ALPHA1 = "sources.knative.dev/v1alpha1"
KAFKA_SOURCE_V1BETA1 = "sources.knative.dev/v1beta1"
SERVING_V1 = "serving.knative.dev/v1"

_SOURCES = ("PingSource", "ApiServerSource", "ContainerSource", "SinkBinding")
_MESSAGING = ("Channel", "Subscription", "InMemoryChannel")

# (apiVersion, kind or None for every kind) -> what replaced it.
REMOVED: dict[tuple[str, str | None], str] = {
    ("serving.knative.dev/v1alpha1", None): SERVING_V1,
    ("serving.knative.dev/v1beta1", None): SERVING_V1,
    **{("eventing.knative.dev/v1alpha1", k): "eventing.knative.dev/v1" for k in ("Broker", "Trigger")},
    **{("eventing.knative.dev/v1beta1", k): "eventing.knative.dev/v1" for k in ("Broker", "Trigger")},
    ("eventing.knative.dev/v1alpha1", "Channel"):
        "messaging.knative.dev/v1 (spec.channelTemplate names the implementation, e.g. InMemoryChannel)",
    ("eventing.knative.dev/v1alpha1", "Subscription"): "messaging.knative.dev/v1",
    ("eventing.knative.dev/v1alpha1", "ClusterChannelProvisioner"):
        "a messaging.knative.dev/v1 Channel's spec.channelTemplate (in-memory-channel: InMemoryChannel)",
    **{(f"messaging.knative.dev/{v}", k): "messaging.knative.dev/v1"
       for v in ("v1alpha1", "v1beta1") for k in _MESSAGING},
    ("sources.eventing.knative.dev/v1alpha1", None): "sources.knative.dev/v1",
    ("sources.eventing.knative.dev/v1alpha1", "KafkaSource"): KAFKA_SOURCE_V1BETA1,
    ("sources.eventing.knative.dev/v1alpha1", "CronJobSource"): "sources.knative.dev/v1 PingSource",
    **{(f"sources.knative.dev/{v}", k): "sources.knative.dev/v1"
       for v in ("v1alpha1", "v1alpha2", "v1beta1") for k in _SOURCES},
}

# v1alpha1 Service modes, by their lower-case name (Go's JSON decoding matched field names without case).
SERVICE_MODES = {
    "runlatest": "its configuration.revisionTemplate becomes spec.template (all traffic to the latest revision)",
    "release": "its configuration.revisionTemplate becomes spec.template, its revisions spec.traffic "
               "(tags current, candidate and latest)",
    "pinned": "its configuration.revisionTemplate becomes spec.template, its revisionName spec.traffic at 100%",
    "manual": "manual mode has no v1 form: write spec.template and spec.traffic",
}


def key_like(mapping: dict, name: str) -> str | None:
    """The key of `mapping` that is `name` without regard to case."""
    return next((k for k in mapping if isinstance(k, str) and k.lower() == name.lower()), None)


def not_an_object(doc: object) -> Finding | None:
    if not isinstance(doc, dict):
        return finding("KP018", (), f"a {type(doc).__name__}, not an object: every document is a Kubernetes "
                                    "object with apiVersion and kind")
    missing = [k for k in ("apiVersion", "kind") if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        return finding("KP018", (missing[0],), f"no {' and no '.join(missing)}: the API server cannot tell "
                                               "what this object is")
    return None


def removed_api_version(doc: dict, options: Options) -> Iterator[Finding]:
    api, kind = doc["apiVersion"], doc["kind"]
    replacement = REMOVED.get((api, kind)) or REMOVED.get((api, None))
    if replacement:
        yield finding("KP011", ("apiVersion",), f"{api} {kind} is no longer served by Knative: use {replacement}")


def v1alpha1_forms(doc: dict, options: Options) -> Iterator[Finding]:
    if not doc["apiVersion"].startswith("serving.knative.dev/"):
        return
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return
    if doc["kind"] == "Service":
        for mode, becomes in SERVICE_MODES.items():
            key = key_like(spec, mode)
            if key:
                yield finding("KP012", ("spec", key), f"spec.{key} is a v1alpha1 form: {becomes}")
    if doc["kind"] == "Configuration":
        key = key_like(spec, "revisionTemplate")
        if key:
            yield finding("KP012", ("spec", key), f"spec.{key} is a v1alpha1 form: it becomes spec.template")
    template = spec.get("template") if doc["kind"] in ("Service", "Configuration") else doc
    template_spec = template.get("spec") if isinstance(template, dict) else None
    base = ("spec", "template", "spec") if doc["kind"] in ("Service", "Configuration") else ("spec",)
    if isinstance(template_spec, dict):
        key = key_like(template_spec, "container")
        if key:
            yield finding("KP012", (*base, key), "`container` is a v1alpha1 form: write `containers:` with the "
                                                 "container as its only item")
    if doc["kind"] in ("Service", "Route") and isinstance(spec.get("traffic"), list):
        for i, target in enumerate(spec["traffic"]):
            if isinstance(target, dict) and "name" in target:
                yield finding("KP012", ("spec", "traffic", i, "name"),
                              "a traffic target's `name` is a v1alpha1 form: it is `tag` in v1")


def kafka_source_v1alpha1(doc: dict, options: Options) -> Iterator[Finding]:
    if doc["apiVersion"] == KAFKA_SOURCE_V1ALPHA1 and doc["kind"] == "KafkaSource":
        yield finding("KP013", ("apiVersion",),
                      f"{KAFKA_SOURCE_V1ALPHA1} KafkaSource (as seeds 000 and 001 write it) is served by ACK and the "
                      f"reference but no longer by upstream Knative: use {KAFKA_SOURCE_V1BETA1} with "
                      "bootstrapServers and topics as lists")


def metadata_paths(doc: dict) -> Iterator[tuple[tuple[str, ...], dict]]:
    """(path, metadata) of the object and of its template, where the autoscaling annotations go."""
    if isinstance(doc.get("metadata"), dict):
        yield ("metadata",), doc["metadata"]
    spec = doc.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        yield ("spec", "template", "metadata"), template["metadata"]


# Every autoscaling annotation that has a camelCase alias: (kebab-case, camelCase).
ALIASES = tuple((keys[0], alias) for keys in autoscaling.ALL_KEYS for alias in keys[1:])


def same_value(a: object, b: object) -> bool:
    """Whether twins say the same, as text: "1" and "1.0" differ (min-scale refuses the second)."""
    return str(a).strip() == str(b).strip()


def annotation_forms(doc: dict, options: Options) -> Iterator[Finding]:
    for path, metadata in metadata_paths(doc):
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            continue
        for kebab, camel in ALIASES:
            if camel not in annotations:
                continue
            at = (*path, "annotations", camel)
            if kebab in annotations:
                agree = same_value(annotations[camel], annotations[kebab])
                how = "with the same value: drop the camelCase one" if agree else (
                    f"and they disagree ({annotations[camel]!r} vs {annotations[kebab]!r}): keep the one you mean")
                yield finding("KP014", at, f"{camel} and {kebab} are one setting given twice, {how} "
                                           "(Knative refuses both: expected exactly one, got both)")
            else:
                yield finding("KP015", at, f"{camel} is the deprecated spelling of {kebab}")


def values_not_strings(doc: dict, options: Options) -> Iterator[Finding]:
    for path, metadata in metadata_paths(doc):
        for section in ("annotations", "labels"):
            values = metadata.get(section)
            if not isinstance(values, dict):
                continue
            for key, value in values.items():
                if value is not None and not isinstance(value, str):
                    shown = str(value).lower() if isinstance(value, bool) else str(value)
                    yield finding("KP016", (*path, section, key),
                                  f"{section[:-1]} values are strings and {shown} is a YAML "
                                  f"{type(value).__name__}: the API server refuses it; quote it (\"{shown}\")")


def ack_forms(doc: dict, options: Options) -> Iterator[Finding]:
    """What the reference's API server answers with an ACK warning (reference/apiserver/admission/ack.py)."""
    if not isinstance(doc.get("metadata", {}), dict):
        return
    for path, message in ack.findings(doc["apiVersion"], doc["kind"], doc):
        yield finding("KP021", path, message)


# API groups of components a cluster installs beside Knative: (what to install, whether the reference serves it)
COMPONENTS = {
    "data.fluid.io": ("Fluid (ack-fluid on ACK; fluid-cloudnative/fluid elsewhere), whose controller also creates "
                      "the PersistentVolumeClaim of the same name that Services mount", False),
    "eci.alibabacloud.com": ("ACK's ECI (elastic container instances); Knative's caching.internal.knative.dev "
                             "Image is the upstream way to warm an image", False),
}


def components(doc: dict, options: Options) -> Iterator[Finding]:
    group = doc["apiVersion"].rpartition("/")[0]
    if group in COMPONENTS:
        needs, served = COMPONENTS[group]
        where = "the reference serves it" if served else "the reference does not serve it"
        yield finding("KP022", ("apiVersion",), f"{doc['apiVersion']} {doc['kind']} needs {needs} on a cluster; "
                                                f"{where}")


FORM_CHECKS = (removed_api_version, v1alpha1_forms, kafka_source_v1alpha1, annotation_forms, values_not_strings,
               ack_forms, components)


def check(doc: dict, options: Options) -> Iterator[Finding]:
    for form in FORM_CHECKS:
        yield from form(doc, options)
