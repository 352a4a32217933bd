"""Defaulting and validation of serving.knative.dev and autoscaling.internal.knative.dev objects, as
Knative Serving's webhook does them."""

from __future__ import annotations

import difflib
import json

from reference.apiserver.admission import ack, autoscaling
from reference.apiserver.admission.context import Context
from reference.apiserver.admission.fielderror import (
    FieldError,
    combine,
    disallowed_fields,
    generic,
    invalid_value,
    missing_field,
    missing_one_of,
    multiple_one_of,
    out_of_bounds,
    within,
)
from reference.apiserver.admission.names import (
    dns1035_value_error,
    qualified_name_problems,
    set_user_info,
    validate_creator,
    validate_object_metadata,
)
from reference.apiserver.admission.numbers import parse_duration
from reference.apiserver.admission.podspec import default_revision_spec, validate_revision_spec
from reference.autoscaler.spec import PROGRESS_DEADLINE

GROUP = "serving.knative.dev"
ROLLOUT_DURATION = ("serving.knative.dev/rollout-duration", "serving.knative.dev/rolloutDuration")


def _annotations(obj: dict) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


# Defaults -----------------------------------------------------------------------------------------

def _default_template(template: dict, old_template: dict | None, ctx: Context) -> None:
    name = (template.get("metadata") or {}).get("name")
    if old_template is not None and name and name == (old_template.get("metadata") or {}).get("name"):
        return  # bring-your-own revision name, unchanged: the template must not change either
    default_revision_spec(template.setdefault("spec", {}), ctx, creating=True)


def _default_traffic(traffic: list[dict]) -> None:
    for target in traffic:
        if "latestRevision" not in target:
            target["latestRevision"] = not target.get("revisionName")
        target.setdefault("percent", 0)


def default_service(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    _default_template(spec.setdefault("template", {}), (old or {}).get("spec", {}).get("template")
                      if old else None, ctx)
    if not spec.get("traffic"):
        spec["traffic"] = [{"latestRevision": True, "percent": 100}]
    _default_traffic(spec["traffic"])
    set_user_info(obj, old, ctx.user, GROUP)


def default_configuration(obj: dict, old: dict | None, ctx: Context) -> None:
    spec = obj.setdefault("spec", {})
    _default_template(spec.setdefault("template", {}), (old or {}).get("spec", {}).get("template")
                      if old else None, ctx)
    if not obj["metadata"].get("ownerReferences"):
        set_user_info(obj, old, ctx.user, GROUP)


def default_revision(obj: dict, old: dict | None, ctx: Context) -> None:
    if old is None:
        default_revision_spec(obj.setdefault("spec", {}), ctx, creating=True)


def default_route(obj: dict, old: dict | None, ctx: Context) -> None:
    _default_traffic(obj.setdefault("spec", {}).setdefault("traffic", []))
    if not obj["metadata"].get("ownerReferences"):
        set_user_info(obj, old, ctx.user, GROUP)


def default_pod_autoscaler(obj: dict, old: dict | None, ctx: Context) -> None:
    annotations = obj["metadata"].setdefault("annotations", {})
    config = ctx.serving_config("config-autoscaler")
    klass = annotations.setdefault(autoscaling.CLASS[0], config.get("pod-autoscaler-class", autoscaling.KPA))
    if autoscaling.METRIC[0] not in annotations:
        metric = {autoscaling.KPA: "concurrency", autoscaling.HPA: "cpu"}.get(klass)
        if metric:
            annotations[autoscaling.METRIC[0]] = metric


# Validation ---------------------------------------------------------------------------------------

def _validate_duration_annotation(annotations: dict[str, str], keys: tuple[str, ...], label: str
                                  ) -> FieldError | None:
    found = autoscaling.lookup(annotations, keys)
    if not found:
        return None
    key, text = found
    try:
        seconds = parse_duration(text)
    except ValueError:
        return invalid_value(text, key)
    if seconds != int(seconds):
        return generic(f"{label}={text} is not at second precision", key)
    if seconds < 0:
        return generic(f"{label}={text} must be positive", key)
    return None


def _validate_parent_metadata(obj: dict) -> FieldError | None:
    """Service, Configuration and Route: names, no autoscaling annotations, rollout duration."""
    meta = obj["metadata"]
    annotations = meta.get("annotations") or {}
    errs = [validate_object_metadata(meta)]
    for key in autoscaling.has_autoscaling_annotation(annotations):
        errs.append(FieldError(f'invalid key name "{key}"', ["annotations"],
                               'autoscaling annotations must be put under '
                               '"spec.template.metadata.annotations" to work'))
    problem = _validate_duration_annotation(annotations, ROLLOUT_DURATION, "rollout-duration")
    if problem:
        errs.append(problem.via("annotations"))
    found = combine(*errs)
    return found.via("metadata") if found else None


def _validate_owner_label(obj: dict, label: str, owner_kind: str) -> FieldError | None:
    meta = obj["metadata"]
    value = (meta.get("labels") or {}).get(label)
    if value is None:
        return None
    if any(ref.get("kind") == owner_kind and ref.get("name") == value
           for ref in meta.get("ownerReferences") or []):
        return None
    return missing_field(f"metadata.labels.{label}")


def validate_template(template: dict, parent: dict, ctx: Context) -> FieldError | None:
    """A RevisionTemplateSpec; paths relative to the template."""
    meta = template.get("metadata") or {}
    errs: list[FieldError | None] = []
    problem = validate_revision_spec(template.get("spec") or {}, ctx)
    if problem:
        errs.append(problem.via("spec"))
    annotations = meta.get("annotations") or {}
    problem = autoscaling.validate_annotations(annotations, ctx.serving_config("config-autoscaler"),
                                               not ack.upstream_strict(ctx))
    problem = combine(problem, _validate_duration_annotation(annotations, PROGRESS_DEADLINE,
                                                             "progress-deadline"))
    if problem:
        errs.append(problem.via("metadata.annotations"))
    errs.append(_validate_revision_name(meta, parent["metadata"]))
    return combine(*errs)


def _validate_revision_name(meta: dict, parent_meta: dict) -> FieldError | None:
    name = meta.get("name") or ""
    generate = meta.get("generateName") or ""
    if generate:
        problem = dns1035_value_error(generate, "metadata.generateName", prefix=True)
        if problem:
            return problem
    if not name:
        return None
    problem = dns1035_value_error(name, "metadata.name")
    if problem:
        return problem
    parent = parent_meta.get("name") or ""
    if not parent:
        return disallowed_fields("metadata.name")
    if not name.startswith(f"{parent}-"):
        return invalid_value(f'"{name}" must have prefix "{parent}-"', "metadata.name")
    return None


def _validate_template_name_change(new: dict, old: dict | None) -> FieldError | None:
    """A template with the same explicit name must not change (the name is the revision's)."""
    if old is None:
        return None
    new_t = new.get("spec", {}).get("template") or {}
    old_t = old.get("spec", {}).get("template") or {}
    name = (new_t.get("metadata") or {}).get("name")
    if not name or name != (old_t.get("metadata") or {}).get("name") or new_t == old_t:
        return None
    before = json.dumps(old_t, indent=1, sort_keys=True).splitlines()
    after = json.dumps(new_t, indent=1, sort_keys=True).splitlines()
    diff = "\n".join(line for line in difflib.unified_diff(before, after, lineterm="", n=0)
                     if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return FieldError("Saw the following changes without a name change (-old +new)",
                      ["spec.template.metadata.name"], diff)


def validate_traffic(traffic: list[dict], in_service: bool) -> FieldError | None:
    """Traffic targets; paths relative to the spec."""
    errs: list[FieldError | None] = []
    total = 0
    tags: dict[str, list[int]] = {}
    for i, target in enumerate(traffic):
        here: list[FieldError | None] = []
        revision = target.get("revisionName") or ""
        configuration = target.get("configurationName") or ""
        if "latestRevision" in target and bool(revision) == bool(target["latestRevision"]):
            latest = "true" if target["latestRevision"] else "false"
            here.append(generic(f'may not set revisionName "{revision}" when latestRevision is {latest}',
                                "latestRevision"))
        if in_service and configuration:
            here.append(disallowed_fields("configurationName"))
        elif revision and configuration:
            here.append(multiple_one_of("configurationName", "revisionName"))
        elif revision and (problems := qualified_name_problems(revision)):
            here.append(FieldError(f'invalid key name "{revision}"', ["revisionName"], ", ".join(problems)))
        elif configuration and (problems := qualified_name_problems(configuration)):
            here.append(FieldError(f'invalid key name "{configuration}"', ["configurationName"],
                                   ", ".join(problems)))
        elif not in_service and not revision and not configuration:
            here.append(missing_one_of("configurationName", "revisionName"))
        percent = target.get("percent", 0)
        if not 0 <= percent <= 100:
            here.append(out_of_bounds(percent, 0, 100, "percent"))
        total += percent
        if "url" in target:
            here.append(disallowed_fields("url"))
        tag = target.get("tag")
        if tag:
            here.append(dns1035_value_error(tag, "tag"))
            tags.setdefault(tag, []).append(i)
        errs.extend(e.via_field_index("traffic", i) for e in here if e)
    for tag, indexes in tags.items():
        if len(indexes) > 1:
            errs.append(generic(f'Multiple definitions for "{tag}"',
                                *(f"traffic[{i}].tag" for i in indexes)))
    if total != 100:
        errs.append(generic(f"Traffic targets sum to {total}, want 100", "traffic"))
    return combine(*errs)


def validate_service(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    template = spec.get("template")
    errs: list[FieldError | None] = [_validate_parent_metadata(obj)]
    if template is None:
        errs.append(missing_field("spec.template"))
    else:
        errs.append(within(validate_template(template, obj, ctx), "spec.template"))
    errs.append(within(validate_traffic(spec.get("traffic") or [], in_service=True), "spec"))
    errs.append(validate_creator(obj, old, GROUP))
    errs.append(_validate_template_name_change(obj, old))
    return combine(*errs)


def validate_configuration(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    spec = obj.get("spec") or {}
    errs: list[FieldError | None] = [_validate_parent_metadata(obj),
                                     _validate_owner_label(obj, "serving.knative.dev/service", "Service")]
    template = spec.get("template")
    if template is None:
        errs.append(missing_field("spec.template"))
    else:
        errs.append(within(validate_template(template, obj, ctx), "spec.template"))
    if not obj["metadata"].get("ownerReferences"):
        errs.append(validate_creator(obj, old, GROUP))
    errs.append(_validate_template_name_change(obj, old))
    return combine(*errs)


def _validate_scaled_metadata(obj: dict, ctx: Context) -> FieldError | None:
    """Revision and PodAutoscaler metadata: names, and autoscaling annotations on the object itself."""
    meta = obj["metadata"]
    config = ctx.serving_config("config-autoscaler")
    annotations = autoscaling.validate_annotations(meta.get("annotations") or {}, config, not ack.upstream_strict(ctx))
    return combine(within(validate_object_metadata(meta), "metadata"), within(annotations, "metadata.annotations"))


def validate_revision(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    errs: list[FieldError | None] = [_validate_scaled_metadata(obj, ctx)]
    errs.append(_validate_owner_label(obj, "serving.knative.dev/configuration", "Configuration"))
    if old is not None:
        if obj.get("spec") != old.get("spec"):
            errs.append(FieldError("Immutable fields changed (-old +new)", ["spec"]))
    else:
        errs.append(within(validate_revision_spec(obj.get("spec") or {}, ctx), "spec"))
    return combine(*errs)


def validate_route(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    errs: list[FieldError | None] = [_validate_parent_metadata(obj),
                                     _validate_owner_label(obj, "serving.knative.dev/service", "Service")]
    errs.append(within(validate_traffic((obj.get("spec") or {}).get("traffic") or [], in_service=False), "spec"))
    if not obj["metadata"].get("ownerReferences"):
        errs.append(validate_creator(obj, old, GROUP))
    return combine(*errs)


def validate_pod_autoscaler(obj: dict, old: dict | None, ctx: Context) -> FieldError | None:
    errs: list[FieldError | None] = [_validate_scaled_metadata(obj, ctx)]
    spec = obj.get("spec")
    if not spec:
        errs.append(missing_field("spec"))
        return combine(*errs)
    ref = spec.get("scaleTargetRef") or {}
    missing = [k for k in ("apiVersion", "kind", "name") if not ref.get(k)]
    if missing:
        errs.append(missing_field(*missing).via("spec.scaleTargetRef"))
    cc = spec.get("containerConcurrency")
    if cc is not None and not 0 <= cc <= 1000:
        errs.append(out_of_bounds(cc, 0, 1000, "spec.containerConcurrency"))
    protocol = spec.get("protocolType")
    if protocol and protocol not in ("http1", "h2c"):
        errs.append(invalid_value(protocol, "spec.protocolType"))
    return combine(*errs)
