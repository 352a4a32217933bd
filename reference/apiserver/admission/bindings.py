"""SinkBinding's mutating webhook (knative.dev/pkg webhook/psbinding): a PodSpecable object that a SinkBinding
of its namespace names (by name, or by a selector over its labels) gets K_SINK and K_CE_OVERRIDES in every
container and init container as it is created or changed. A namespace labelled
`bindings.knative.dev/exclude: "true"` is left alone (the default exclusion mode)."""

from __future__ import annotations

import copy
import json

from reference.apis import selectors
from reference.apiserver.admission.context import Context, Defaulter

SINK_BINDINGS = "sources.knative.dev/sinkbindings"
EXCLUDE_LABEL = "bindings.knative.dev/exclude"
INJECTED = ("K_SINK", "K_CE_OVERRIDES", "K_CA_CERTS")
# Where each PodSpecable kind keeps its pod spec.
POD_SPEC_PATHS = {"CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
DEFAULT_PATH = ("spec", "template", "spec")


def pod_spec(obj: dict) -> dict | None:
    """The pod spec of a PodSpecable object (None when it has none yet)."""
    node: object = obj
    for part in POD_SPEC_PATHS.get(obj.get("kind", ""), DEFAULT_PATH):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node if isinstance(node, dict) else None


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def subject_matches(binding: dict, obj: dict) -> bool:
    """Whether the binding's subject names `obj` (same group, kind and namespace; the name or the selector)."""
    subject = (binding.get("spec") or {}).get("subject") or {}
    meta = obj["metadata"]
    if (_group(subject.get("apiVersion", "")) != _group(obj.get("apiVersion", ""))
            or subject.get("kind") != obj.get("kind")
            or (subject.get("namespace") or binding["metadata"].get("namespace")) != meta.get("namespace")):
        return False
    if subject.get("name"):
        return bool(subject["name"] == meta.get("name"))
    return selectors.matches(subject.get("selector"), meta.get("labels"))


def overrides_json(binding: dict) -> str:
    """K_CE_OVERRIDES as SinkBinding.Do writes it: the ceOverrides' JSON, or "" without them."""
    overrides = (binding.get("spec") or {}).get("ceOverrides")
    if overrides is None:
        return ""
    return json.dumps(overrides, separators=(",", ":"), sort_keys=True)


def undo(spec: dict) -> None:
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if isinstance(container, dict) and container.get("env"):
            container["env"] = [e for e in container["env"] if e.get("name") not in INJECTED]


def do(spec: dict, binding: dict) -> None:
    """SinkBinding.Do: Undo, then K_SINK and K_CE_OVERRIDES appended to every container's env (nothing but the
    Undo when the sink has not resolved)."""
    undo(spec)
    sink = (binding.get("status") or {}).get("sinkUri")
    if not sink:
        return
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if isinstance(container, dict):
            container["env"] = [*(container.get("env") or []), {"name": "K_SINK", "value": sink},
                                {"name": "K_CE_OVERRIDES", "value": overrides_json(binding)}]


def bound(obj: dict, bindings: list[dict], namespaces: list[dict]) -> dict | None:
    """`obj` as the webhook lets it in: changed by the SinkBindings that name it, None when none does."""
    namespace = obj["metadata"].get("namespace")
    for ns in namespaces:
        if ns["metadata"]["name"] == namespace and (ns["metadata"].get("labels") or {}).get(EXCLUDE_LABEL) == "true":
            return None
    matching = [b for b in bindings if not b["metadata"].get("deletionTimestamp") and subject_matches(b, obj)]
    if not matching:
        return None
    out = copy.deepcopy(obj)
    spec = pod_spec(out)
    if spec is None:
        return None
    for binding in sorted(matching, key=lambda b: b["metadata"]["name"]):
        do(spec, binding)
    return out


def with_sink_bindings(defaulter: Defaulter | None) -> Defaulter:
    """`defaulter`, then the SinkBindings' mutation (a mutating webhook runs after the kind's defaults)."""
    def default(obj: dict, old: dict | None, ctx: Context) -> None:
        if defaulter is not None:
            defaulter(obj, old, ctx)
        changed = bound(obj, ctx.objects(SINK_BINDINGS), ctx.objects("/namespaces"))
        spec, new_spec = pod_spec(obj), pod_spec(changed) if changed is not None else None
        if spec is not None and new_spec is not None:  # in place: the caller holds the object's parts
            spec.clear()
            spec.update(new_spec)
    return default
