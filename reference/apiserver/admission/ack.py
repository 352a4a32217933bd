"""Forms that Alibaba Cloud's Knative (ACK, where seeds 000, 001 and 004 ran) accepts and upstream Knative does
not: the reference accepts them too, and answers each with a Kubernetes admission warning (the `Warning: 299`
header kubectl prints) saying so. `upstream-strict: "true"` in the reference's own config map (`config-kproof`
in knative-serving; `kproof up --upstream-strict` sets it) refuses the xpa class as upstream Knative's webhook
does (422).

The same warnings report two networking annotations of seed 000 that the reference reads but has no use
for, a KafkaSource's SASL or TLS settings (spec.net), which its consumers do not use, so that none is
dropped silently, and a Trigger's `cel` filters (kproof's dialect, which upstream Knative's broker skips).
"""

from __future__ import annotations

from collections.abc import Iterator

from reference.apis import autoscaling as keys
from reference.apis.labels import RESERVE
from reference.apiserver.admission.context import SERVING_NAMESPACE, Context

CONFIG_MAP = "config-kproof"
STRICT_KEY = "upstream-strict"
ACK_DOMAINS = ("k8s.aliyun.com/", "knative.aliyun.com/")
INGRESS_CLASS = "networking.knative.dev/ingress.class"
FLOW_CONTROLLER = "networking.knative.dev/flow-controller.class"
UPSTREAM = "upstream Knative"
ACK_GROUPS = ("scheduling.alibabacloud.com/", "eci.alibabacloud.com/")

# ACK's annotations the reference acts on, and what it does with them
ACTED_ON = {
    "k8s.aliyun.com/domain": "the reference delivers the KafkaSource's events to this host through its ingress",
    "k8s.aliyun.com/retry-count": "the reference maps it onto the KafkaSource's delivery (retry)",
    "k8s.aliyun.com/retry-interval": "the reference maps it onto the KafkaSource's delivery (backoffDelay)",
    "k8s.aliyun.com/req-timeout": "the reference maps it onto the KafkaSource's delivery (timeout)",
    "k8s.aliyun.com/eci-use-specs": "the reference has no ECI: its Pods run on its own nodes",
    RESERVE: "the reference keeps a reserved replica where the revision would go to zero",
}


def upstream_strict(ctx: Context) -> bool:
    """Whether the reference refuses ACK's forms as upstream Knative does."""
    return ctx.read_config(SERVING_NAMESPACE, CONFIG_MAP).get(STRICT_KEY, "false").strip().lower() == "true"


def xpa_refusal(klass: str) -> str:
    return (f"{klass} is ACK's autoscaler class: {UPSTREAM} accepts only kpa and hpa in the "
            f"{keys.GROUP} domain ({CONFIG_MAP} has {STRICT_KEY}: true)")


def _metadata(obj: dict) -> Iterator[tuple[tuple[str, ...], dict[str, str]]]:
    """(path, annotations) of the object and of its pod or revision template."""
    meta = obj.get("metadata") or {}
    yield ("metadata", "annotations"), meta.get("annotations") or {}
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        yield ("spec", "template", "metadata", "annotations"), template["metadata"].get("annotations") or {}


def _annotation_findings(annotations: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(annotation key, what to say about it)."""
    found = keys.lookup(annotations, keys.CLASS)
    if found and found[1] == keys.XPA:
        yield found[0], (f"{keys.XPA} is ACK's autoscaler class and {UPSTREAM} refuses it (only kpa and hpa are "
                         f"accepted in the {keys.GROUP} domain); the reference runs it as the KPA plus "
                         f"{keys.POD_BUFFER_SIZE[0]} spare replicas kept {keys.GC_TIME[0]} seconds")
    for key, value in annotations.items():
        if key.startswith(ACK_DOMAINS):
            what = ACTED_ON.get(key, "the reference ignores it")
            yield key, f"{value!r} is an ACK annotation that {UPSTREAM} ignores; {what}"
    if INGRESS_CLASS in annotations:
        yield INGRESS_CLASS, (f"{annotations[INGRESS_CLASS]!r} read: the reference has one ingress, which serves "
                              "every Service whatever its class (a cluster hands it to that class's ingress)")
    if FLOW_CONTROLLER in annotations:
        yield FLOW_CONTROLLER, (f"{annotations[FLOW_CONTROLLER]!r} read: this is ACK's flow controller, which "
                                f"{UPSTREAM} and the reference do not have; containerConcurrency is the per-replica "
                                "limit the reference enforces")


def version_warnings(api_version: str, kind: str) -> list[str]:
    """The warning for a version that only ACK still serves (the reference converts it to the stored one)."""
    if kind == "KafkaSource" and api_version == "sources.knative.dev/v1alpha1":
        return [f"sources.knative.dev/v1alpha1 KafkaSource is served by ACK and the reference but no longer by "
                f"{UPSTREAM}: use sources.knative.dev/v1beta1 (bootstrapServers and topics as lists)"]
    return []


def findings(api_version: str, kind: str, obj: dict) -> list[tuple[tuple[str, ...], str]]:
    """(field path, message) for an object of ACK's kinds or with ACK's annotations; `kproof lint` reports
    the same."""
    out: list[tuple[tuple[str, ...], str]] = []
    if api_version.startswith(ACK_GROUPS):
        out.append((("apiVersion",), f"{api_version} {kind} is ACK's; {UPSTREAM} clusters do not serve it"))
    for path, written in _metadata(obj):
        out.extend(((*path, key), message) for key, message in _annotation_findings(written))
    return out


def _cel_filters(filters: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The paths of `cel` expressions among Trigger filters (all, any and not nest them)."""
    if isinstance(filters, list):
        for index, item in enumerate(filters):
            yield from _cel_filters(item, (*path[:-1], f"{path[-1]}[{index}]"))
    elif isinstance(filters, dict):
        if "cel" in filters:
            yield (*path, "cel")
        for key in ("all", "any"):
            yield from _cel_filters(filters.get(key), (*path, key))
        if isinstance(filters.get("not"), dict):
            yield from _cel_filters(filters["not"], (*path, "not"))


def limits(kind: str, obj: dict) -> list[tuple[tuple[str, ...], str]]:
    """(field path, message) for upstream settings the reference accepts but does not act on, and for kproof's
    own extensions, which upstream Knative does not act on."""
    out: list[tuple[tuple[str, ...], str]] = []
    if kind == "Trigger":
        for path in _cel_filters((obj.get("spec") or {}).get("filters"), ("spec", "filters")):
            out.append((path, f"{'.'.join(path)}: cel is kproof's filter dialect; {UPSTREAM}'s broker skips a filter "
                              "it cannot parse (\"Failed to parse filter\"), so there it filters nothing"))
    if kind == "KafkaSource":
        net = (obj.get("spec") or {}).get("net") or {}
        for part in ("sasl", "tls"):
            if isinstance(net, dict) and isinstance(net.get(part), dict) and net[part].get("enable"):
                out.append((("spec", "net", part, "enable"), (
                    f"spec.net.{part}.enable: the reference's KafkaSource consumers connect without SASL or TLS "
                    "(its embedded Kafka, Tansu 0.6.0, can do neither: docs/platform/kafka.md says why); a cluster's "
                    "Knative Kafka uses them")))
    return out


KINGRESS_GROUP = "networking.internal.knative.dev/"


def warnings(api_version: str, kind: str, obj: dict) -> list[str]:
    """The admission warnings (ACK's forms and the reference's limits): an annotation's as `path[key]: message`."""
    out = []
    for path, message in [*findings(api_version, kind, obj), *limits(kind, obj)]:
        if api_version.startswith(KINGRESS_GROUP) and path[-1:] == (INGRESS_CLASS,):
            continue  # a KIngress's class is what picks the networking layer that serves it
        if path[-2:-1] == ("annotations",):
            out.append(f"{'.'.join(path[:-1])}[{path[-1]}]: {message}")
        else:
            out.append(message)
    return out
